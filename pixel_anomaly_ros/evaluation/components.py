# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SegmentMeIfYouCan component-level metrics: sIoU, PPV and mean F1.

Follows ``road_anomaly_benchmark/metrics/instance_segmentation.py`` of
SegmentMeIfYouCan/road-anomaly-benchmark (``default_instancer``, ``segment_metrics`` and
``MetricSegment.aggregate``). Per image:

1. The prediction is ``score >= threshold`` (or a given boolean mask), with void pixels
   (label not 0 or 1) set to 0. Its 8-connected components (``scipy.ndimage.label`` with a 3x3
   structure) smaller than ``min_pred_size`` pixels are removed.
2. Ground-truth components are the 8-connected components of ``label == 1``; those smaller
   than ``min_gt_size`` pixels become void.
3. Both are restricted to the region of interest (non-void pixels after step 2).
4. For each ground-truth component ``k``, with ``K`` the union of predicted components that
   touch it, ``sIoU(k) = |k & K| / |(k | K) minus other ground-truth components|``: predicted
   pixels lying on other ground-truth components do not count in the union.
   For each predicted component ``j``, ``PPV(j) = |j & ground truth| / |j|``, and its sIoU is
   defined symmetrically.
5. For each ``tau`` in 0.25, 0.30, ..., 0.75: TP = ground-truth components with sIoU >= tau,
   FN = the others, FP = predicted components with PPV < tau.

Over the dataset, TP/FN/FP are summed, ``F1(tau) = 2 TP / (2 TP + FN + FP)`` and the mean F1
is the mean over the 11 values of ``tau``; the reported sIoU and PPV are means over all
components of the dataset (component-weighted, not per image).

Size filters: the AnomalyTrack (RoadAnomaly21) uses ``min_pred_size=500, min_gt_size=100``,
the ObstacleTrack (RoadObstacle21, LostAndFound) ``50, 10`` (``MetricSegment.configs``).

Score threshold: SegmentMeIfYouCan does not choose it per image; it reads the threshold of the
best pixel-level F1 of the same method on the same dataset from its pixel curve
(``MetricSegment.get_thresh_p_from_curve`` -> ``best_f1_threshold``). The pixel evaluation
therefore runs first: pass :attr:`PixelMetrics.best_f1_threshold
<pixel_anomaly_ros.evaluation.metrics.PixelMetrics>` of
:class:`~pixel_anomaly_ros.evaluation.metrics.ExactPixelMetrics` or
:class:`~pixel_anomaly_ros.evaluation.metrics.BinnedPixelMetrics` here. One deviation: their
instancer predicts ``score > threshold`` while their pixel curve counts a threshold's own bin
as predicted; we use ``score >= threshold``, the set whose F1 is the best one (with exact
thresholds, ``>`` would drop every pixel at the threshold, all of them for binary scores).
"""

from dataclasses import asdict, dataclass
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage

#: The 11 sIoU / PPV thresholds of the mean F1 (``np.linspace(0.25, 0.75, 11)``).
SIOU_THRESHOLDS = tuple(float(t) for t in np.linspace(0.25, 0.75, 11))
#: 8-connectivity.
STRUCTURE = np.ones((3, 3), dtype=np.uint8)
#: (min_pred_size, min_gt_size) of the SegmentMeIfYouCan tracks.
TRACK_SIZES = {'anomaly': (500, 100), 'obstacle': (50, 10)}


@dataclass(frozen=True)
class FrameComponents:
    """Per-component results of one image (arrays ordered by component id)."""

    siou_gt: np.ndarray
    siou_pred: np.ndarray
    ppv: np.ndarray


def _components(mask: np.ndarray, min_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Return 8-connected component ids (compact, 1..n; 0 background) and their sizes."""
    ids, count = ndimage.label(mask, structure=STRUCTURE)
    sizes = np.bincount(ids.ravel(), minlength=count + 1)
    keep = sizes >= min_size
    keep[0] = False
    remap = np.cumsum(keep) * keep
    return remap[ids], sizes[keep]


def frame_components(prediction: np.ndarray, label: np.ndarray, min_pred_size: int = 500,
                     min_gt_size: int = 100) -> FrameComponents:
    """
    Compute sIoU of every ground-truth and predicted component and PPV of every prediction.

    :param prediction: boolean (H, W) anomaly prediction.
    :param label: (H, W) labels, 1 anomaly, 0 inlier, anything else void.
    :param min_pred_size: predicted components with fewer pixels are removed.
    :param min_gt_size: ground-truth components with fewer pixels become void.
    :return: per-component sIoU (ground truth, prediction) and PPV.
    :raises ValueError: if the shapes differ or are not 2-D.
    """
    prediction, label = np.asarray(prediction, dtype=bool), np.asarray(label)
    if prediction.shape != label.shape or prediction.ndim != 2:
        raise ValueError(f'need 2-D maps of one shape, got {prediction.shape} and {label.shape}')
    anomaly = label == 1
    valid = anomaly | (label == 0)
    pred, _ = _components(prediction & valid, min_pred_size)
    gt, gt_sizes = _components(anomaly, min_gt_size)
    # Small ground-truth components are void now: drop predicted pixels on them.
    pred[anomaly & (gt == 0)] = 0
    n_gt, n_pred = gt_sizes.size, int(pred.max(initial=0))
    size_gt = np.bincount(gt.ravel(), minlength=n_gt + 1).astype(np.float64)
    size_pred = np.bincount(pred.ravel(), minlength=n_pred + 1).astype(np.float64)
    both = (gt > 0) & (pred > 0)
    pairs, overlap = np.unique(gt[both].astype(np.int64) * (n_pred + 1) + pred[both],
                               return_counts=True)
    pair_gt, pair_pred = np.divmod(pairs, n_pred + 1)
    # Pixels of each ground-truth component covered by any prediction, and vice versa.
    hit_gt = np.bincount(pair_gt, weights=overlap, minlength=n_gt + 1)
    hit_pred = np.bincount(pair_pred, weights=overlap, minlength=n_pred + 1)
    # Adjusted union: the component itself plus the pixels of the touching components of the
    # other side that lie on no component of this side.
    extra_gt = np.bincount(pair_gt, weights=(size_pred - hit_pred)[pair_pred], minlength=n_gt + 1)
    extra_pred = np.bincount(pair_pred, weights=(size_gt - hit_gt)[pair_gt],
                             minlength=n_pred + 1)
    siou_gt = hit_gt[1:] / (size_gt[1:] + extra_gt[1:])
    # Predicted components entirely on void pixels are not counted (no pixel in the ROI).
    inside = size_pred[1:] > 0
    siou_pred = hit_pred[1:][inside] / (size_pred[1:][inside] + extra_pred[1:][inside])
    ppv = hit_pred[1:][inside] / size_pred[1:][inside]
    return FrameComponents(siou_gt=siou_gt, siou_pred=siou_pred, ppv=ppv)


@dataclass(frozen=True)
class ComponentMetrics:
    """
    Component-level metrics of a dataset (fractions in [0, 1]; NaN when undefined).

    ``siou`` is the mean sIoU over ground-truth components, ``ppv`` the mean PPV over predicted
    components, ``mean_f1`` the mean of ``f1`` over ``thresholds``; ``tp``, ``fn`` and ``fp``
    are the summed counts at each threshold.
    """

    siou: float
    ppv: float
    mean_f1: float
    siou_pred: float
    gt_components: int
    pred_components: int
    thresholds: Tuple[float, ...]
    f1: Tuple[float, ...]
    tp: Tuple[int, ...]
    fn: Tuple[int, ...]
    fp: Tuple[int, ...]
    score_threshold: Optional[float]

    def to_dict(self) -> Dict[str, object]:
        """Return the metrics as a JSON-ready dictionary."""
        return asdict(self)


class ComponentEvaluator:
    """
    Accumulate SegmentMeIfYouCan component metrics over images (see the module docstring).

    Per-component sIoU and PPV values are kept (a few floats per component), so the counts at
    every threshold are exact and :meth:`merge` of partial evaluators equals one pass.
    """

    def __init__(self, threshold: Optional[float] = None, min_pred_size: int = 500,
                 min_gt_size: int = 100, siou_thresholds: Sequence[float] = SIOU_THRESHOLDS):
        """
        Create an empty evaluator.

        :param threshold: score threshold (pixels with ``score >= threshold`` are anomalous),
            normally ``PixelMetrics.best_f1_threshold``; may be ``None`` when only boolean
            predictions are passed.
        :param min_pred_size: predicted components with fewer pixels are removed.
        :param min_gt_size: ground-truth components with fewer pixels become void.
        :param siou_thresholds: the ``tau`` values of the F1 scores.
        """
        self.threshold = threshold
        self.min_pred_size = int(min_pred_size)
        self.min_gt_size = int(min_gt_size)
        self.siou_thresholds = tuple(float(t) for t in siou_thresholds)
        self._frames: List[FrameComponents] = []

    @classmethod
    def for_track(cls, track: str, threshold: Optional[float] = None) -> 'ComponentEvaluator':
        """
        Create an evaluator with the size filters of a SegmentMeIfYouCan track.

        :param track: ``'anomaly'`` (RoadAnomaly21) or ``'obstacle'`` (RoadObstacle21, LAF).
        :param threshold: score threshold, see :meth:`__init__`.
        :return: the evaluator.
        :raises ValueError: for an unknown track.
        """
        if track not in TRACK_SIZES:
            raise ValueError(f'unknown track {track!r}; expected one of {sorted(TRACK_SIZES)}')
        min_pred_size, min_gt_size = TRACK_SIZES[track]
        return cls(threshold, min_pred_size=min_pred_size, min_gt_size=min_gt_size)

    def update(self, score_or_prediction: np.ndarray, label: np.ndarray) -> FrameComponents:
        """
        Add one image.

        :param score_or_prediction: (H, W) float scores (thresholded at ``threshold``) or a
            boolean prediction mask used as is.
        :param label: (H, W) labels, 1 anomaly, 0 inlier, anything else void.
        :return: the per-component results of this image.
        :raises ValueError: for float scores without a threshold, or bad shapes.
        """
        x = np.asarray(score_or_prediction)
        if x.dtype != np.bool_:
            if self.threshold is None:
                raise ValueError('scores need a threshold; pass a boolean prediction instead')
            x = x >= self.threshold
        frame = frame_components(x, label, self.min_pred_size, self.min_gt_size)
        self._frames.append(frame)
        return frame

    def merge(self, other: 'ComponentEvaluator') -> None:
        """
        Add the images of another evaluator.

        :param other: evaluator to take the images of (left unchanged).
        """
        self._frames.extend(other._frames)

    def compute(self) -> ComponentMetrics:
        """
        Compute the dataset-level metrics over all images added so far.

        :return: the metrics.
        """
        siou_gt = np.concatenate([np.empty(0)] + [f.siou_gt for f in self._frames])
        siou_pred = np.concatenate([np.empty(0)] + [f.siou_pred for f in self._frames])
        ppv = np.concatenate([np.empty(0)] + [f.ppv for f in self._frames])
        tp = tuple(int(np.count_nonzero(siou_gt >= t)) for t in self.siou_thresholds)
        fn = tuple(int(np.count_nonzero(siou_gt < t)) for t in self.siou_thresholds)
        fp = tuple(int(np.count_nonzero(ppv < t)) for t in self.siou_thresholds)
        f1 = tuple(2 * a / (2 * a + b + c) if a + b + c else math.nan
                   for a, b, c in zip(tp, fn, fp))
        return ComponentMetrics(
            siou=_mean(siou_gt), ppv=_mean(ppv), mean_f1=float(np.mean(f1)),
            siou_pred=_mean(siou_pred), gt_components=int(siou_gt.size),
            pred_components=int(ppv.size), thresholds=self.siou_thresholds, f1=f1, tp=tp,
            fn=fn, fp=fp, score_threshold=self.threshold)


def _mean(values: np.ndarray) -> float:
    # Sorted first, so that the mean does not depend on the order evaluators were merged in.
    return float(np.sort(values).mean()) if values.size else math.nan
