# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The two resize conventions of the package, one per purpose, on numpy arrays.

* :func:`resize_nearest` for label maps, train ids and masks: nearest neighbour sampled at pixel
  centres, ``source = floor((target + 0.5) * in / out)`` in float32, the convention of PIL's
  NEAREST (the official SynBoost code) and of the stage graphs' ``nearest-exact``
  (:func:`pixel_anomaly_ros.stages.graphs.resize_nearest_exact`), so a label resized here lines
  up with one resized inside a graph.
* :func:`resize_linear` for camera images and score maps: bilinear with half-pixel centres
  (OpenCV ``INTER_LINEAR``, as ``align_corners=False``).

Sizes are ``(height, width)`` as everywhere in the package. Both write into ``out`` when given,
so per-frame callers allocate nothing, and return the input itself when no resize is needed.
"""

from functools import lru_cache
from typing import Optional, Tuple

import cv2
import numpy as np


@lru_cache(maxsize=64)
def _nearest_indices(size_out: int, size_in: int) -> np.ndarray:
    scale = np.float32(size_in) / np.float32(size_out)
    centres = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * scale
    indices = np.minimum(np.floor(centres).astype(np.intp), size_in - 1)
    indices.flags.writeable = False
    return indices


def resize_nearest(array: np.ndarray, size: Tuple[int, int],
                   out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Resize a label map, train-id map or mask by nearest-neighbour sampling at pixel centres.

    :param array: (H, W) or (H, W, C) array of any dtype (bool included).
    :param size: output (height, width).
    :param out: array of the output shape and dtype to write into, or None.
    :return: the resized array; ``array`` itself when it has this size and no ``out`` is given.
    """
    height, width = size
    if array.shape[:2] == (height, width):
        if out is None:
            return array
        np.copyto(out, array)
        return out
    rows = np.take(array, _nearest_indices(height, array.shape[0]), axis=0)
    return np.take(rows, _nearest_indices(width, array.shape[1]), axis=1, out=out)


def resize_linear(array: np.ndarray, size: Tuple[int, int],
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Resize a camera image or a score map bilinearly (half-pixel centres).

    :param array: (H, W) or (H, W, C) uint8 or float32 array.
    :param size: output (height, width).
    :param out: array of the output shape and dtype to write into, or None.
    :return: the resized array; ``array`` itself when it has this size and no ``out`` is given.
    """
    height, width = size
    if array.shape[:2] == (height, width) and out is None:
        return array
    return cv2.resize(array, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
