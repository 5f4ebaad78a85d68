# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write rosbag2 image bags (MCAP or sqlite3) with ``rosbags``: datasets to replay, outputs to view.

Every image is encoded by :mod:`pixel_anomaly_ros.imaging`, the codec of the node. A bag is
written into a hidden temporary sibling directory and renamed into place when complete, so a
failure never leaves a half-written bag; a name ending in ``.mcap`` or ``.db3`` becomes that
single file.
"""

import os
from pathlib import Path
import shutil
import tempfile
from typing import Iterable

import numpy as np
from pixel_anomaly_ros.evaluation.bags import (BagError, COMPRESSED_IMAGE, IMAGE, STORAGES,
                                               TYPESTORE)
from pixel_anomaly_ros.imaging import (compress, COMPRESSIONS, image_fields, infer_encoding,
                                       ns_to_stamp)
from rosbags.rosbag2 import Writer
from tqdm import tqdm

_Header = TYPESTORE.types['std_msgs/msg/Header']
_Time = TYPESTORE.types['builtin_interfaces/msg/Time']
_Image = TYPESTORE.types[IMAGE]
_CompressedImage = TYPESTORE.types[COMPRESSED_IMAGE]


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
