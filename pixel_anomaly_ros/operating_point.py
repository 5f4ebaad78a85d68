# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The operating points of a bundle: named mask thresholds on the calibrated score.

``calibrate`` measures them (:mod:`pixel_anomaly_ros.evaluation.operating_points`) and writes
them under ``score.operating_points`` of ``bundle.yaml``; ``run``, ``evaluate``, ``replay`` and
the node pick one by name.
"""

from typing import NamedTuple, Optional

#: Operating points ``calibrate`` records: a threshold on the calibrated score each, with the TPR
#: and FPR measured at it on the calibration set (``score.operating_points``).
OPERATING_POINTS = {
    'tpr95': '95 % of the anomalous pixels flagged (the Fishyscapes FPR95 point)',
    'best_f1': 'the best pixel F1 (the SegmentMeIfYouCan component threshold)',
    'fpr1': 'at most 1 % of the inlier pixels flagged',
    'fpr5': 'at most 5 % of the inlier pixels flagged',
}
#: Name shown for a threshold that is no recorded operating point.
CUSTOM_THRESHOLD = 'threshold'


class OperatingPoint(NamedTuple):
    """A mask threshold and what it measured on the calibration set (None: not measured)."""

    name: str
    threshold: float
    tpr: Optional[float] = None
    fpr: Optional[float] = None

    def describe(self) -> str:
        """Return e.g. ``best_f1 (score >= 0.62; calibration set: TPR 41.0 %, FPR 0.8 %)``."""
        measured = '' if self.tpr is None or self.fpr is None else \
            f'; calibration set: TPR {100 * self.tpr:.1f} %, FPR {100 * self.fpr:.1f} %'
        return f'{self.name} (score >= {self.threshold:.4g}{measured})'
