# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The metric accumulator of scored frames, shared by ``evaluate``, ``replay`` and the Ray shards.

Memory. Pixel metrics are exact by default (:class:`ExactPixelMetrics`: 4 bytes per valid
pixel and method in RAM) or binned (:class:`BinnedPixelMetrics`, 65536 bins: 1.5 MB per method
whatever the dataset size). Binned accumulators need a score range: the bundle score, max
softmax and entropy lie in [0, 1]; max logit and energy are unbounded and are binned after the
strictly increasing map ``x / (1 + |x|)`` to (-1, 1), which keeps their ranking (thresholds are
mapped back for the report).

Component metrics need the pixel best-F1 threshold of the whole dataset (SegmentMeIfYouCan's
``get_thresh_p_from_curve``), known only after the last frame. Rather than running the
network twice, each frame's calibrated score (float32) and label (uint8) are spooled to a
temporary directory on disk (5 bytes per label pixel; next to the report directory, or in
``spool_dir``) and read back one frame at a time once the pixel metrics are computed, so RAM
holds one frame. The spool is deleted at the end, also on failure. Baselines get pixel metrics
only. :meth:`Evaluator.state` and :meth:`Evaluator.merge` carry the accumulators between
processes (:mod:`.distributed`).
"""

from dataclasses import replace
import math
from pathlib import Path
import shutil
import tempfile
from typing import Collection, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
from pixel_anomaly_ros.evaluation.components import ComponentEvaluator, TRACK_SIZES
from pixel_anomaly_ros.evaluation.evaluator_state import EvaluatorState
from pixel_anomaly_ros.evaluation.metrics import (BinnedPixelMetrics, DEFAULT_BINS,
                                                  ExactPixelMetrics, PixelCurve, PixelMetrics)
from pixel_anomaly_ros.evaluation.report import EvaluationResult, Example
from pixel_anomaly_ros.evaluation.semantic_metrics import SemanticConfusion
from pixel_anomaly_ros.operating_point import OperatingPoint
from pixel_anomaly_ros.resizing import resize_linear, resize_nearest
from pixel_anomaly_ros.stages.graph_io import BASELINE_OUTPUTS

#: Key of the bundle's own score among the methods.
BUNDLE = 'bundle'
#: Result map names of the baseline scores (``create_pipeline(..., baselines=True)``).
BASELINES = BASELINE_OUTPUTS
#: Methods whose scores lie in [0, 1]; the others are squashed for binning.
_UNIT_RANGE = frozenset({BUNDLE, 'baseline_max_softmax', 'baseline_entropy'})
#: Largest width of the example frames kept for the report.
EXAMPLE_WIDTH = 384


def _squash(x: np.ndarray) -> np.ndarray:
    """Map reals to (-1, 1), strictly increasing: ``x / (1 + |x|)``."""
    x = np.asarray(x, dtype=np.float32)
    return x / (1.0 + np.abs(x))


def _unsquash(y):
    """Invert :func:`_squash` (infinities and NaN pass through)."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        x = np.where(np.isfinite(y), y / (1.0 - np.abs(y)), y)
    return x if x.ndim else float(x)


def _unsquash_metrics(m: PixelMetrics) -> PixelMetrics:
    curve = m.curve
    if curve is not None:
        curve = PixelCurve(thresholds=_unsquash(curve.thresholds), tpr=curve.tpr,
                           fpr=curve.fpr, precision=curve.precision)
    return replace(m, best_f1_threshold=_unsquash(m.best_f1_threshold),
                   tpr95_threshold=_unsquash(m.tpr95_threshold), curve=curve)


def example_positions(total: Optional[int], count: int) -> List[int]:
    """
    Choose which frames become examples: ``count`` positions spread over ``total`` frames.

    :param total: number of frames, or None when unknown (then the first ``count``).
    :param count: number of examples wanted.
    :return: sorted frame positions.
    """
    if count <= 0 or total == 0:
        return []
    if total is None:
        return list(range(count))
    return sorted({int(round(p)) for p in np.linspace(0, total - 1, min(count, total))})


class Evaluator:
    """
    Accumulate the metrics of scored frames; shared by ``evaluate`` and ``replay``.

    Use as a context manager (the component spool is deleted on exit) or call :meth:`close`.
    """

    def __init__(self, methods: Sequence[str] = (BUNDLE,), binned: bool = False,
                 bins: int = DEFAULT_BINS, track: str = 'anomaly', num_classes: int = 19,
                 threshold: float = 0.5, examples: Collection[int] = (),
                 spool_dir: Optional[Union[str, Path]] = None,
                 operating_point: Optional[OperatingPoint] = None):
        """
        Create empty accumulators.

        :param methods: ``'bundle'`` and any of :data:`BASELINES`.
        :param binned: bounded-memory binned pixel metrics instead of exact ones.
        :param bins: number of bins of the binned mode.
        :param track: SegmentMeIfYouCan track of the component size filters, ``'anomaly'``
            or ``'obstacle'``.
        :param num_classes: number of semantic classes (mIoU).
        :param threshold: mask threshold of the example frames when no mask is given.
        :param examples: positions (0-based, in :meth:`add` order) of the example frames.
        :param spool_dir: where the temporary score spool goes (default: the system's).
        :param operating_point: the operating point the masks use, reported with the share of
            anomalous and inlier pixels its masks flag here (default: ``threshold``).
        :raises ValueError: for an unknown method or track.
        """
        unknown = [m for m in methods if m != BUNDLE and m not in BASELINES]
        if unknown or BUNDLE not in methods:
            raise ValueError(f'methods must hold {BUNDLE!r} and any of {BASELINES}, got '
                             f'{list(methods)}')
        if track not in TRACK_SIZES:
            raise ValueError(f'unknown track {track!r}; expected one of {sorted(TRACK_SIZES)}')
        self.methods = (BUNDLE,) + tuple(m for m in methods if m != BUNDLE)
        self.binned, self.bins, self.track = binned, int(bins), track
        self.num_classes, self.threshold = int(num_classes), float(threshold)
        self._pixel = {m: self._accumulator(m) for m in self.methods}
        self._semantic: Optional[SemanticConfusion] = None
        self._latency: Dict[str, List[float]] = {}
        self._example_positions = set(examples)
        self._examples: List[Example] = []
        self._saturated = np.zeros(3, np.int64)  # valid pixels, score <= 0, score >= 1
        self._flagged = np.zeros(4, np.int64)  # anomalous, flagged; inlier, flagged
        self.operating_point = operating_point or OperatingPoint('threshold', self.threshold)
        self._pixel_metrics: Optional[Dict[str, PixelMetrics]] = None
        self._spooled = 0
        self.names: List[str] = []
        if spool_dir is not None:
            Path(spool_dir).mkdir(parents=True, exist_ok=True)
        self._spool = Path(tempfile.mkdtemp(prefix='.pixel-anomaly-spool-', dir=spool_dir))

    def _accumulator(self, method: str):
        if not self.binned:
            return ExactPixelMetrics()
        lo = 0.0 if method in _UNIT_RANGE else -1.0
        return BinnedPixelMetrics(lo, 1.0, self.bins)

    def add(self, name: str, image: Optional[np.ndarray], label: np.ndarray, score: np.ndarray,
            mask: Optional[np.ndarray] = None, train_ids: Optional[np.ndarray] = None,
            semantic: Optional[np.ndarray] = None,
            timings_ms: Optional[Dict[str, float]] = None,
            baselines: Optional[Dict[str, np.ndarray]] = None) -> None:
        """
        Add one labelled frame.

        :param name: frame name.
        :param image: (H, W, 3) uint8 RGB image (used for the examples only; may be None).
        :param label: (H, W) uint8 labels, 0 inlier, 1 anomaly, others void.
        :param score: (H, W) float score of the bundle at label resolution.
        :param mask: (H, W) bool mask for the examples; default ``score >= threshold``.
        :param train_ids: (H, W) predicted train ids at label resolution, for mIoU.
        :param semantic: (H, W) ground-truth train ids (255 ignored), for mIoU.
        :param timings_ms: milliseconds per stage of this frame.
        :param baselines: baseline score maps by name, any resolution (resized here).
        :raises ValueError: when the score and label sizes differ.
        """
        score = np.asarray(score, dtype=np.float32)
        if score.shape != label.shape:
            raise ValueError(f'frame {name}: score {score.shape} and label {label.shape} '
                             'differ in size')
        position = len(self.names)
        self.names.append(name)
        self._pixel_metrics = None
        self._pixel[BUNDLE].update(score, label)
        for method in self.methods[1:]:
            if baselines is None or method not in baselines:
                raise ValueError(f'frame {name}: baseline map {method!r} is missing')
            value = resize_linear(np.asarray(baselines[method], np.float32), label.shape)
            if self.binned and method not in _UNIT_RANGE:
                value = _squash(value)
            self._pixel[method].update(value, label)
        valid = label <= 1
        self._saturated += (np.count_nonzero(valid), np.count_nonzero(valid & (score <= 0.0)),
                            np.count_nonzero(valid & (score >= 1.0)))
        flagged = score >= self.threshold if mask is None else np.asarray(mask, bool)
        self._flagged += (np.count_nonzero(label == 1),
                          np.count_nonzero(flagged & (label == 1)),
                          np.count_nonzero(label == 0), np.count_nonzero(flagged & (label == 0)))
        np.save(self._spool / f'{self._spooled:08d}_score.npy', score)
        np.save(self._spool / f'{self._spooled:08d}_label.npy', label)
        self._spooled += 1
        if train_ids is not None and semantic is not None:
            if self._semantic is None:
                self._semantic = SemanticConfusion(self.num_classes)
            self._semantic.update(resize_nearest(train_ids, semantic.shape), semantic)
        if timings_ms:
            self.add_timings(timings_ms)
        if position in self._example_positions:
            self._examples.append(self._example(name, image, label, score, mask))

    def add_timings(self, timings_ms: Dict[str, float]) -> None:
        """
        Record the per-stage milliseconds of one frame (labelled or not).

        :param timings_ms: milliseconds per stage.
        """
        for stage, ms in timings_ms.items():
            self._latency.setdefault(stage, []).append(float(ms))

    def _example(self, name, image, label, score, mask) -> Example:
        h, w = label.shape
        scale = min(1.0, EXAMPLE_WIDTH / w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        mask = score >= self.threshold if mask is None else np.asarray(mask, bool)
        if image is None:
            image = np.zeros((h, w, 3), np.uint8)
        return Example(name=name,
                       image=cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA),
                       label=resize_nearest(label, size),
                       score=resize_linear(score, size),
                       mask=resize_nearest(mask, size))

    def state(self) -> EvaluatorState:
        """Return the mergeable accumulators (not copies; the spool stays here)."""
        return EvaluatorState(dict(self._pixel), self._semantic, self._saturated,
                              list(self.names), self._latency, list(self._examples),
                              self._flagged)

    def merge(self, state: EvaluatorState) -> None:
        """
        Add the accumulators of another evaluator with the same settings (not its spool).

        :param state: :meth:`state` of the other evaluator; methods it lacks are skipped.
        """
        for method, acc in state.pixel.items():
            self._pixel[method].merge(acc)
        if state.semantic is not None:
            if self._semantic is None:
                self._semantic = SemanticConfusion(self.num_classes)
            self._semantic.merge(state.semantic)
        self._saturated += state.saturated
        self._flagged += state.flagged
        self.names += state.names
        for stage, values in state.latency.items():
            self._latency.setdefault(stage, []).extend(values)
        self._examples += state.examples
        self._pixel_metrics = None

    def pixel_metrics(self) -> Dict[str, PixelMetrics]:
        """Return the pixel metrics of every method (empty without frames); computed once."""
        if self._pixel_metrics is None:
            self._pixel_metrics = {}
            for method, acc in self._pixel.items() if self.names else ():
                metrics = acc.compute()
                if self.binned and method not in _UNIT_RANGE:
                    metrics = _unsquash_metrics(metrics)
                self._pixel_metrics[method] = metrics
        return self._pixel_metrics

    def finish(self, title: str, info: Dict[str, object],
               components: Optional[ComponentEvaluator] = None) -> EvaluationResult:
        """
        Compute every metric over the frames added so far.

        :param title: report title.
        :param info: facts about the run for the report.
        :param components: the component pass, already run elsewhere (merged shards); by
            default it runs here over the spool at the bundle's pixel best-F1 threshold.
        :return: the result.
        """
        pixel = self.pixel_metrics()
        if components is None and pixel and not math.isnan(pixel[BUNDLE].best_f1_threshold):
            components = self.component_evaluator(pixel[BUNDLE].best_f1_threshold)
        notes = []
        valid, low, high = (int(v) for v in self._saturated)
        if valid and (low + high) / valid > 0.01:
            notes.append(f'{100 * low / valid:.1f} % of the valid pixels have score 0 and '
                         f'{100 * high / valid:.1f} % score 1: the calibration (score lo/hi) '
                         'clips them, which ties them for every threshold.')
        return EvaluationResult(
            title=title, info=dict(info, mode=self._mode(), track=self.track),
            names=list(self.names), pixel=pixel,
            components=components.compute() if components is not None else None,
            semantic=self._semantic.compute() if self._semantic is not None else None,
            latency_ms={s: np.asarray(v) for s, v in self._latency.items()},
            examples=list(self._examples), notes=notes, operating_point=self._mask_figures())

    def _mask_figures(self) -> Dict[str, object]:
        """Return the operating point of the masks and what they flagged on these frames."""
        anomalous, hit, inlier, false = (int(v) for v in self._flagged)
        point = self.operating_point
        return {'name': point.name, 'threshold': float(self.threshold),
                'calibration_tpr': point.tpr, 'calibration_fpr': point.fpr,
                'tpr': hit / anomalous if anomalous else None,
                'fpr': false / inlier if inlier else None}

    def _mode(self) -> str:
        return f'binned ({self.bins} bins)' if self.binned else 'exact'

    def component_evaluator(self, threshold: float) -> ComponentEvaluator:
        """
        Run the component pass over the spooled frames (those added here, not merged ones).

        :param threshold: score threshold of the predicted components.
        :return: the evaluator, not computed yet (mergeable).
        """
        evaluator = ComponentEvaluator.for_track(self.track, float(threshold))
        for position in range(self._spooled):
            score = np.load(self._spool / f'{position:08d}_score.npy')
            label = np.load(self._spool / f'{position:08d}_label.npy')
            evaluator.update(score, label)
        return evaluator

    def close(self) -> None:
        """Delete the spool."""
        shutil.rmtree(self._spool, ignore_errors=True)

    def __enter__(self) -> 'Evaluator':
        """Return this evaluator."""
        return self

    def __exit__(self, *exc) -> None:
        """Delete the spool."""
        self.close()
