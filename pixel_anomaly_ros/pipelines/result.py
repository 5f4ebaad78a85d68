# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one result object every pipeline call returns."""

from dataclasses import dataclass, field
from typing import Dict

import numpy as np


@dataclass
class AnomalyResult:
    """
    Output of one pipeline call, all maps at the requested output size.

    :ivar score: (H, W) float32 calibrated anomaly score in [0, 1].
    :ivar mask: (H, W) bool, ``score >= threshold``.
    :ivar train_ids: (H, W) uint8 class ids (Cityscapes train ids 0..18 unless the bundle's
        segmentation is an ONNX model with other classes).
    :ivar timings_ms: milliseconds per stage, in run order.
    :ivar maps: optional extra maps at network resolution (e.g. ``raw_score``, ``entropy``),
        filled only when the pipeline is asked for them.
    """

    score: np.ndarray
    mask: np.ndarray
    train_ids: np.ndarray
    timings_ms: Dict[str, float]
    maps: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        """Sum of all stage times."""
        return float(sum(self.timings_ms.values()))
