# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The detector's running statistics: counters, rates, percentiles, rejections, window."""

import threading
from types import SimpleNamespace

import numpy as np
from pixel_anomaly_ros.ros import frame_statistics
from pixel_anomaly_ros.ros.frame_statistics import NodeStatistics
import pytest


@pytest.fixture
def clock(monkeypatch):
    """Replace the module's monotonic clock by one the test advances: ``clock.t = ...``."""
    fake = SimpleNamespace(t=1000.0)
    monkeypatch.setattr(frame_statistics, 'time', SimpleNamespace(monotonic=lambda: fake.t))
    return fake


def _process(stats, ms=10.0, stages=None):
    stats.frame_processed(stages or {'preprocess': ms / 2, 'energy': ms / 2}, ms, 2 * ms)


def test_empty_snapshot():
    snap = NodeStatistics().snapshot(dropped=0)
    assert (snap.received, snap.processed, snap.dropped, snap.rejected, snap.failed) == (
        0, 0, 0, 0, 0)
    assert snap.rejected_by_reason == {} and snap.timings_ms == {}
    assert snap.input_rate_hz == 0.0 and snap.output_rate_hz == 0.0
    assert snap.seconds_since_input is None and snap.last_error == ''


def test_counters_and_last_error(clock):
    stats = NodeStatistics()
    for _ in range(5):
        stats.frame_received()
    _process(stats)
    _process(stats)
    stats.frame_rejected('encoding', 'unsupported encoding yuv422')
    stats.frame_failed('RuntimeError: out of memory')
    snap = stats.snapshot(dropped=1)
    assert (snap.received, snap.processed, snap.dropped, snap.rejected, snap.failed) == (
        5, 2, 1, 1, 1)
    assert snap.last_error == 'failed: RuntimeError: out of memory'
    stats.frame_rejected('size', 'empty image')
    assert stats.snapshot(0).last_error == 'rejected (size): empty image'


def test_rejections_are_counted_by_reason():
    stats = NodeStatistics()
    for reason in ('encoding', 'size', 'encoding', 'stamp', 'encoding'):
        stats.frame_rejected(reason, 'why')
    snap = stats.snapshot(0)
    assert snap.rejected == 5
    assert snap.rejected_by_reason == {'encoding': 3, 'size': 1, 'stamp': 1}
    assert snap.processed == 0  # a rejected frame is not processed
    snap.rejected_by_reason['encoding'] = 99  # a copy: the statistics are not changed
    assert stats.snapshot(0).rejected_by_reason['encoding'] == 3


def test_percentiles_of_every_stage_processing_and_latency():
    stats = NodeStatistics()
    for ms in range(1, 101):  # 1 .. 100 ms
        stats.frame_processed({'preprocess': ms / 10, 'energy': float(ms)}, ms + 1.0, ms + 5.0)
    timings = stats.snapshot(0).timings_ms
    assert list(timings) == ['preprocess', 'energy', 'processing', 'latency']
    values = np.arange(1, 101, dtype=np.float64)
    for name, expected in (('energy', values), ('preprocess', values / 10),
                           ('processing', values + 1), ('latency', values + 5)):
        p50, p95, worst = timings[name]
        assert p50 == pytest.approx(np.percentile(expected, 50)), name
        assert p95 == pytest.approx(np.percentile(expected, 95)), name
        assert worst == pytest.approx(expected.max()), name
    assert timings['energy'] == pytest.approx((50.5, 95.05, 100.0))


def test_percentiles_cover_the_last_window_frames_only():
    stats = NodeStatistics(window=10)
    for ms in [1000.0] * 5 + [float(i) for i in range(1, 11)]:
        _process(stats, ms)
    p50, p95, worst = stats.snapshot(0).timings_ms['processing']
    assert worst == 10.0  # the five slow frames left the window
    assert p50 == pytest.approx(5.5) and p95 == pytest.approx(np.percentile(range(1, 11), 95))
    assert stats.snapshot(0).processed == 15  # counters are not windowed


def test_single_frame_percentiles():
    stats = NodeStatistics()
    _process(stats, 7.0)
    assert stats.snapshot(0).timings_ms['processing'] == (7.0, 7.0, 7.0)


def test_rates_over_the_rate_window(clock):
    stats = NodeStatistics(rate_window_s=5.0)
    for i in range(21):  # 20 Hz for one second
        clock.t = 1000.0 + i * 0.05
        stats.frame_received()
        if i % 2 == 0:  # every other frame is answered: 10 Hz
            _process(stats)
    snap = stats.snapshot(0)
    assert snap.input_rate_hz == pytest.approx(20.0)
    assert snap.output_rate_hz == pytest.approx(10.0)
    assert snap.seconds_since_input == pytest.approx(0.0)
    clock.t += 2.0
    assert stats.snapshot(0).seconds_since_input == pytest.approx(2.0)


def test_one_frame_gives_no_rate(clock):
    stats = NodeStatistics()
    stats.frame_received()
    _process(stats)
    snap = stats.snapshot(0)
    assert snap.input_rate_hz == 0.0 and snap.output_rate_hz == 0.0


def test_frames_older_than_the_rate_window_leave_the_rates(clock):
    stats = NodeStatistics(rate_window_s=5.0)
    for i in range(11):  # 10 Hz for one second, then nothing
        clock.t = 1000.0 + i * 0.1
        stats.frame_received()
        _process(stats)
    clock.t = 1001.0 + 3.0
    assert stats.snapshot(0).input_rate_hz == pytest.approx(10.0)  # all still in the window
    clock.t = 1000.55 + 5.0  # the first six frames are older than 5 s
    snap = stats.snapshot(0)
    assert snap.input_rate_hz == pytest.approx(10.0)  # the rate of the five left
    clock.t = 1001.0 + 5.01  # all of them are
    snap = stats.snapshot(0)
    assert snap.input_rate_hz == 0.0 and snap.output_rate_hz == 0.0


def test_seconds_since_input_outlives_the_rate_window(clock):
    """The time since the last frame is known after that frame left the rate window."""
    stats = NodeStatistics(rate_window_s=5.0)
    stats.frame_received()
    clock.t += 7.5
    snap = stats.snapshot(0)
    assert snap.input_rate_hz == 0.0
    assert snap.seconds_since_input == pytest.approx(7.5)


def test_counting_from_several_threads_loses_nothing():
    stats = NodeStatistics(window=50)
    per_thread = 2000

    def receive():
        for _ in range(per_thread):
            stats.frame_received()

    def work():
        for i in range(per_thread):
            stats.frame_processed({'energy': 1.0}, 2.0, 3.0)
            if i % 10 == 0:
                stats.frame_rejected('size', 'too big')

    threads = [threading.Thread(target=t) for t in (receive, receive, work, work)]
    snapshots = []
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        snapshots.append(stats.snapshot(0))
    for thread in threads:
        thread.join()
    snap = stats.snapshot(0)
    assert snap.received == 2 * per_thread and snap.processed == 2 * per_thread
    assert snap.rejected == snap.rejected_by_reason['size'] == 2 * per_thread // 10
    assert snap.timings_ms['energy'] == (1.0, 1.0, 1.0)
    for earlier in snapshots:  # every snapshot is consistent
        assert earlier.rejected == sum(earlier.rejected_by_reason.values())
