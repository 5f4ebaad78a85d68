# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A one-place mailbox between the subscription callback and the inference worker.

The newest frame wins: a frame that arrives while another one is waiting replaces it, and the
replaced one is counted as dropped. The node therefore never queues frames, and its memory and
latency stay bounded whatever the input rate.
"""

import threading
from typing import Any, Optional


class LatestFrameSlot:
    """Holds at most one waiting item; ``put`` replaces, ``take`` blocks until one arrives."""

    def __init__(self):
        """Create an empty, open slot."""
        self._condition = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """
        Offer the newest item, replacing (and counting as dropped) a waiting one.

        :param item: the new item (not ``None``).
        :return: ``True`` if a waiting item was replaced.
        """
        with self._condition:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._condition.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Any:
        """
        Wait for an item and remove it from the slot.

        :param timeout: seconds to wait at most (``None``: until an item or :meth:`close`).
        :return: the item, or ``None`` on timeout or when the slot was closed.
        """
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        """Discard a waiting item without counting it as dropped."""
        with self._condition:
            self._item = None

    def close(self) -> None:
        """Wake every waiting :meth:`take` for good (worker shutdown)."""
        with self._condition:
            self._closed = True
            self._item = None
            self._condition.notify_all()

    def reopen(self) -> None:
        """Accept items again after :meth:`close` (the node is activated once more)."""
        with self._condition:
            self._closed = False
            self._item = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed
