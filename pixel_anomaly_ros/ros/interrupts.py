# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SIGINT and SIGTERM for a node process: stop cleanly however many arrive.

rclpy's own handlers (installed by ``rclpy.init``) shut the ROS context down on SIGINT and
SIGTERM, which ends the executor's spin, and then call the Python handler that was there
before. Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the main thread
happens to be, e.g. in the middle of the clean-up after the first Ctrl-C (``ros2 launch`` sends
a second one): a traceback and exit code -2. :func:`record_interrupts`, called before
``rclpy.init``, puts a handler there that only counts the signals.
"""

import signal
from typing import List


class Interrupts:
    """The SIGINT/SIGTERM signals received so far (``received``, in order)."""

    def __init__(self):
        """Start with none received."""
        self.received: List[int] = []

    def __call__(self, signum: int, frame) -> None:
        """
        Record a signal (the signal handler).

        :param signum: the signal number.
        :param frame: the interrupted frame (unused).
        """
        self.received.append(signum)


def record_interrupts() -> Interrupts:
    """
    Replace the Python handlers of SIGINT and SIGTERM by one that only records them.

    Call it from the main thread before ``rclpy.init``.

    :return: the record.
    """
    interrupts = Interrupts()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupts)
    return interrupts
