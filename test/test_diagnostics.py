# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every level of the detector's ``/diagnostics`` status, at its boundaries, and its keys."""

from dataclasses import replace

import pytest

pytest.importorskip('rclpy')
from builtin_interfaces.msg import Time  # noqa: E402, I100
from pixel_anomaly_ros.ros.diagnostics import (  # noqa: E402
    assess, diagnostic_array, ERROR, OK, Thresholds, WARN)
from pixel_anomaly_ros.ros.frame_statistics import Snapshot  # noqa: E402

#: Budget 50 ms, at least 5 Hz out, ERROR after 2 s without input.
LIMITS = Thresholds(latency_budget_ms=50.0, min_rate_hz=5.0, input_timeout_s=2.0)


def _snapshot(**changes) -> Snapshot:
    """Return a healthy snapshot: 10 Hz in and out, 20 ms p95, nothing rejected or failed."""
    healthy = Snapshot(received=100, processed=100, dropped=0, rejected=0, failed=0,
                       rejected_by_reason={}, input_rate_hz=10.0, output_rate_hz=10.0,
                       seconds_since_input=0.1, last_error='',
                       timings_ms={'energy': (8.0, 12.0, 15.0),
                                   'processing': (15.0, 20.0, 30.0),
                                   'latency': (25.0, 30.0, 40.0)})
    return replace(healthy, **changes)


def _assess(now, before=None, thresholds=LIMITS, active=True, seconds_active=60.0):
    return assess(now, before if before is not None else _snapshot(), thresholds, active,
                  seconds_active)


def test_ok_when_running_within_every_limit():
    assert _assess(_snapshot()) == (OK, 'running')


def test_inactive_is_ok_whatever_the_figures():
    broken = _snapshot(seconds_since_input=100.0, failed=5, output_rate_hz=0.0)
    assert assess(broken, _snapshot(), LIMITS, active=False, seconds_active=0.0) == (
        OK, 'inactive')


@pytest.mark.parametrize('p95, level', [(49.9, OK), (50.0, OK), (50.1, WARN)])
def test_warn_over_the_latency_budget(p95, level):
    now = _snapshot(timings_ms={'processing': (10.0, p95, p95 + 5)})
    got, message = _assess(now)
    assert got == level
    if level == WARN:
        assert message == 'processing p95 50 ms over the 50 ms budget'


def test_latency_budget_judges_processing_p95_only():
    # A slow stage or end-to-end latency alone is not over the processing budget.
    now = _snapshot(timings_ms={'energy': (90.0, 95.0, 99.0), 'latency': (90.0, 95.0, 99.0),
                                'processing': (10.0, 20.0, 400.0)})
    assert _assess(now)[0] == OK
    # No processed frame yet: nothing to judge.
    assert _assess(_snapshot(timings_ms={}))[0] == OK
    # 0 disables the check.
    slow = _snapshot(timings_ms={'processing': (500.0, 900.0, 999.0)})
    assert _assess(slow, thresholds=replace(LIMITS, latency_budget_ms=0.0))[0] == OK


@pytest.mark.parametrize('rate, level', [(5.1, OK), (5.0, OK), (4.9, WARN), (0.0, WARN)])
def test_warn_under_the_minimum_output_rate(rate, level):
    got, message = _assess(_snapshot(output_rate_hz=rate))
    assert got == level
    if level == WARN:
        assert message == f'output rate {rate:.1f} Hz below 5.0 Hz'


def test_minimum_rate_needs_input_and_can_be_disabled():
    # Nothing arrives (input rate 0): the input timeout, not the rate, speaks.
    assert _assess(_snapshot(input_rate_hz=0.0, output_rate_hz=0.0))[0] == OK
    assert _assess(_snapshot(output_rate_hz=1.0),
                   thresholds=replace(LIMITS, min_rate_hz=0.0))[0] == OK


def test_warn_on_new_rejections_only():
    before = _snapshot(rejected=3, rejected_by_reason={'encoding': 3})
    now = _snapshot(rejected=5, rejected_by_reason={'encoding': 4, 'size': 1},
                    last_error='rejected (size): empty image')
    assert _assess(now, before) == (WARN, '2 frame(s) rejected: rejected (size): empty image')
    # The next report without new rejections is OK again.
    assert _assess(now, now) == (OK, 'running')


def test_warnings_are_listed_together():
    now = _snapshot(timings_ms={'processing': (60.0, 80.0, 90.0)}, output_rate_hz=2.0,
                    rejected=1, last_error='rejected (stamp): zero stamp')
    level, message = _assess(now)
    assert level == WARN
    assert message.split('; ') == ['processing p95 80 ms over the 50 ms budget',
                                   'output rate 2.0 Hz below 5.0 Hz',
                                   '1 frame(s) rejected: rejected (stamp): zero stamp']


@pytest.mark.parametrize('waited, level', [(1.9, OK), (2.0, OK), (2.1, ERROR)])
def test_error_on_input_timeout(waited, level):
    got, message = _assess(_snapshot(seconds_since_input=waited, input_rate_hz=0.0))
    assert got == level
    if level == ERROR:
        assert message == 'no input image for 2.1 s'


def test_input_timeout_before_the_first_frame_counts_from_activation():
    never = _snapshot(received=0, processed=0, seconds_since_input=None, input_rate_hz=0.0,
                      output_rate_hz=0.0, timings_ms={})
    assert _assess(never, seconds_active=1.5)[0] == OK
    assert _assess(never, seconds_active=2.5) == (ERROR, 'no input image for 2.5 s')


def test_input_timeout_counts_from_activation_after_a_reactivation():
    # The last frame came before the node was deactivated long ago; it was activated again
    # one second ago: one second without input, not 100.
    stale = _snapshot(seconds_since_input=100.0, input_rate_hz=0.0, output_rate_hz=0.0)
    assert _assess(stale, seconds_active=1.0)[0] == OK
    assert _assess(stale, seconds_active=3.0) == (ERROR, 'no input image for 3.0 s')


def test_input_timeout_zero_disables_it():
    silent = _snapshot(seconds_since_input=1e6, input_rate_hz=0.0)
    assert _assess(silent, thresholds=replace(LIMITS, input_timeout_s=0.0))[0] == OK


def test_error_on_a_failed_frame():
    before = _snapshot(failed=1)
    now = _snapshot(failed=3, last_error='failed: RuntimeError: CUDA out of memory')
    assert _assess(now, before) == (
        ERROR, '2 frame(s) failed: failed: RuntimeError: CUDA out of memory')
    assert _assess(now, now) == (OK, 'running')  # no new failure: back to OK


def test_first_report_counts_every_failure_and_rejection_as_new():
    now = _snapshot(failed=1, last_error='failed: ValueError: bad')
    assert assess(now, None, LIMITS, True, 60.0) == (ERROR, '1 frame(s) failed: '
                                                            'failed: ValueError: bad')
    rejected = _snapshot(rejected=2, last_error='rejected (size): empty image')
    assert assess(rejected, None, LIMITS, True, 60.0) == (
        WARN, '2 frame(s) rejected: rejected (size): empty image')
    assert assess(_snapshot(), None, LIMITS, True, 60.0) == (OK, 'running')


def test_error_outranks_warnings_and_timeout_outranks_failures():
    everything = _snapshot(seconds_since_input=9.0, failed=1, rejected=1, output_rate_hz=0.0,
                           timings_ms={'processing': (100.0, 200.0, 300.0)})
    level, message = _assess(everything)
    assert level == ERROR and message.startswith('no input image')
    failing = replace(everything, seconds_since_input=0.5)
    level, message = _assess(failing)
    assert level == ERROR and 'failed' in message and 'rejected' not in message


def test_diagnostic_array_carries_the_documented_keys():
    snap = _snapshot(dropped=4, rejected=3, failed=1,
                     rejected_by_reason={'size': 1, 'encoding': 2}, input_rate_hz=12.345,
                     last_error='failed: boom')
    info = {'lifecycle_state': 'active', 'backend': 'torch', 'device': 'cpu',
            'precision': 'fp32', 'model': 'pebal_wrn38_tiny', 'variant': 'pebal'}
    array = diagnostic_array(snap, WARN, 'a message', '/ns/detector_node', info,
                             Time(sec=5, nanosec=6))
    assert array.header.stamp.sec == 5 and array.header.stamp.nanosec == 6
    [status] = array.status
    assert status.level == WARN and status.message == 'a message'
    assert status.name == 'ns/detector_node: anomaly detector'
    assert status.hardware_id == '/ns/detector_node'
    values = {kv.key: kv.value for kv in status.values}
    assert all(isinstance(v, str) for v in values.values())
    assert {k: values[k] for k in info} == info
    assert {k: values[k] for k in ('frames_received', 'frames_processed', 'frames_dropped',
                                   'frames_rejected', 'frames_failed')} == {
        'frames_received': '100', 'frames_processed': '100', 'frames_dropped': '4',
        'frames_rejected': '3', 'frames_failed': '1'}
    assert values['input_rate_hz'] == '12.35' and values['output_rate_hz'] == '10.00'
    assert values['rejected_encoding'] == '2' and values['rejected_size'] == '1'
    for name, (p50, p95, worst) in snap.timings_ms.items():
        assert values[f'{name}_ms_p50'] == f'{p50:.2f}'
        assert values[f'{name}_ms_p95'] == f'{p95:.2f}'
        assert values[f'{name}_ms_max'] == f'{worst:.2f}'
    assert values['last_error'] == 'failed: boom'
    assert list(values)[-1] == 'last_error'
    assert len(values) == len(info) + 7 + 2 + 3 * len(snap.timings_ms) + 1
