# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Gaussian smoothing of a raw anomaly score map (``score.smoothing`` of ``bundle.yaml``).

An anomaly is an object, many pixels wide; a lone high pixel on an edge or in the road texture is
more often a false alarm. Smoothing the raw score lowers such isolated peaks and fills the inside
of objects the networks see only in part, which is what the FPR95 counts. PEBAL's official code
smooths its energy the same way (7x7, sigma 1, inside :class:`~pixel_anomaly_ros.stages.graphs.
EnergyGraph`); this smoothing comes after the graphs, at the raw score's resolution, with the
sigma that ``calibrate`` chose on the calibration set, so exported graphs never change with it.
It is linear: smoothing an ensemble equals the ensemble of the smoothed terms.
"""

import cv2
import numpy as np


def smooth_score(raw: np.ndarray, sigma: float) -> np.ndarray:
    """
    Smooth a 2-D score map with a Gaussian (reflect-101 borders, as PEBAL's blur).

    :param raw: (h, w) float map (float16 is smoothed in float32).
    :param sigma: standard deviation in pixels of ``raw``; 0 returns ``raw`` itself.
    :return: a new smoothed map (the kernel spans about 8 sigma + 1 pixels, OpenCV's choice for
        floating-point maps).
    """
    if sigma <= 0:
        return raw
    if raw.dtype not in (np.float32, np.float64):
        raw = raw.astype(np.float32)
    return cv2.GaussianBlur(raw, (0, 0), float(sigma), borderType=cv2.BORDER_REFLECT_101)
