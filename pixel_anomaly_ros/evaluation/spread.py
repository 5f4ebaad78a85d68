# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How far a figure moves from one sample of scenes to the next: pixel metrics per part of a set.

Pixel AP and FPR95 over a few dozen synthetic scenes are dominated by the few near, large
anomalies: one object that a detector misses can move FPR95 by tens of points. Splitting the
test set into consecutive parts of equal size and computing the metrics of each part shows how
much of a difference between two detectors, or between a detector and its goal, is the sample.
"""

from typing import List

import numpy as np
from pixel_anomaly_ros.evaluation.metrics import ExactPixelMetrics, PixelMetrics


class PartMetrics:
    """
    Exact pixel metrics of consecutive parts of ``frames_per_part`` frames, fed frame by frame.

    Only the part being filled keeps its scores; a finished part keeps its metrics alone.
    """

    def __init__(self, frames_per_part: int):
        """
        Start with no frame.

        :param frames_per_part: frames in each part (at least 1).
        :raises ValueError: for fewer than one frame per part.
        """
        if frames_per_part < 1:
            raise ValueError(f'frames_per_part must be at least 1, got {frames_per_part}')
        self.frames_per_part = int(frames_per_part)
        self._current = ExactPixelMetrics()
        self._frames = 0
        self._parts: List[PixelMetrics] = []

    def add(self, score: np.ndarray, label: np.ndarray) -> None:
        """
        Add one frame; a part is measured as soon as it is full.

        :param score: score map.
        :param label: label map of the same shape (1 anomaly, 0 inlier, anything else void).
        """
        self._current.update(score, label)
        self._frames += 1
        if self._frames == self.frames_per_part:
            self._parts.append(self._current.compute())
            self._current, self._frames = ExactPixelMetrics(), 0

    def parts(self) -> List[PixelMetrics]:
        """
        Return the metrics of every full part, in the order of the frames.

        A last part with fewer frames is left out, so that every part weighs the same.

        :return: one :class:`PixelMetrics` per full part.
        """
        return list(self._parts)
