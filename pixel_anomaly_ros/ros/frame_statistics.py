# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Running statistics of the detector: windowed stage timings, rates and frame counters.

Thread-safe: the subscription callback counts received frames while the worker records
processed ones and the diagnostics timer reads a snapshot.
"""

from collections import Counter, deque
from dataclasses import dataclass, field
import threading
import time
from typing import Deque, Dict, Optional

import numpy as np


@dataclass
class Snapshot:
    """A consistent copy of the statistics for one diagnostics message."""

    received: int
    processed: int
    dropped: int
    rejected: int
    failed: int
    rejected_by_reason: Dict[str, int]
    input_rate_hz: float
    output_rate_hz: float
    seconds_since_input: Optional[float]
    last_error: str
    #: ``{name: (p50, p95, max)}`` in ms for every stage, ``processing`` and ``latency``.
    timings_ms: Dict[str, tuple] = field(default_factory=dict)


class NodeStatistics:
    """Counts frames and keeps the last ``window`` timings of every stage."""

    def __init__(self, window: int = 100, rate_window_s: float = 5.0):
        """
        Create empty statistics.

        :param window: number of recent frames the percentiles cover.
        :param rate_window_s: seconds over which input and output rates are averaged.
        """
        self._lock = threading.Lock()
        self._window = int(window)
        self._rate_window_s = float(rate_window_s)
        self._timings: Dict[str, Deque[float]] = {}
        self._inputs: Deque[float] = deque()
        self._outputs: Deque[float] = deque()
        self._rejected = Counter()
        self._last_input: Optional[float] = None
        self.received = self.processed = self.failed = 0
        self.last_error = ''

    def set_window(self, window: int) -> None:
        """
        Change how many recent frames the percentiles cover, keeping the newest timings.

        :param window: number of frames.
        """
        with self._lock:
            self._window = int(window)
            self._timings = {name: deque(values, maxlen=self._window)
                             for name, values in self._timings.items()}

    def frame_received(self) -> None:
        """Count an incoming message."""
        with self._lock:
            self.received += 1
            self._last_input = self._stamp(self._inputs)

    def frame_rejected(self, reason: str, message: str) -> None:
        """
        Count a rejected frame.

        :param reason: stable reason key (e.g. ``encoding``).
        :param message: human-readable explanation, kept as the last error.
        """
        with self._lock:
            self._rejected[reason] += 1
            self.last_error = f'rejected ({reason}): {message}'

    def frame_failed(self, message: str) -> None:
        """
        Count a frame whose processing raised an error.

        :param message: the error.
        """
        with self._lock:
            self.failed += 1
            self.last_error = f'failed: {message}'

    def frame_processed(self, stages_ms: Dict[str, float], processing_ms: float,
                        latency_ms: float) -> None:
        """
        Record a published frame.

        :param stages_ms: per-stage milliseconds of the pipeline.
        :param processing_ms: wall time from taking the frame to publishing its outputs.
        :param latency_ms: publish time minus the header stamp (node clock).
        """
        with self._lock:
            self.processed += 1
            self._stamp(self._outputs)
            for name, value in (*stages_ms.items(), ('processing', processing_ms),
                                ('latency', latency_ms)):
                self._timings.setdefault(name, deque(maxlen=self._window)).append(value)

    def snapshot(self, dropped: int) -> Snapshot:
        """
        Copy the current figures.

        :param dropped: frames replaced while waiting (from the frame slot).
        :return: the snapshot.
        """
        with self._lock:
            now = time.monotonic()
            timings = {name: _percentiles(values) for name, values in self._timings.items()}
            return Snapshot(
                received=self.received, processed=self.processed, dropped=dropped,
                rejected=sum(self._rejected.values()), failed=self.failed,
                rejected_by_reason=dict(self._rejected),
                input_rate_hz=self._rate(self._inputs, now),
                output_rate_hz=self._rate(self._outputs, now),
                seconds_since_input=(None if self._last_input is None
                                     else now - self._last_input),
                last_error=self.last_error, timings_ms=timings)

    def _stamp(self, times: Deque[float]) -> float:
        now = time.monotonic()
        times.append(now)
        while times and now - times[0] > self._rate_window_s:
            times.popleft()
        return now

    def _rate(self, times: Deque[float], now: float) -> float:
        while times and now - times[0] > self._rate_window_s:
            times.popleft()
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)


def _percentiles(values) -> tuple:
    array = np.fromiter(values, dtype=np.float64)
    return (float(np.percentile(array, 50)), float(np.percentile(array, 95)),
            float(array.max()))
