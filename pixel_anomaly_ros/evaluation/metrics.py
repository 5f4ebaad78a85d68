# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Pixel-level anomaly metrics: AP, AUROC, FPR at 95 % TPR and the best F1 threshold.

All pixel metrics pool every valid pixel of a dataset, as Fishyscapes
(``bdlb/fishyscapes/benchmark.py::calculate_metrics_perpixAP``) and SegmentMeIfYouCan do:
label 1 is an anomaly (positive), label 0 an inlier (negative) and every other value, 255 in
particular, is void and left out. Scores are floats, higher means more anomalous.

Definitions, shared by both accumulators (the sklearn / Fishyscapes ones): every distinct score
``t`` is a threshold, a pixel is predicted anomalous when ``score >= t``, and ``tp(t)``,
``fp(t)`` count the positives and negatives predicted anomalous, thresholds in decreasing order.

* ``AP = sum_k (recall_k - recall_{k-1}) * precision_k`` (step-wise, not trapezoidal; equal to
  sklearn ``average_precision_score``).
* ``AUROC`` = trapezoidal area under (FPR, TPR) starting at (0, 0) (sklearn ``roc_auc_score``).
* ``FPR95`` = FPR at the first threshold whose TPR is at least 0.95 (Fishyscapes
  ``fpr[np.searchsorted(tpr, 0.95)]``).
* ``best_f1`` = ``max 2 tp / (2 tp + fp + fn)`` and the threshold where it is reached; this is
  the score threshold SegmentMeIfYouCan uses for its component metrics.

:class:`ExactPixelMetrics` keeps every valid score (``itemsize`` bytes per pixel) and computes
the metrics exactly. :class:`BinnedPixelMetrics` keeps fixed-size histograms (memory independent
of the number of images, mergeable across workers) and computes the same metrics with every
score bin as one threshold, i.e. exactly the metrics of the quantised scores.
"""

from dataclasses import asdict, dataclass, field
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: Number of score bins of :class:`BinnedPixelMetrics` by default.
DEFAULT_BINS = 1 << 16
#: Most points kept in a :class:`PixelCurve` by default.
DEFAULT_CURVE_POINTS = 1000
#: Label value of anomalous pixels; 0 is inlier, anything else void.
ANOMALY = 1
INLIER = 0
IGNORE = 255


@dataclass(frozen=True)
class PixelCurve:
    """
    Downsampled PR and ROC curves of a pixel evaluation, ordered by decreasing threshold.

    The first point is (FPR, TPR) = (0, 0) with precision 1 (no pixel predicted); the points
    are where TPR or FPR first reach each of ``n`` evenly spaced levels, so both curves keep
    their shape with at most about ``2 n`` points.
    """

    thresholds: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    precision: np.ndarray

    @property
    def recall(self) -> np.ndarray:
        """Return the recall of each point (the TPR)."""
        return self.tpr

    def to_dict(self) -> Dict[str, List[float]]:
        """Return the curve as lists of floats (JSON-ready)."""
        return {'thresholds': self.thresholds.tolist(), 'tpr': self.tpr.tolist(),
                'fpr': self.fpr.tolist(), 'precision': self.precision.tolist()}


@dataclass(frozen=True)
class PixelMetrics:
    """
    Pixel-level metrics of a dataset; rates are fractions in [0, 1].

    ``ap`` and ``best_f1`` are NaN without positives, ``auroc`` and ``fpr95`` are NaN
    without positives or without negatives. ``best_f1_threshold`` and ``tpr95_threshold`` are
    the lowest scores still predicted anomalous (``score >= threshold``) at those points.
    """

    ap: float
    auroc: float
    fpr95: float
    positives: int
    negatives: int
    best_f1: float
    best_f1_threshold: float
    tpr95_threshold: float
    curve: Optional[PixelCurve] = field(default=None, compare=False, repr=False)

    def to_dict(self, curve: bool = False) -> Dict[str, object]:
        """
        Return the metrics as a JSON-ready dictionary.

        :param curve: include the downsampled curves under ``'curve'``.
        :return: field name to value.
        """
        out = {k: v for k, v in asdict(self).items() if k != 'curve'}
        if curve and self.curve is not None:
            out['curve'] = self.curve.to_dict()
        return out


class _CurveReducer:
    """
    Reduce ``(threshold, tp, fp)`` points, in decreasing threshold order, to PixelMetrics.

    Points arrive in chunks so that the exact mode never holds per-threshold arrays of the whole
    dataset. Every threshold must have at least one pixel (no repeated points).
    """

    def __init__(self, positives: int, negatives: int, curve_points: int):
        self.positives = int(positives)
        self.negatives = int(negatives)
        levels = max(1, (curve_points - 1) // 2)
        self._tp_targets = np.arange(1, levels + 1) / levels * self.positives
        self._fp_targets = np.arange(1, levels + 1) / levels * self.negatives
        self._prev_tp = 0
        self._prev_fp = 0
        self._ap_sum = 0.0
        self._roc_sum = 0.0
        self._found95 = False
        self._fpr95 = math.nan
        self._tpr95_threshold = math.nan
        self._best_f1 = -1.0
        self._best_f1_threshold = math.nan
        self._points: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, thresholds: np.ndarray, tp: np.ndarray, fp: np.ndarray) -> None:
        """Add a chunk of points (int64 cumulative counts, thresholds decreasing)."""
        if tp.size == 0:
            return
        p, n = self.positives, self.negatives
        tp_before = np.concatenate(([self._prev_tp], tp[:-1]))
        fp_before = np.concatenate(([self._prev_fp], fp[:-1]))
        precision = tp / (tp + fp)
        self._ap_sum += float(np.dot((tp - tp_before).astype(np.float64), precision))
        self._roc_sum += float(np.dot((fp - fp_before).astype(np.float64),
                                      (tp + tp_before).astype(np.float64)))
        if p > 0 and not self._found95:
            k = int(np.searchsorted(tp / p, 0.95))
            if k < tp.size:
                self._found95 = True
                self._fpr95 = float(fp[k] / n) if n > 0 else math.nan
                self._tpr95_threshold = float(thresholds[k])
        f1 = 2.0 * tp / (tp + fp + p)
        k = int(np.argmax(f1))
        if f1[k] > self._best_f1:
            self._best_f1, self._best_f1_threshold = float(f1[k]), float(thresholds[k])
        picks = [self._crossings(tp, self._prev_tp, self._tp_targets),
                 self._crossings(fp, self._prev_fp, self._fp_targets)]
        picks = np.unique(np.concatenate(picks))
        self._points.append((thresholds[picks].astype(np.float64), tp[picks], fp[picks]))
        self._prev_tp, self._prev_fp = int(tp[-1]), int(fp[-1])

    @staticmethod
    def _crossings(counts: np.ndarray, before: int, targets: np.ndarray) -> np.ndarray:
        """Return the indices where ``counts`` first reaches each target not reached before."""
        todo = targets[(targets > before) & (targets <= counts[-1])]
        return np.searchsorted(counts, todo, side='left')

    def result(self) -> PixelMetrics:
        """Return the metrics of all points added."""
        p, n = self.positives, self.negatives
        thresholds = np.concatenate([[math.inf]] + [c[0] for c in self._points])
        tp = np.concatenate([[0]] + [c[1] for c in self._points]).astype(np.float64)
        fp = np.concatenate([[0]] + [c[2] for c in self._points]).astype(np.float64)
        predicted = tp + fp
        precision = np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0)
        curve = PixelCurve(thresholds=thresholds,
                           tpr=tp / p if p > 0 else np.full_like(tp, math.nan),
                           fpr=fp / n if n > 0 else np.full_like(fp, math.nan),
                           precision=precision)
        defined = p > 0 and n > 0
        return PixelMetrics(
            ap=self._ap_sum / p if p > 0 else math.nan,
            auroc=self._roc_sum / (2.0 * p * n) if defined else math.nan,
            fpr95=self._fpr95 if defined else math.nan,
            positives=p, negatives=n,
            best_f1=self._best_f1 if p > 0 else math.nan,
            best_f1_threshold=self._best_f1_threshold if p > 0 else math.nan,
            tpr95_threshold=self._tpr95_threshold if p > 0 else math.nan,
            curve=curve)


def _check_pair(score: np.ndarray, label: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    score, label = np.asarray(score), np.asarray(label)
    if score.shape != label.shape:
        raise ValueError(f'score shape {score.shape} differs from label shape {label.shape}')
    if not np.issubdtype(score.dtype, np.floating):
        raise ValueError(f'scores must be floating point, got {score.dtype}')
    return score, label


def _label_codes(label: np.ndarray) -> np.ndarray:
    """Return uint8 codes 0 (inlier), 1 (anomaly), 2 (void) of a label map."""
    if label.dtype == np.uint8:
        return np.minimum(label, 2)
    if label.dtype == np.bool_:
        return label.view(np.uint8)
    codes = np.full(label.shape, 2, np.uint8)
    codes[label == INLIER] = 0
    codes[label == ANOMALY] = 1
    return codes


class ExactPixelMetrics:
    """
    Exact pixel metrics: keep every valid score, sort once in :meth:`compute`.

    Positive and negative scores are kept in two lists, cast to ``score_dtype`` (float32 like
    Fishyscapes by default; ``None`` keeps the input type), so :attr:`nbytes` is ``itemsize``
    bytes per valid pixel and no label is stored. Ties are handled as in sklearn: all pixels
    with the same score form one threshold.
    """

    def __init__(self, score_dtype: Optional[np.dtype] = np.float32,
                 curve_points: int = DEFAULT_CURVE_POINTS, chunk: int = 1 << 20):
        """
        Create an empty accumulator.

        :param score_dtype: type the scores are stored as; ``None`` keeps the input type.
        :param curve_points: most points of the downsampled curves.
        :param chunk: thresholds processed at once in :meth:`compute` (bounds its memory).
        """
        self.score_dtype = None if score_dtype is None else np.dtype(score_dtype)
        self.curve_points = curve_points
        self.chunk = int(chunk)
        self._pos: List[np.ndarray] = []
        self._neg: List[np.ndarray] = []

    def update(self, score: np.ndarray, label: np.ndarray) -> None:
        """
        Add one image (or any batch) of scores with its labels.

        :param score: float scores, any shape.
        :param label: labels of the same shape (1 anomaly, 0 inlier, anything else void).
        :raises ValueError: on a shape mismatch, non-float or NaN scores.
        """
        score, label = _check_pair(score, label)
        if self.score_dtype is not None:
            score = score.astype(self.score_dtype, copy=False)
        pos, neg = score[label == ANOMALY], score[label == INLIER]
        if any(a.size and np.isnan(a.min()) for a in (pos, neg)):
            raise ValueError('scores contain NaN')
        self._pos.append(pos)
        self._neg.append(neg)

    def merge(self, other: 'ExactPixelMetrics') -> None:
        """
        Add the pixels of another accumulator.

        :param other: accumulator to copy the pixels of (left unchanged).
        """
        self._pos.extend(a.copy() for a in other._pos)
        self._neg.extend(a.copy() for a in other._neg)

    @property
    def positives(self) -> int:
        """Return the number of anomalous pixels so far."""
        return sum(a.size for a in self._pos)

    @property
    def negatives(self) -> int:
        """Return the number of inlier pixels so far."""
        return sum(a.size for a in self._neg)

    @property
    def nbytes(self) -> int:
        """Return the bytes held by the stored scores."""
        return sum(a.nbytes for a in self._pos) + sum(a.nbytes for a in self._neg)

    @property
    def compute_peak_bytes(self) -> int:
        """
        Return an upper estimate of the bytes held at the peak of :meth:`compute`.

        The stored scores, plus a merged sorted copy, a byte mask and the distinct thresholds
        over all valid pixels, plus the per-chunk work arrays (about 100 bytes per threshold).
        """
        count = self.positives + self.negatives
        itemsize = self._itemsize()
        return 2 * self.nbytes + count * (1 + itemsize) + min(count, self.chunk) * 100

    def _itemsize(self) -> int:
        arrays = self._pos + self._neg
        if arrays:
            return arrays[0].itemsize
        return (self.score_dtype or np.dtype(np.float64)).itemsize

    def compute(self) -> PixelMetrics:
        """
        Compute the metrics over all pixels added so far.

        :return: the metrics, with downsampled curves.
        """
        pos = self._consolidate(self._pos)
        neg = self._consolidate(self._neg)
        reducer = _CurveReducer(pos.size, neg.size, self.curve_points)
        merged = np.concatenate((pos, neg))
        merged.sort(kind='stable')  # two sorted runs: a linear merge
        is_last = np.empty(merged.size, dtype=bool)
        np.not_equal(merged[1:], merged[:-1], out=is_last[:-1])
        is_last[-1:] = True
        thresholds = merged[is_last][::-1]  # distinct scores, decreasing
        del merged, is_last
        for start in range(0, thresholds.size, self.chunk):
            t = thresholds[start:start + self.chunk]
            tp = pos.size - np.searchsorted(pos, t, side='left').astype(np.int64)
            fp = neg.size - np.searchsorted(neg, t, side='left').astype(np.int64)
            reducer.add(t, tp, fp)
        return reducer.result()

    @staticmethod
    def _consolidate(arrays: List[np.ndarray]) -> np.ndarray:
        """Replace the list contents by one sorted array (in place) and return it."""
        if len(arrays) != 1 or arrays[0].ndim != 1:
            joined = np.concatenate([a.ravel() for a in arrays]) if arrays else np.empty(0)
            arrays[:] = [joined]
        arrays[0].sort()
        return arrays[0]


class BinnedPixelMetrics:
    """
    Bounded-memory pixel metrics: histograms of positives and negatives over score bins.

    ``bins`` uniform bins over ``[lo, hi]``; scores below ``lo`` fall in the first bin and
    scores above ``hi`` in the last (clipped), so choose the range of the score. Each bin is one
    threshold (its lower edge; the first bin's is ``-inf``), so the metrics are exactly those
    of the quantised scores. Memory is ``3 * bins`` int64 counts whatever the number of images;
    :meth:`merge` adds counts, so partial accumulators from many workers give bitwise the same
    result as one pass. :attr:`score_range` reports the smallest and largest score seen (void
    pixels included) to check the range.
    """

    def __init__(self, lo: float = 0.0, hi: float = 1.0, bins: int = DEFAULT_BINS,
                 curve_points: int = DEFAULT_CURVE_POINTS):
        """
        Create an empty accumulator.

        :param lo: lower end of the binned score range.
        :param hi: upper end of the binned score range.
        :param bins: number of uniform bins.
        :param curve_points: most points of the downsampled curves.
        :raises ValueError: if ``hi <= lo`` or ``bins < 1``.
        """
        if not hi > lo or bins < 1:
            raise ValueError(f'need lo < hi and bins >= 1, got lo={lo}, hi={hi}, bins={bins}')
        self.lo, self.hi, self.bins = float(lo), float(hi), int(bins)
        self.curve_points = curve_points
        self.counts = np.zeros((3, self.bins), dtype=np.int64)  # inlier, anomaly, void
        self._min, self._max = math.inf, -math.inf

    def update(self, score: np.ndarray, label: np.ndarray) -> None:
        """
        Add one image (or any batch) of scores with its labels.

        :param score: float scores, any shape (float16/32 binned in float32, float64 in
            float64).
        :param label: labels of the same shape (1 anomaly, 0 inlier, anything else void);
            uint8 is the fast path.
        :raises ValueError: on a shape mismatch, non-float or NaN scores.
        """
        score, label = _check_pair(score, label)
        if score.size == 0:
            return
        # float32 holds the integers up to 2**24 exactly: the combined index below fits.
        wide = score.dtype == np.float64 or 3 * self.bins > 1 << 24
        work = np.float64 if wide else np.float32
        low, high = score.min(), score.max()
        if np.isnan(low):
            raise ValueError('scores contain NaN')
        self._min, self._max = min(self._min, float(low)), max(self._max, float(high))
        # index = floor(clip((score - lo) * bins / (hi - lo))) + bins * code, all in floats
        # (integer-valued after the floor, so exact) and cast once: the cheapest sequence.
        index = np.subtract(score, work(self.lo), dtype=work)
        np.multiply(index, work(self.bins / (self.hi - self.lo)), out=index)
        np.clip(index, 0, self.bins - 1, out=index)
        np.floor(index, out=index)
        index += np.multiply(_label_codes(label), work(self.bins), dtype=work)
        counts = np.bincount(index.astype(np.intp).ravel(), minlength=3 * self.bins)
        self.counts += counts.reshape(3, self.bins)

    def merge(self, other: 'BinnedPixelMetrics') -> None:
        """
        Add the counts of another accumulator with the same bins.

        :param other: accumulator to add (left unchanged).
        :raises ValueError: if the bins differ.
        """
        if (other.lo, other.hi, other.bins) != (self.lo, self.hi, self.bins):
            raise ValueError('cannot merge accumulators with different bins')
        self.counts += other.counts
        self._min, self._max = min(self._min, other._min), max(self._max, other._max)

    @property
    def positives(self) -> int:
        """Return the number of anomalous pixels so far."""
        return int(self.counts[1].sum())

    @property
    def negatives(self) -> int:
        """Return the number of inlier pixels so far."""
        return int(self.counts[0].sum())

    @property
    def void(self) -> int:
        """Return the number of void pixels so far."""
        return int(self.counts[2].sum())

    @property
    def score_range(self) -> Tuple[float, float]:
        """Return the smallest and largest score seen (``(inf, -inf)`` before any update)."""
        return self._min, self._max

    @property
    def nbytes(self) -> int:
        """Return the bytes held by the histograms."""
        return self.counts.nbytes

    def bin_edges(self) -> np.ndarray:
        """Return the ``bins + 1`` bin edges over ``[lo, hi]``."""
        return np.linspace(self.lo, self.hi, self.bins + 1)

    def compute(self) -> PixelMetrics:
        """
        Compute the metrics over all pixels added so far.

        :return: the metrics, with downsampled curves.
        """
        neg, pos = self.counts[0, ::-1], self.counts[1, ::-1]
        lower = self.bin_edges()[:-1].copy()
        lower[0] = -math.inf
        used = (pos + neg) > 0
        tp, fp = np.cumsum(pos)[used], np.cumsum(neg)[used]
        reducer = _CurveReducer(self.positives, self.negatives, self.curve_points)
        reducer.add(lower[::-1][used], tp, fp)
        return reducer.result()


def pixel_metrics(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                  binned: bool = False, **kwargs) -> PixelMetrics:
    """
    Compute pixel metrics over lists of score and label maps in one call.

    :param scores: score maps.
    :param labels: label maps, one per score map.
    :param binned: use :class:`BinnedPixelMetrics` instead of :class:`ExactPixelMetrics`.
    :param kwargs: passed to the accumulator.
    :return: the metrics.
    """
    acc = BinnedPixelMetrics(**kwargs) if binned else ExactPixelMetrics(**kwargs)
    for score, label in zip(scores, labels):
        acc.update(score, label)
    return acc.compute()
