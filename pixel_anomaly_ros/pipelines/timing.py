# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Per-stage wall-clock timing that waits for asynchronous devices at stage boundaries."""

from contextlib import contextmanager
import time
from typing import Callable, Dict, Iterator


class StageTimer:
    """Collects milliseconds per named stage for one pipeline call."""

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
