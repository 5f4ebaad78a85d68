# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The detector's inference thread: takes the newest frame from the slot and processes it.

Stopping never waits for more than a bound: the stop flag is set and the slot closed first (a
worker waiting for a frame wakes at once), then the thread is joined for at most
``timeout_s``. A worker in the middle of a multi-second frame finishes it in the background;
``process`` sees the flag and discards the result, and the thread ends after that frame.
"""

import threading
from typing import Any, Callable

from pixel_anomaly_ros.ros.latest_frame import LatestFrameSlot

#: How long stopping waits for a frame in flight (lifecycle transitions, Ctrl-C, SIGTERM).
STOP_TIMEOUT_S = 2.0


class InferenceWorker:
    """One daemon thread running ``process(item, stopped)`` on each item taken from a slot."""

    def __init__(self, slot: LatestFrameSlot, process: Callable[[Any, threading.Event], None],
                 name: str = 'detector_worker'):
        """
        Create the thread (not started).

        :param slot: where frames arrive; reopened by :meth:`start`, closed by :meth:`stop`.
        :param process: called with each item and the stop flag (check it before publishing).
        :param name: thread name.
        """
        self.slot = slot
        self.stopped = threading.Event()
        self._process = process
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> 'InferenceWorker':
        """Open the slot and start the thread; return this worker."""
        self.slot.reopen()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self.stopped.is_set():
            item = self.slot.take(timeout=0.2)
            if item is not None and not self.stopped.is_set():
                self._process(item, self.stopped)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """
        Stop taking frames and wait a bounded time for the current one.

        :param timeout_s: longest wait for a frame in flight.
        :return: True when the thread has ended, False when a frame is still being processed
            (it ends after that frame, whose result is discarded).
        """
        self.stopped.set()
        self.slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self.busy

    @property
    def busy(self) -> bool:
        """Whether the thread still runs (a stopped worker: its last frame is in flight)."""
        return self._thread.is_alive() and self._thread is not threading.current_thread()
