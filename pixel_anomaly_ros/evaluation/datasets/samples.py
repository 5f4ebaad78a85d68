# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What every dataset yields: :class:`Sample`, the 0 / 1 / 255 label convention and its tables.

Each loader turns its raw label values into 0 inlier, 1 anomaly and 255 void with a lookup
table built by :func:`label_lut`; semantic labels are Cityscapes train ids (255 ignore).
"""

from typing import Iterable, NamedTuple

import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError

INLIER, ANOMALY, VOID = 0, 1, 255


class Sample(NamedTuple):
    """
    One evaluation frame: RGB image, 0/1/255 anomaly label, optional train ids, name.

    ``anomaly`` is ``None`` for a frame of an unlabelled bag; ``source`` names the bag a frame
    comes from (``None`` for file datasets).
    """

    image: np.ndarray
    anomaly: np.ndarray | None
    semantic: np.ndarray | None
    name: str
    source: str | None = None


class DatasetError(PixelAnomalyError, ValueError):
    """A dataset that is missing, malformed or inconsistent; the message names the path."""


def label_lut(anomaly: Iterable[int], void: Iterable[int] = (),
              inlier: Iterable[int] | None = None) -> np.ndarray:
    """
    Build a lookup table from raw label values (8 or 16 bit) to 0 inlier / 1 anomaly / 255 void.

    :param anomaly: raw values that mean anomaly.
    :param void: raw values that mean void (ignored by the metrics).
    :param inlier: raw values that mean inlier; ``None`` makes every value not listed in
        ``anomaly`` or ``void`` an inlier, otherwise unlisted values are void.
    :return: (65536,) uint8 table; ``table[raw]`` is the unified label.
    """
    table = np.full(65536, INLIER if inlier is None else VOID, np.uint8)
    table[list(inlier or [])] = INLIER
    table[list(void)] = VOID
    table[list(anomaly)] = ANOMALY
    return table


# Cityscapes labelIds -> train ids (cityscapesScripts helpers/labels.py); other ids -> 255.
CITYSCAPES_TRAIN_IDS = np.full(65536, VOID, np.uint8)
CITYSCAPES_TRAIN_IDS[[7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32,
                      33]] = np.arange(19)


def check_size(image: np.ndarray, label: np.ndarray, image_source: object,
               label_source: object) -> None:
    """
    Check that a label map has the size of its image.

    :param image: (H, W, 3) image.
    :param label: (H, W) label map.
    :param image_source: where the image comes from (a path or a bag topic), for the message.
    :param label_source: where the label comes from, for the message.
    :raises DatasetError: when the sizes differ.
    """
    if label.shape[:2] != image.shape[:2]:
        raise DatasetError(f'label {label_source} is {label.shape[1]}x{label.shape[0]} but image '
                           f'{image_source} is {image.shape[1]}x{image.shape[0]}')
