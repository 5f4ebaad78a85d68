# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Datasets of image and label files on disk: frames listed when opened, read one at a time.

The benchmark loaders (one module per benchmark family) list :class:`Frame` objects, checking
that every file exists, and wrap them in a :class:`FileDataset` with the lookup table from raw
label values to 0 / 1 / 255. Missing files are reported when a dataset is opened; unreadable
ones when the frame is reached.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np
from PIL import Image
from pixel_anomaly_ros.evaluation.datasets.samples import (ANOMALY, check_size, DatasetError,
                                                           Sample, VOID)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.ppm', '.tif', '.tiff')


def read_image(path: Path) -> np.ndarray:
    """
    Read an image file as RGB.

    :param path: any format OpenCV reads (png, jpg, webp, ...).
    :return: (H, W, 3) uint8 RGB.
    :raises DatasetError: when the file cannot be read.
    """
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f'cannot read image {path}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label(path: Path) -> np.ndarray:
    """
    Read a label PNG keeping its raw values (palette indices are not turned into colours).

    :param path: single-channel 8/16-bit or palette PNG (an RGB PNG with equal channels too).
    :return: (H, W) uint8 or uint16 raw values.
    :raises DatasetError: when the file cannot be read or is not a single-channel label.
    """
    try:
        with Image.open(path) as image:
            raw = np.asarray(image)
    except OSError as err:
        raise DatasetError(f'cannot read label {path}: {err}') from None
    if raw.dtype == bool:
        raw = raw.astype(np.uint8)
    if raw.ndim == 3 and (raw == raw[..., :1]).all():
        raw = raw[..., 0]
    if raw.dtype == np.int32 and raw.size and 0 <= raw.min() and raw.max() < 65536:
        raw = raw.astype(np.uint16)
    if raw.ndim != 2 or raw.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f'label {path} is a {raw.dtype} array of shape {raw.shape}: expected '
                           'a single-channel 8- or 16-bit PNG')
    return raw


@dataclass(frozen=True, eq=False)
class Frame:
    """
    Files of one frame on disk.

    ``overlay`` is a Fishyscapes Static ``*_rgb.npz`` added to the image; ``semantic_lut`` maps
    the semantic file's values to train ids (``None``: already train ids).
    """

    name: str
    image: Path
    label: Path
    semantic: Path | None = None
    semantic_lut: np.ndarray | None = None
    overlay: Path | None = None


class FileDataset:
    """A list of frames on disk, read one at a time."""

    def __init__(self, kind: str, root: Path, frames: Sequence[Frame], lut: np.ndarray,
                 expected: Optional[np.ndarray] = None, labels: Optional[str] = None):
        """
        Hold a frame list.

        :param kind: dataset kind, for messages and reports.
        :param root: dataset root.
        :param frames: the frames, in order.
        :param lut: raw label value -> 0/1/255 (:func:`label_lut`).
        :param expected: (65536,) bool table of the raw label values a frame may hold; a frame
            with another value is refused (its message says how to read the labels).
        :param labels: how the raw label values are read, for reports (e.g. ``'0/255 masks:
            255 anomaly'``).
        """
        self.kind, self.root, self.frames, self.lut = kind, Path(root), list(frames), lut
        self.expected, self.labels = expected, labels

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.frames)

    def __iter__(self) -> Iterator[Sample]:
        """Yield every sample, reading its files when it is reached."""
        return (self.load(frame) for frame in self.frames)

    def __getitem__(self, index: int) -> Sample:
        """Read one sample by position."""
        return self.load(self.frames[index])

    @property
    def names(self) -> list[str]:
        """Sample names, in order."""
        return [frame.name for frame in self.frames]

    def load(self, frame: Frame) -> Sample:
        """
        Read one frame.

        :param frame: a frame of this dataset.
        :return: the sample.
        :raises DatasetError: for unreadable files or sizes that differ.
        """
        image = read_image(frame.image)
        if frame.overlay is not None:
            image = _apply_overlay(image, frame.overlay, frame.image)
        label = read_label(frame.label)
        check_size(image, label, frame.image, frame.label)
        if self.expected is not None and not self.expected[label].all():
            values = np.unique(label[~self.expected[label]]).tolist()
            raise DatasetError(f'label {frame.label} holds the values {values}, which the masks '
                               f'were not recognised to use ({self.labels}); say which values '
                               'mean anomaly: --option anomaly_values=V (and void_values=, '
                               'inlier_values=)')
        anomaly = self.lut[label]
        semantic = None
        if frame.semantic is not None:
            raw = read_label(frame.semantic)
            check_size(image, raw, frame.image, frame.semantic)
            semantic = raw.astype(np.uint8) if frame.semantic_lut is None else \
                frame.semantic_lut[raw]
            semantic[anomaly == ANOMALY] = VOID  # pasted objects hide the labelled class
        return Sample(image, anomaly, semantic, frame.name)


def _apply_overlay(image: np.ndarray, overlay_path: Path, image_path: Path) -> np.ndarray:
    try:
        with np.load(overlay_path) as npz:
            overlay = npz['rgb']
    except (OSError, KeyError, ValueError) as err:
        raise DatasetError(f'cannot read the "rgb" array of {overlay_path}: {err}') from None
    if overlay.shape != image.shape:
        raise DatasetError(f'overlay {overlay_path} has shape {overlay.shape} but image '
                           f'{image_path} has {image.shape}')
    return np.clip(image.astype(np.int32) + overlay, 0, 255).astype(np.uint8)


def require_dir(path: Path, layout: str) -> Path:
    """
    Return ``path`` if it is a directory.

    :param path: the directory a layout needs.
    :param layout: the expected layout, for the message.
    :return: ``path``.
    :raises DatasetError: when it is not a directory.
    """
    if not path.is_dir():
        raise DatasetError(f'{path} is not a directory: expected {layout}')
    return path


def first_existing(candidates: Iterable[Path]) -> Path | None:
    """
    Return the first candidate that is a file.

    :param candidates: paths in order of preference.
    :return: that path, or ``None`` when none exists.
    """
    return next((p for p in candidates if p.is_file()), None)


def split_dirs(folder: Path) -> list[Path]:
    """
    List the sub-directories of a folder (the splits of a Cityscapes-like layout).

    :param folder: e.g. ``leftImg8bit``.
    :return: its sub-directories, sorted.
    """
    return sorted(p for p in folder.iterdir() if p.is_dir())


def check_pair(image: Path, label: Path) -> None:
    """
    Check that an image and its label file both exist.

    :param image: the image file.
    :param label: the label file it needs.
    :raises DatasetError: naming the missing file and its partner.
    """
    if not image.is_file():
        raise DatasetError(f'image {image} is missing (its label would be {label})')
    if not label.is_file():
        raise DatasetError(f'image {image} has no label: expected {label}')
