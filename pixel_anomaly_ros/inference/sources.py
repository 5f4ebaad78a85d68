# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What ``run`` reads: an image file, a folder of images, a video or a bag, as numbered frames.

:func:`open_source` tells the kind from the path: a directory with ``metadata.yaml`` or a
``.mcap``/``.db3`` file is a bag, another directory a folder of images (searched recursively;
jpg, png, webp and bmp of any size), a file with a video suffix a video (whatever OpenCV reads)
and an image suffix one image. Frames are read one at a time; one that cannot be decoded comes
back with an ``error`` instead of an image, so that the caller reports it and goes on. Bag
frames are decoded by the node's codec (:mod:`pixel_anomaly_ros.imaging`), raw ``Image`` and
``CompressedImage`` alike; without a topic the bag's one camera topic is used.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import cv2
import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.evaluation.bags import (COMPRESSED_IMAGE, IMAGE_TYPES, list_topics,
                                               read_messages)
from pixel_anomaly_ros.imaging import decode_image, ImageError, stamp_to_ns

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.webp', '.bmp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.m4v', '.webm', '.mpg', '.mpeg')
BAG_SUFFIXES = ('.mcap', '.db3')
#: Colour encodings of raw camera images (a bag's mono8 topics are usually labels).
_COLOUR = ('rgb', 'bgr', 'bayer', 'yuv', 'uyvy', 'yuyv')
#: Header stamps read to measure a bag topic's rate.
_RATE_SAMPLE = 50


class InputError(PixelAnomalyError, ValueError):
    """An input ``run`` cannot read: unknown kind, empty folder, unopenable video, no topic."""


@dataclass
class InputFrame:
    """
    One frame of an input: its RGB image, or why it could not be decoded.

    :ivar index: position in the input (0-based, every frame counted).
    :ivar name: output name: the path relative to the folder without suffix, ``frame_000012``
        for videos and bags.
    :ivar image: (H, W, 3) uint8 RGB, or None when undecodable.
    :ivar stamp_ns: header stamp (bags) or time in the video, nanoseconds; None for images.
    :ivar error: why the frame could not be decoded ('' when it could).
    """

    index: int
    name: str
    image: Optional[np.ndarray]
    stamp_ns: Optional[int] = None
    error: str = ''


class Source:
    """An input's kind, frame count and rate; :meth:`frames` reads it."""

    kind = ''

    def __init__(self, path: Path, total: Optional[int], rate_hz: Optional[float] = None,
                 topic: Optional[str] = None):
        """
        Describe an opened input.

        :param path: the input path.
        :param total: number of frames, None when unknown.
        :param rate_hz: frames per second (videos, bags), None for images.
        :param topic: the camera topic of a bag.
        """
        self.path, self.total, self.rate_hz, self.topic = Path(path), total, rate_hz, topic

    def frames(self, every: int = 1) -> Iterator[InputFrame]:
        """
        Read every ``every``-th frame (from the first), decoding only those.

        :param every: frame step.
        :return: the frames.
        """
        raise NotImplementedError

    def describe(self) -> Dict[str, object]:
        """Return the input's facts for ``summary.json``."""
        info = {'path': str(self.path), 'kind': self.kind, 'frames': self.total}
        if self.rate_hz is not None:
            info['rate_hz'] = round(self.rate_hz, 3)
        if self.topic is not None:
            info['topic'] = self.topic
        return info


class ImageFiles(Source):
    """One image file or a folder of them."""

    def __init__(self, path: Path, files: List[Path], names: List[str], kind: str):
        """
        Hold the image files of an input.

        :param path: the file or folder given.
        :param files: the image files, in order.
        :param names: their output names.
        :param kind: ``'image'`` or ``'folder'``.
        """
        super().__init__(path, len(files))
        self.files, self.names, self.kind = files, names, kind

    def frames(self, every: int = 1) -> Iterator[InputFrame]:
        """Read the images (see :meth:`Source.frames`)."""
        for index in range(0, len(self.files), every):
            bgr = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if bgr is None or bgr.size == 0:
                yield InputFrame(index, self.names[index], None,
                                 error=f'{self.files[index]}: cannot be decoded as an image')
            else:
                yield InputFrame(index, self.names[index], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


class Video(Source):
    """A video file read with OpenCV."""

    kind = 'video'

    def frames(self, every: int = 1) -> Iterator[InputFrame]:
        """Decode the frames of the video; it ends at the first frame OpenCV cannot read."""
        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                if index % every:
                    if not capture.grab():
                        return
                else:
                    ok, bgr = capture.read()
                    if not ok:
                        return
                    stamp = round(index * 1e9 / self.rate_hz) if self.rate_hz else None
                    yield InputFrame(index, f'frame_{index:06d}',
                                     cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), stamp)
                index += 1
        finally:
            capture.release()


class Bag(Source):
    """The camera topic of a rosbag2 bag (raw Image or CompressedImage)."""

    kind = 'bag'

    def frames(self, every: int = 1) -> Iterator[InputFrame]:
        """Decode the camera messages as the node does (see :meth:`Source.frames`)."""
        for index, msg in read_messages(self.path, self.topic, every):
            if msg is None:
                continue
            stamp = stamp_to_ns(msg.header.stamp)
            try:
                image, _ = decode_image(msg, 'rgb8')
            except ImageError as err:
                yield InputFrame(index, f'frame_{index:06d}', None, stamp,
                                 f'{self.topic} message {index} (stamp {stamp}): {err}')
                continue
            yield InputFrame(index, f'frame_{index:06d}',
                             image if image.flags.writeable else image.copy(), stamp)


def open_source(path, image_topic: Optional[str] = None,
                exclude: Optional[Path] = None) -> Source:
    """
    Open an input of ``run`` and tell its kind.

    :param path: image file, folder of images, video file or bag.
    :param image_topic: the camera topic of a bag (default: its one camera topic).
    :param exclude: a folder whose files are left out of a folder input (the run's output).
    :return: the source.
    :raises InputError: for a missing or unreadable input, an empty folder, or a bag whose
        camera topic is missing or ambiguous.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f'{path} does not exist: give an image, a folder of images, a video '
                         'or a bag')
    suffix = path.suffix.lower()
    if (path.is_dir() and (path / 'metadata.yaml').is_file()) or suffix in BAG_SUFFIXES:
        return _open_bag(path, image_topic)
    if image_topic is not None:
        raise InputError(f'--image-topic applies to bags; {path} is not a bag')
    if path.is_dir():
        return _open_folder(path, exclude)
    if suffix in IMAGE_SUFFIXES:
        return ImageFiles(path, [path], [path.stem], 'image')
    if suffix in VIDEO_SUFFIXES:
        return _open_video(path)
    raise InputError(f'{path}: cannot tell what it is from its suffix; expected an image '
                     f'({", ".join(IMAGE_SUFFIXES)}), a video ({", ".join(VIDEO_SUFFIXES)}), '
                     'a folder or a bag (.mcap, .db3 or a rosbag2 directory)')


def _open_folder(path: Path, exclude: Optional[Path]) -> ImageFiles:
    skip = exclude.resolve() if exclude is not None else None
    files = sorted(p for p in path.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file() and not any(part.startswith('.') for part in
                                               p.relative_to(path).parts)
                   and (skip is None or skip not in p.resolve().parents))
    if not files:
        raise InputError(f'no images under {path} (searched recursively for '
                         f'{", ".join(IMAGE_SUFFIXES)})')
    stems = [p.relative_to(path).with_suffix('').as_posix() for p in files]
    clashes = {s for s in stems if stems.count(s) > 1}
    names = [f'{s}_{p.suffix[1:].lower()}' if s in clashes else s for s, p in zip(stems, files)]
    return ImageFiles(path, files, names, 'folder')


def _open_video(path: Path) -> Video:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f'{path}: OpenCV cannot open this video')
        rate = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return Video(path, count if count > 0 else None, rate if rate > 0 else None)


def _open_bag(path: Path, image_topic: Optional[str]) -> Bag:
    topics = {t: m for t, m in list_topics(path).items() if m in IMAGE_TYPES}
    if image_topic is None:
        image_topic = _camera_topic(path, topics)
    elif image_topic not in topics:
        raise InputError(f'bag {path} has no image topic {image_topic!r}; its image topics: '
                         + (', '.join(f'{t} ({m})' for t, m in sorted(topics.items()))
                            or 'none'))
    count = sum(1 for _ in read_messages(path, image_topic, every=1 << 62))
    stamps = []
    for _, msg in read_messages(path, image_topic):
        stamps.append(stamp_to_ns(msg.header.stamp))
        if len(stamps) >= _RATE_SAMPLE:
            break
    steps = np.diff(np.asarray(stamps, np.int64))
    steps = steps[steps > 0]
    rate = 1e9 / float(np.median(steps)) if steps.size else None
    return Bag(path, count, rate, image_topic)


def _camera_topic(path: Path, topics: Dict[str, str]) -> str:
    """Return the bag's one camera topic: its only image topic, or its only colour one."""
    if len(topics) == 1:
        return next(iter(topics))
    colour = []
    for topic, msgtype in sorted(topics.items()):
        first = next(read_messages(path, topic), None)
        encoding = '' if first is None or msgtype == COMPRESSED_IMAGE else \
            first[1].encoding.lower()
        if msgtype == COMPRESSED_IMAGE or encoding.startswith(_COLOUR):
            colour.append(topic)
    if len(colour) == 1:
        return colour[0]
    listed = ', '.join(f'{t} ({m.rsplit("/", 1)[-1]})' for t, m in sorted(topics.items()))
    raise InputError(f'bag {path} has ' + (f'{len(colour)} camera topics' if colour else
                                           'no image topic' if not topics else
                                           'no colour or compressed image topic')
                     + f' ({listed or "none"}); choose one with --image-topic')
