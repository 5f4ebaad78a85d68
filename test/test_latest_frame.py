# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The newest-frame slot between the subscription callback and the inference worker."""

import threading
import time

from pixel_anomaly_ros.ros.latest_frame import LatestFrameSlot
import pytest


def _in_thread(target):
    """Start ``target`` in a daemon thread; return the thread and a dict with its result."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=target()), daemon=True)
    thread.start()
    return thread, box


def test_put_then_take_returns_the_item_once():
    slot = LatestFrameSlot()
    assert slot.put('a') is False
    assert slot.take(timeout=0) == 'a'
    assert slot.take(timeout=0) is None  # taken: the slot is empty again
    assert slot.dropped == 0 and not slot.closed


def test_a_newer_frame_replaces_the_waiting_one_and_counts_it_dropped():
    slot = LatestFrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.dropped == 2
    assert slot.take(timeout=0) == 3
    assert slot.put(4) is False  # nothing was waiting: nothing dropped
    assert slot.dropped == 2


def test_clear_discards_without_counting():
    slot = LatestFrameSlot()
    slot.put('old')
    slot.clear()
    assert slot.take(timeout=0) is None
    assert slot.dropped == 0


def test_take_times_out_with_none():
    slot = LatestFrameSlot()
    start = time.monotonic()
    assert slot.take(timeout=0.05) is None
    assert time.monotonic() - start >= 0.04


def test_take_blocks_until_a_frame_arrives_from_another_thread():
    slot = LatestFrameSlot()
    thread, box = _in_thread(lambda: slot.take(timeout=10))
    time.sleep(0.05)
    assert thread.is_alive()  # still waiting
    slot.put('frame')
    thread.join(timeout=5)
    assert not thread.is_alive() and box['result'] == 'frame'


def test_close_wakes_a_waiting_taker_for_good():
    slot = LatestFrameSlot()
    thread, box = _in_thread(lambda: slot.take())  # no timeout: only close ends it
    time.sleep(0.05)
    assert thread.is_alive()
    start = time.monotonic()
    slot.close()
    thread.join(timeout=5)
    assert not thread.is_alive() and box['result'] is None
    assert time.monotonic() - start < 1.0
    assert slot.closed
    assert slot.take() is None  # later takes do not block either


def test_close_discards_a_waiting_frame():
    slot = LatestFrameSlot()
    slot.put('pending')
    slot.close()
    assert slot.take(timeout=0) is None
    assert slot.dropped == 0


@pytest.mark.parametrize('consumer_delay_s', [0.0, 0.0005])
def test_every_frame_is_taken_or_dropped_exactly_once_across_threads(consumer_delay_s):
    """A fast producer thread and a (slow) consumer: nothing lost, nothing doubled."""
    slot = LatestFrameSlot()
    count = 20000 if consumer_delay_s == 0 else 2000
    taken = []
    done = threading.Event()

    def consume():
        while True:
            item = slot.take(timeout=0.01)
            if item is None:
                if done.is_set() or slot.closed:
                    return
                continue
            taken.append(item)
            if consumer_delay_s:
                time.sleep(consumer_delay_s)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    replaced = 0
    for i in range(count):
        replaced += slot.put(i)
    done.set()
    consumer.join(timeout=30)
    assert not consumer.is_alive()
    leftover = slot.take(timeout=0)
    if leftover is not None:
        taken.append(leftover)
    assert slot.dropped == replaced
    assert len(taken) + slot.dropped == count
    assert taken == sorted(set(taken))  # newest wins: strictly increasing, no duplicates
    assert taken[-1] == count - 1  # the last frame is never dropped
    if consumer_delay_s:
        assert slot.dropped > 0  # a slow consumer really made the producer replace frames
