# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Read and write rosbag2 image bags (MCAP or sqlite3) with ``rosbags``; no ROS install needed.

Images travel as ``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage`` (``jpeg``/
``png``, format string as written by image_transport: ``"<encoding>; <jpeg|png> compressed
<bgr8|mono8|...>"``). Every pixel is decoded and encoded by :mod:`pixel_anomaly_ros.imaging`,
the codec of the node: a camera image read as ``rgb8`` is the array the node would process; read
without a target encoding, a message keeps its native values (mono8 labels, 32FC1 scores).
Frames are keyed by their header stamp, not the bag's receive time. Bags are written into a
hidden temporary sibling directory and renamed into place when complete, so a failure never
leaves a half-written bag.
"""

from dataclasses import dataclass
import logging
import os
from pathlib import Path
import shutil
import tempfile
from typing import Iterable, Iterator, Sequence

import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.imaging import (compress, COMPRESSIONS, decode_image, image_fields,
                                       ImageError, infer_encoding, ns_to_stamp, stamp_to_ns)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores
from tqdm import tqdm

LOG = logging.getLogger(__name__)

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}

# The message definitions of sensor_msgs/Image and CompressedImage are the same in every ROS 2
# distribution; Kilted matches the rclpy wheels this package is tested with.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
_Header = TYPESTORE.types['std_msgs/msg/Header']
_Time = TYPESTORE.types['builtin_interfaces/msg/Time']
_Image = TYPESTORE.types[IMAGE]
_CompressedImage = TYPESTORE.types[COMPRESSED_IMAGE]


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


def storage_for(path: str | os.PathLike, storage: str | None = None) -> str:
    """
    Choose the storage plugin of a bag to write.

    :param path: bag directory to write.
    :param storage: ``'mcap'`` or ``'sqlite3'``; ``None`` picks ``sqlite3`` for a path ending in
        ``.db3`` or ``.sqlite3`` and ``mcap`` otherwise.
    :return: ``'mcap'`` or ``'sqlite3'``.
    :raises BagError: for an unknown storage name.
    """
    if storage is None:
        return 'sqlite3' if Path(path).suffix in ('.db3', '.sqlite3') else 'mcap'
    if storage not in STORAGES:
        raise BagError(f'unknown bag storage {storage!r}: expected one of {sorted(STORAGES)}')
    return storage


def _make_header(stamp_ns: int, frame_id: str):
    sec, nanosec = ns_to_stamp(stamp_ns)
    return _Header(stamp=_Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_message(image: np.ndarray, stamp_ns: int, encoding: str | None = None,
                  frame_id: str = '', compression: str | None = None, jpeg_quality: int = 95):
    """
    Build a ``sensor_msgs/msg/Image`` or ``CompressedImage`` (rosbags class) from an array.

    Compressed colour is stored as BGR, as image_transport does; the format string names the
    original encoding so that reading restores it (``"rgb8; jpeg compressed bgr8"``).

    :param image: (H, W) or (H, W, C) array; compressed: 8-bit (PNG also 16-bit) grey or colour.
    :param stamp_ns: header stamp in nanoseconds.
    :param encoding: ROS encoding of ``image``; ``None`` infers it (``imaging.infer_encoding``).
    :param frame_id: header frame id.
    :param compression: ``None`` (raw Image), ``'jpeg'`` (lossy) or ``'png'`` (lossless).
    :param jpeg_quality: JPEG quality, 0-100.
    :return: the message.
    :raises BagError: for an unknown compression or an array that does not fit the encoding.
    """
    header = _make_header(stamp_ns, frame_id)
    try:
        if compression is None:
            return _Image(header=header, **image_fields(image, encoding)._asdict())
        fmt, stream = compress(image, encoding or infer_encoding(image), compression,
                               jpeg_quality)
    except ValueError as err:
        raise BagError(str(err)) from None
    return _CompressedImage(header=header, format=fmt, data=stream)


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


class BagWriter:
    """
    Write image messages into a new rosbag2 bag, atomically.

    Use it as a context manager: the bag is written into a hidden temporary directory next to
    ``path``, moved to ``path`` on a clean exit and removed on an exception. Each topic's type
    (Image or CompressedImage) is fixed by its first message.
    """

    def __init__(self, path: str | os.PathLike, storage: str | None = None):
        """
        Prepare a writer; nothing is created before :meth:`start`.

        :param path: bag to create; it must not exist. ``x.mcap`` (``x.db3``) becomes that one
            file (rosbags, ``ros2 bag`` and Foxglove read it), other names a rosbag2 directory.
        :param storage: ``'mcap'`` or ``'sqlite3'``; ``None`` chooses from the path
            (:func:`storage_for`).
        """
        self.path = Path(path)
        self.storage = storage_for(self.path, storage)
        self._single = self.path.suffix == {'mcap': '.mcap', 'sqlite3': '.db3'}[self.storage]
        self._tmp: Path | None = None
        self._writer: Writer | None = None
        self._connections: dict = {}

    def start(self) -> 'BagWriter':
        """
        Create the temporary bag.

        :return: this writer.
        :raises BagError: when ``path`` already exists.
        """
        if self.path.exists():
            raise BagError(f'{self.path} exists already; remove it or choose another path')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f'.{self.path.name}.', suffix='.partial',
                                          dir=self.path.parent))
        self._writer = Writer(self._tmp / ('bag' if self._single else self.path.name),
                              version=9, storage_plugin=STORAGES[self.storage])
        self._writer.open()
        return self

    def write(self, topic: str, image: np.ndarray, stamp_ns: int, encoding: str | None = None,
              frame_id: str = '', compression: str | None = None) -> None:
        """
        Write one image message.

        :param topic: topic name.
        :param image: (H, W) or (H, W, C) array.
        :param stamp_ns: header stamp, also used as the bag receive time, in nanoseconds.
        :param encoding: ROS encoding of ``image``; ``None`` infers it (:func:`infer_encoding`).
        :param frame_id: header frame id.
        :param compression: ``None`` for a raw Image, ``'jpeg'`` or ``'png'`` for a
            CompressedImage.
        :raises BagError: when the writer is not open or the topic changes type.
        """
        if self._writer is None:
            raise BagError('BagWriter is not open; use it as a context manager')
        msg = image_message(image, stamp_ns, encoding, frame_id, compression)
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msg.__msgtype__, typestore=TYPESTORE)
            self._connections[topic] = connection
        elif connection.msgtype != msg.__msgtype__:
            raise BagError(f'topic {topic!r} holds {connection.msgtype}; cannot add a '
                           f'{msg.__msgtype__}')
        self._writer.write(connection, int(stamp_ns),
                           TYPESTORE.serialize_cdr(msg, msg.__msgtype__))

    def close(self) -> Path:
        """
        Finish the bag and move it into place.

        :return: the bag (directory or file).
        """
        try:
            self._writer.close()
            os.rename(self._tmp / 'bag' / f'bag{self.path.suffix}' if self._single
                      else self._tmp / self.path.name, self.path)
        except BaseException:
            self.abort()
            raise
        shutil.rmtree(self._tmp)
        self._writer = self._tmp = None
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        if self._writer is not None:
            try:
                self._writer.abort()
            finally:
                self._writer = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> 'BagWriter':
        """Open the bag."""
        return self.start()

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Move the bag into place, or discard it when the block raised."""
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_images(path: str | os.PathLike,
                 messages: Iterable[tuple[int, str, np.ndarray, str | None, str]],
                 storage: str | None = None, compression: dict[str, str] | None = None) -> Path:
    """
    Write a sequence of images into a new bag, e.g. detector outputs for RViz or Foxglove.

    :param path: bag directory to create; it must not exist.
    :param messages: ``(stamp_ns, topic, image, encoding, frame_id)`` tuples; ``encoding``
        ``None`` infers it.
    :param storage: ``'mcap'`` or ``'sqlite3'``; ``None`` chooses from the path.
    :param compression: optional ``{topic: 'jpeg' | 'png'}`` for CompressedImage topics.
    :return: the bag directory.
    :raises BagError: for a bad image or an existing path (nothing is written then).
    """
    compression = compression or {}
    with BagWriter(path, storage) as writer:
        for stamp_ns, topic, image, encoding, frame_id in messages:
            writer.write(topic, image, stamp_ns, encoding, frame_id, compression.get(topic))
    return Path(path)


def dataset_to_bag(dataset, out_path: str | os.PathLike, image_topic: str = '/camera/image',
                   label_topic: str = '/camera/anomaly_label', rate_hz: float = 10.0,
                   storage: str | None = 'mcap', compressed: bool | str = False,
                   semantic_topic: str | None = None, frame_id: str = 'camera',
                   start_ns: int = 1_700_000_000 * 1_000_000_000, progress: bool = True) -> Path:
    """
    Write a dataset into a bag for replay: camera images plus mono8 labels with equal stamps.

    Frame ``i`` is stamped ``start_ns + i / rate_hz``. The camera topic is a raw ``rgb8`` Image,
    or a CompressedImage on the same topic name when ``compressed`` (image_transport calls it
    ``<base>/compressed``; pass such a name if a republisher should find it). The label topic
    carries the 0/1/255 anomaly label as raw ``mono8``.

    :param dataset: iterable of samples with ``image`` (H, W, 3) uint8 RGB, ``anomaly``
        (H, W) uint8 and ``semantic`` (H, W) uint8 or None; ``len()`` sizes the progress bar.
    :param out_path: bag to create, a file or a directory (see :class:`BagWriter`).
    :param image_topic: camera topic.
    :param label_topic: anomaly label topic.
    :param rate_hz: frame rate of the stamps.
    :param storage: ``'mcap'`` or ``'sqlite3'``; ``None`` chooses from the path.
    :param compressed: ``False`` (raw), ``True``/``'jpeg'`` or ``'png'``.
    :param semantic_topic: also write the semantic labels (mono8 train ids) here, when given and
        the dataset has them.
    :param frame_id: header frame id of every message.
    :param start_ns: stamp of the first frame (non-zero: the detector rejects zero stamps).
    :param progress: show a tqdm progress bar.
    :return: the bag.
    :raises ValueError: for a non-positive rate or an unknown compression.
    """
    if rate_hz <= 0:
        raise ValueError(f'rate_hz must be positive, got {rate_hz}')
    compression = 'jpeg' if compressed is True else (compressed or None)
    if compression is not None and compression not in COMPRESSIONS:
        raise ValueError(f'compressed must be a bool or one of {COMPRESSIONS}, got {compressed!r}')
    period_ns = 1e9 / rate_hz
    out_path = Path(out_path)
    total = len(dataset) if hasattr(dataset, '__len__') else None
    with BagWriter(out_path, storage) as writer:  # refuses an existing path before the bar
        samples = tqdm(dataset, total=total, desc=f'bag {out_path.name}', unit='frame',
                       disable=not progress)
        for index, sample in enumerate(samples):
            stamp = start_ns + round(index * period_ns)
            writer.write(image_topic, sample.image, stamp, 'rgb8', frame_id, compression)
            writer.write(label_topic, sample.anomaly, stamp, 'mono8', frame_id)
            if semantic_topic and sample.semantic is not None:
                writer.write(semantic_topic, sample.semantic, stamp, 'mono8', frame_id)
    return out_path
