# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Read rosbag2 image bags (MCAP or sqlite3) with ``rosbags``; no ROS install needed.

Images travel as ``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage`` (``jpeg``/
``png``, format string as written by image_transport: ``"<encoding>; <jpeg|png> compressed
<bgr8|mono8|...>"``). Every pixel is decoded and encoded by :mod:`pixel_anomaly_ros.imaging`,
the codec of the node: a camera image read as ``rgb8`` is the array the node would process; read
without a target encoding, a message keeps its native values (mono8 labels, 32FC1 scores).
Frames are keyed by their header stamp, not the bag's receive time. Writing bags:
:mod:`.bag_writer`.
"""

from dataclasses import dataclass
import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.imaging import decode_image, ImageError, stamp_to_ns
from rosbags.rosbag2 import Reader, StoragePlugin
from rosbags.typesys import get_typestore, Stores

LOG = logging.getLogger(__name__)

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}

# The message definitions of sensor_msgs/Image and CompressedImage are the same in every ROS 2
# distribution; Kilted matches the rclpy wheels this package is tested with.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)


class BagError(PixelAnomalyError, ValueError):
    """A bag, topic or image message that cannot be read or written."""


@dataclass(frozen=True)
class ImageFrame:
    """
    One decoded image message.

    ``image`` is (H, W) or (H, W, C) with the dtype of ``encoding``; ``stamp_ns`` is the header
    stamp in nanoseconds.
    """

    topic: str
    stamp_ns: int
    frame_id: str
    encoding: str
    image: np.ndarray


def _open_reader(path: str | os.PathLike) -> Reader:
    path = Path(path)
    if not path.exists():
        raise BagError(f'bag {path} does not exist: expected a rosbag2 directory with '
                       'metadata.yaml, or a .mcap/.db3 file')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as err:  # noqa: B902 - rosbags raises several unrelated types
        raise BagError(f'cannot open bag {path}: {err}') from err
    return reader


def list_topics(path: str | os.PathLike) -> dict[str, str]:
    """
    List the topics of a bag.

    :param path: rosbag2 directory, or a ``.mcap``/``.db3`` file.
    :return: mapping of topic name to message type.
    :raises BagError: when the bag cannot be opened.
    """
    reader = _open_reader(path)
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()


def _connections(reader: Reader, path, topic: str) -> list:
    found = [c for c in reader.connections if c.topic == topic]
    if not found:
        topics = sorted({f'{c.topic} ({c.msgtype})' for c in reader.connections})
        raise BagError(f'bag {path} has no topic {topic!r}; it has: {", ".join(topics)}')
    wrong = [c.msgtype for c in found if c.msgtype not in IMAGE_TYPES]
    if wrong:
        raise BagError(f'topic {topic!r} in bag {path} carries {wrong[0]}; expected one of '
                       f'{IMAGE_TYPES}')
    return found


def read_messages(path: str | os.PathLike, topic: str, every: int = 1) -> Iterator[tuple]:
    """
    Read the messages of one image topic undecoded (e.g. to replay CompressedImage as it is).

    :param every: deserialise only every ``every``-th message (from the first); None for others.
    :return: an iterator of ``(position on the topic, rosbags message or None)``; see read_images.
    """
    reader = _open_reader(path)
    try:
        connections = _connections(reader, path, topic)
        for index, (connection, _, raw) in enumerate(reader.messages(connections=connections)):
            yield index, (TYPESTORE.deserialize_cdr(raw, connection.msgtype)
                          if index % every == 0 else None)
    finally:
        reader.close()


def read_images(path: str | os.PathLike, topic: str,
                encoding: str | None = None) -> Iterator[ImageFrame]:
    """
    Read the images of one topic, in bag order.

    :param path: rosbag2 directory, or a ``.mcap``/``.db3`` file.
    :param topic: an Image or CompressedImage topic.
    :param encoding: ``'rgb8'`` decodes every image as the node does
        (:func:`~pixel_anomaly_ros.imaging.decode_image`); ``None`` keeps each message's own.
    :return: an iterator of :class:`ImageFrame`.
    :raises BagError: for a missing bag or topic, or an undecodable message.
    """
    return (_to_frame(topic, msg, encoding) for _, msg in read_messages(path, topic))


def _to_frame(topic: str, msg, encoding: str | None) -> ImageFrame:
    stamp = stamp_to_ns(msg.header.stamp)
    try:
        image, encoding = decode_image(msg, encoding)
    except ImageError as err:
        raise BagError(f'{topic} at stamp {stamp}: {err}') from None
    image = image if image.flags.writeable else image.copy()  # a view of the raw bag bytes
    return ImageFrame(topic, stamp, msg.header.frame_id, encoding, image)


def align_stamps(stamps: Sequence[int], reference: Sequence[int],
                 tolerance_ns: int = 0) -> np.ndarray:
    """
    Pair stamps one-to-one with the nearest reference stamp within a tolerance.

    When two stamps claim the same reference stamp, the nearer one keeps it (the earlier one
    on a tie) and the other stays unmatched.

    :param stamps: stamps in nanoseconds, e.g. of the image messages.
    :param reference: stamps in nanoseconds to pair with, e.g. of the label messages.
    :param tolerance_ns: largest allowed ``|stamp - reference|``; 0 pairs equal stamps only.
    :return: (len(stamps),) int64 index into ``reference``, -1 where unmatched.
    """
    stamps = np.asarray(stamps, np.int64).reshape(-1)
    reference = np.asarray(reference, np.int64).reshape(-1)
    match = np.full(len(stamps), -1, np.int64)
    if not len(stamps) or not len(reference):
        return match
    order = np.argsort(reference, kind='stable')
    ordered = reference[order]
    right = np.clip(np.searchsorted(ordered, stamps), 0, len(ordered) - 1)
    left = np.clip(right - 1, 0, len(ordered) - 1)
    nearest = np.where(np.abs(ordered[left] - stamps) <= np.abs(ordered[right] - stamps),
                       left, right)
    distance = np.abs(ordered[nearest] - stamps)
    candidates = np.flatnonzero(distance <= tolerance_ns)
    # Resolve conflicts: sort the candidates by (reference, distance) and keep the first of each.
    ranked = candidates[np.lexsort((distance[candidates], nearest[candidates]))]
    _, first = np.unique(nearest[ranked], return_index=True)
    winners = ranked[first]
    match[winners] = order[nearest[winners]]
    return match


class AlignedBag:
    """
    Frames of one image topic joined by header stamp with messages of other topics.

    Opening reads every message header once to pair the stamps (:func:`align_stamps`); iterating
    reads the bag again and decodes only the paired messages. A frame needs a match on every
    other topic; the rest is counted in :attr:`unmatched`.
    """

    def __init__(self, path: str | os.PathLike, image_topic: str, other_topics: Sequence[str],
                 tolerance_ns: int = 0, encodings: Sequence[str | None] | None = None):
        """
        Index the stamps of the topics of a bag and pair them.

        :param path: rosbag2 directory, or a ``.mcap``/``.db3`` file.
        :param image_topic: the topic each frame starts from (the camera).
        :param other_topics: topics paired with it (labels, ...).
        :param tolerance_ns: largest stamp difference of a pair; 0 pairs equal stamps only.
        :param encodings: one target encoding per topic, image topic first (``None`` keeps the
            message's own); default ``('rgb8', None, ...)``.
        :raises BagError: for a missing bag or topic.
        """
        self.path = Path(path)
        self.topics = (image_topic, *other_topics)
        self.encodings = tuple(encodings or ('rgb8',) + (None,) * len(other_topics))
        if len(set(self.topics)) != len(self.topics):
            raise BagError(f'topics must differ, got {self.topics}')
        if len(self.encodings) != len(self.topics):
            raise BagError(f'{len(self.topics)} topics but {len(self.encodings)} encodings')
        stamps = self._read_stamps()
        columns = [np.arange(len(stamps[0]))]
        columns += [align_stamps(stamps[0], other, tolerance_ns) for other in stamps[1:]]
        matches = np.stack(columns, axis=1)
        self.pairs = matches[(matches >= 0).all(axis=1)]
        self.counts = {t: len(s) for t, s in zip(self.topics, stamps)}
        self.unmatched = {t: len(s) - len(self.pairs) for t, s in zip(self.topics, stamps)}
        if any(self.unmatched.values()):
            LOG.warning('bag %s: %d frames paired; unmatched messages per topic: %s',
                        self.path, len(self.pairs), self.unmatched)

    def _read_stamps(self) -> list[np.ndarray]:
        stamps = {topic: [] for topic in self.topics}
        for topic, msg in self._messages():
            stamps[topic].append(stamp_to_ns(msg.header.stamp))
        return [np.asarray(stamps[topic], np.int64) for topic in self.topics]

    def _messages(self) -> Iterator[tuple[str, object]]:
        reader = _open_reader(self.path)
        try:
            connections = [c for t in self.topics for c in _connections(reader, self.path, t)]
            for connection, _, raw in reader.messages(connections=connections):
                yield connection.topic, TYPESTORE.deserialize_cdr(raw, connection.msgtype)
        finally:
            reader.close()

    def __len__(self) -> int:
        """Return the number of paired frames."""
        return len(self.pairs)

    def __iter__(self) -> Iterator[tuple[ImageFrame, ...]]:
        """
        Yield each paired frame as one :class:`ImageFrame` per topic, image topic first.

        Frames come in the order their last message appears in the bag.
        """
        position = {topic: i for i, topic in enumerate(self.topics)}
        wanted = [dict(zip(self.pairs[:, i].tolist(), range(len(self.pairs))))
                  for i in range(len(self.topics))]
        seen = [0] * len(self.topics)
        pending: dict[int, list] = {}
        for topic, msg in self._messages():
            column = position[topic]
            frame = wanted[column].get(seen[column])
            seen[column] += 1
            if frame is None:
                continue
            parts = pending.setdefault(frame, [None] * len(self.topics))
            parts[column] = _to_frame(topic, msg, self.encodings[column])
            if all(part is not None for part in parts):
                yield tuple(pending.pop(frame))


def read_aligned(path: str | os.PathLike, image_topic: str, label_topic: str,
                 tolerance_ns: int = 0, image_encoding: str | None = 'rgb8') -> AlignedBag:
    """
    Pair the images of a bag with its labels by header stamp (an :class:`AlignedBag` of two).

    :return: an :class:`AlignedBag` yielding ``(image_frame, label_frame)``.
    """
    return AlignedBag(path, image_topic, [label_topic], tolerance_ns, (image_encoding, None))
