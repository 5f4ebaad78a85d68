# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Per-stage timing of one pipeline call, on the host clock or with CUDA events.

:class:`StageTimer` waits for the device at the end of each stage (right for the CPU, where the
wait is free). :class:`CudaStageTimer` records a pair of CUDA events around each stage instead
and synchronises once, when the timings are read, so a GPU pipeline keeps its stages queued
back to back.
"""

from contextlib import contextmanager
import time
from typing import Callable, Dict, Iterator, Optional


class StageTimer:
    """Collects milliseconds per named stage for one pipeline call (host clock)."""

    def __init__(self, synchronize: Callable[[], None]):
        """
        Create a timer.

        :param synchronize: waits for queued device work (the executor's ``synchronize``).
        """
        self._synchronize = synchronize
        self.timings_ms: Dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """
        Time the enclosed block as stage ``name`` (device work included).

        :param name: stage name.
        """
        start = time.perf_counter()
        yield
        self._synchronize()
        self.timings_ms[name] = (time.perf_counter() - start) * 1000.0


class CudaStageTimer:
    """Times stages with CUDA events on a stream; reading the timings synchronises once."""

    def __init__(self, events: Dict[str, tuple], stream=None):
        """
        Create a timer.

        :param events: ``{stage: (start, end)}`` CUDA events to reuse, filled on first use
            (kept by the executor so that a frame creates none).
        :param stream: the ``torch.cuda.Stream`` the stages run on (default: current stream).
        """
        self._events = events
        self._stream = stream
        self._host_ms: Dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """
        Time the enclosed block as stage ``name`` without waiting for the device.

        :param name: stage name.
        """
        import torch
        if name not in self._events:
            self._events[name] = (torch.cuda.Event(enable_timing=True),
                                  torch.cuda.Event(enable_timing=True))
        start_event, end_event = self._events[name]
        start = time.perf_counter()
        start_event.record(self._stream)
        yield
        end_event.record(self._stream)
        self._host_ms[name] = (time.perf_counter() - start) * 1000.0

    @property
    def timings_ms(self) -> Dict[str, float]:
        """
        Return each stage's time: the longer of its host time and its device time.

        A stage's device time covers the work it queued; its host time covers work done on
        the CPU (resizing, conversions), which the events do not see.
        """
        last: Optional[object] = None
        for name in self._host_ms:
            last = self._events[name][1]
        if last is not None:
            last.synchronize()
        return {name: max(host, self._events[name][0].elapsed_time(self._events[name][1]))
                for name, host in self._host_ms.items()}
