# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Operating points: mask thresholds on a calibrated score, each with the TPR and FPR it measures.

A pixel is flagged when ``score >= threshold`` (as the pipelines do). On a labelled set of
scores (label 1 anomaly, 0 inlier, anything else void) :func:`operating_points` finds:

* ``tpr95``: the highest threshold that flags at least 95 % of the anomalous pixels (the
  Fishyscapes FPR95 point, :attr:`PixelMetrics.tpr95_threshold`);
* ``best_f1``: the threshold of the best pixel F1 (:attr:`PixelMetrics.best_f1_threshold`,
  SegmentMeIfYouCan's component threshold);
* ``fpr1`` / ``fpr5``: the lowest threshold that flags at most 1 % / 5 % of the inlier pixels
  (just above the inlier score ranked ``floor(rate * inliers) + 1`` from the top).

Thresholds are float32 values (the pipelines compare float32 scores) clipped to [0, 1]; every
point's TPR and FPR are counted exactly on the same scores, so a clipped point reports what it
really flags.

:func:`default_operating_point` picks the one the bundle's mask uses by default: ``best_f1``
when its FPR is at most :data:`MAX_DEFAULT_FPR`, else ``fpr5``. Best F1 is the threshold at
which the mask matches the anomalies best (missed and false pixels balanced); the 5 % cap keeps
a weak detector, whose best F1 may sit at a low threshold, from painting large parts of a
normal road. The 95 % TPR point is kept for comparison with the papers but is a poor default:
for a weak detector it flags most of the inlier pixels too.
"""

from typing import Dict, Optional

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.evaluation.metrics import ExactPixelMetrics, PixelMetrics
from pixel_anomaly_ros.operating_point import OperatingPoint

#: FPR targets of the ``fpr*`` points.
FPR_TARGETS = {'fpr1': 0.01, 'fpr5': 0.05}
#: Largest calibration-set FPR of a best-F1 default; above it the default is ``fpr5``.
MAX_DEFAULT_FPR = 0.05


def _count_at_or_above(ordered: np.ndarray, threshold: np.float32) -> int:
    return int(ordered.size - np.searchsorted(ordered, threshold, side='left'))


def _fpr_threshold(negatives: np.ndarray, rate: float) -> np.float32:
    """Return the lowest float32 threshold flagging at most ``rate`` of the sorted negatives."""
    allowed = int(np.floor(rate * negatives.size))
    if allowed >= negatives.size:
        return negatives[0] if negatives.size else np.float32(0.0)
    return np.nextafter(negatives[negatives.size - 1 - allowed], np.float32(np.inf))


def operating_points(score: np.ndarray, label: np.ndarray,
                     metrics: Optional[PixelMetrics] = None) -> Dict[str, Dict[str, float]]:
    """
    Find the operating points of a labelled set of calibrated scores.

    :param score: calibrated scores in [0, 1], any shape.
    :param label: labels of the same shape: 1 anomaly, 0 inlier, anything else void.
    :param metrics: the exact pixel metrics of these scores when already computed.
    :return: ``{name: {'threshold', 'tpr', 'fpr'}}`` for ``tpr95``, ``best_f1``, ``fpr1`` and
        ``fpr5``, in that order.
    :raises ValueError: without anomalous or without inlier pixels.
    """
    score = np.asarray(score, np.float32).reshape(-1)
    label = np.asarray(label).reshape(-1)
    positives, negatives = np.sort(score[label == 1]), np.sort(score[label == 0])
    if not positives.size or not negatives.size:
        raise ValueError('operating points need anomalous and inlier pixels')
    if metrics is None:
        exact = ExactPixelMetrics()
        exact.update(score, label)
        metrics = exact.compute()
    thresholds = {'tpr95': np.float32(metrics.tpr95_threshold),
                  'best_f1': np.float32(metrics.best_f1_threshold)}
    thresholds.update({name: _fpr_threshold(negatives, rate)
                       for name, rate in FPR_TARGETS.items()})
    points = {}
    for name, threshold in thresholds.items():
        threshold = np.clip(threshold, np.float32(0.0), np.float32(1.0))
        points[name] = {
            'threshold': float(threshold),
            'tpr': _count_at_or_above(positives, threshold) / positives.size,
            'fpr': _count_at_or_above(negatives, threshold) / negatives.size}
    return points


def default_operating_point(points: Dict[str, Dict[str, float]]) -> str:
    """
    Choose the default operating point: ``best_f1`` if its FPR <= :data:`MAX_DEFAULT_FPR`.

    :param points: :func:`operating_points` output.
    :return: ``'best_f1'`` or ``'fpr5'``.
    """
    return 'best_f1' if points['best_f1']['fpr'] <= MAX_DEFAULT_FPR else 'fpr5'


def mask_operating_point(bundle: Bundle, name: str = '',
                         threshold: Optional[float] = None) -> OperatingPoint:
    """
    Return the operating point masks use: a threshold given, else a recorded (or default) one.

    :param bundle: the bundle.
    :param name: operating point name; empty for the bundle default.
    :param threshold: a threshold in [0, 1] that overrides the operating point.
    :return: the point (a given threshold is named ``'given'``, unmeasured).
    :raises ValueError: for a threshold outside [0, 1] or both a threshold and a name.
    :raises BundleError: for a name the bundle does not record.
    """
    if threshold is None:
        return bundle.spec.operating_point(name)
    if name:
        raise ValueError('give either an operating point or a threshold, not both')
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f'the threshold applies to the calibrated score in [0, 1], got '
                         f'{threshold}')
    return OperatingPoint('given', float(threshold))
