# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Score calibration of a bundle on a validation anomaly set: ensemble weights, range, threshold.

(Not to be confused with INT8 range calibration, :mod:`pixel_anomaly_ros.export.int8_calibration`.)

The search tries each Gaussian ``score.smoothing`` sigma of the raw score
(:mod:`pixel_anomaly_ros.score_smoothing`; 0, 1, 2 and 3 raw-score pixels by default) and, for
SynBoost, each weight vector of the four ensemble terms on a simplex grid (step 0.25 by default,
the official 0.75/0.25/0/0 is on it); it keeps the choice that maximises an objective of
:data:`OBJECTIVES`: by default the pixel AP minus the FPR95, so that a little AP is not bought
with many false alarms. Then the smoothed raw score's range maps to [0, 1] with robust
percentiles (``score_lo``/``score_hi``), and the operating points (95 % TPR, best F1, FPR 1 % and
5 %, each with its measured TPR and FPR; :mod:`pixel_anomaly_ros.evaluation.operating_points`)
are found on the calibrated scores; the bundle's threshold is the default one's. A bundle whose
segmentation is an ONNX model runs on ONNX Runtime and, with the SML scorer, first gets its class
statistics (:mod:`pixel_anomaly_ros.training.sml_statistics`). The result is written into
``bundle.yaml`` atomically; the exported graphs do not depend on it. Any dataset kind of
``evaluate`` can serve (``dataset``, ``options``).
"""

import itertools
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import (ENSEMBLE_TERMS, load_bundle, MAX_SMOOTHING,
                                      SMOOTHING_CANDIDATES)
from pixel_anomaly_ros.bundle_writer import check_bundle_target, write_bundle, write_bundle_spec
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.evaluation.metrics import ExactPixelMetrics
from pixel_anomaly_ros.evaluation.operating_points import (default_operating_point,
                                                           operating_points)
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.resizing import resize_nearest
from pixel_anomaly_ros.score_smoothing import smooth_score
from pixel_anomaly_ros.training.sml_statistics import prepare_external_scoring
from tqdm import tqdm


#: Raw-score percentiles mapped to 0 and 1. Scores above the upper one all become 1 and tie, which
#: loses their ranking; anomalies are often under 1 % of the pixels, so a 99th-percentile clip
#: would tie most of them (measured on the synthetic set: AP 6.7 % raw, 5.1 % clipped at 99).
DEFAULT_PERCENTILES = (1.0, 99.99)


#: What the ensemble grid search maximises, from the pixel metrics of the calibration set.
#: ``ap_fpr95``: AP - FPR95 (both in [0, 1]); ``ap``: the AP alone.
OBJECTIVES = {
    'ap_fpr95': lambda metrics: metrics.ap - metrics.fpr95,
    'ap': lambda metrics: metrics.ap,
}


def weight_grid(step: float = 0.25) -> np.ndarray:
    """
    Return every weight vector of the four ensemble terms on a simplex grid.

    :param step: grid step; weights are multiples of it summing to 1.
    :return: (N, 4) float array.
    """
    n = int(round(1.0 / step))
    rows = [c for c in itertools.product(range(n + 1), repeat=len(ENSEMBLE_TERMS))
            if sum(c) == n]
    return np.asarray(rows, np.float64) / n


def _metrics(score: np.ndarray, label: np.ndarray):
    metrics = ExactPixelMetrics()
    metrics.update(score.astype(np.float32), label)
    return metrics.compute()


def _search(maps_2d: List[List[np.ndarray]], valid: List[np.ndarray], label: np.ndarray,
            sigmas: Sequence[float], weights: np.ndarray, goal: Callable, progress: bool
            ) -> Tuple[float, np.ndarray, np.ndarray]:
    """
    Find the smoothing sigma and ensemble weights that maximise ``goal`` (first best wins).

    :param maps_2d: per image, the maps the raw score is a weighted sum of (one for PEBAL).
    :param valid: per image, the non-void pixels at the maps' size.
    :param label: the labels of the non-void pixels, concatenated.
    :param sigmas: smoothing candidates, ascending.
    :param weights: (N, len(maps)) weight candidates.
    :param goal: objective of the pixel metrics.
    :param progress: show a progress bar.
    :return: the sigma, the weights and the non-void raw scores they give.
    """
    best_value, best = -np.inf, None
    bar = tqdm(total=len(sigmas) * len(weights), desc='search', disable=not progress)
    for sigma in sigmas:
        stacked = np.concatenate([
            np.stack([smooth_score(m, sigma) for m in maps], axis=-1)[keep]
            for maps, keep in zip(maps_2d, valid)]).astype(np.float64)
        for candidate in weights:
            raw = stacked @ candidate
            value = goal(_metrics(raw, label))
            if value > best_value + 1e-12:
                best_value, best = value, (float(sigma), candidate, raw)
            bar.update()
    bar.close()
    return best


def calibrate(bundle_path: str, data: str, out: Optional[str] = None,
              max_images: Optional[int] = None,
              percentiles: Sequence[float] = DEFAULT_PERCENTILES,
              grid_step: float = 0.25, objective: str = 'ap_fpr95',
              smoothing: Sequence[float] = SMOOTHING_CANDIDATES, progress: bool = True,
              command: str = '', dataset: str = 'folder',
              options: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """
    Calibrate a bundle and write the result into its ``bundle.yaml``.

    :param bundle_path: the bundle to calibrate.
    :param data: the dataset root: for ``folder`` an anomaly folder (``images/``, ``labels/``)
        or a ``synth`` output (its ``anomaly`` folder is used).
    :param out: output bundle (default: ``bundle_path``, whose ``bundle.yaml`` alone is
        rewritten, atomically; its weights, exported graphs and other files stay as they are).
        Another directory must be new, empty or a bundle (its weights and ``bundle.yaml`` are
        replaced, nothing else).
    :param max_images: use at most this many images.
    :param percentiles: raw-score percentiles that become 0 and 1.
    :param grid_step: SynBoost ensemble grid step.
    :param objective: what the grid search maximises, a key of :data:`OBJECTIVES`.
    :param smoothing: ``score.smoothing`` candidates (Gaussian sigmas in raw-score pixels, 0 for
        none) searched together with the ensemble weights; one value fixes it.
    :param progress: show a progress bar.
    :param command: command line recorded in the provenance.
    :param dataset: dataset kind (a key of ``evaluation.datasets.DATASETS``).
    :param options: keyword options of the dataset's opener.
    :return: ``{'ensemble', 'smoothing', 'score_lo', 'score_hi', 'threshold', 'operating_point',
        'operating_points', 'ap', 'fpr95', 'images'}`` (and ``sml`` when SML statistics were
        measured).
    :raises ValueError: if the set has no anomalous or no inlier pixel, or on a bad option.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f'unknown objective {objective!r}; choose one of {sorted(OBJECTIVES)}')
    if not smoothing or not all(0.0 <= s <= MAX_SMOOTHING for s in smoothing):
        raise ValueError(f'smoothing sigmas must lie in [0, {MAX_SMOOTHING:g}] (raw-score '
                         f'pixels, 0 for none), got {list(smoothing)}')
    bundle = load_bundle(bundle_path)
    spec = bundle.spec
    in_place = out is None or Path(out).resolve() == bundle.path.resolve()
    if not in_place:
        check_bundle_target(out, overwrite=True)
    root = Path(data)
    if dataset == 'folder' and (root / 'anomaly' / 'images').is_dir():
        root = root / 'anomaly'
    samples = open_dataset(dataset, root, **dict(options or {}))
    count = len(samples) if max_images is None else min(max_images, len(samples))
    scoring = prepare_external_scoring(bundle, samples, count, progress)
    pipeline = create_pipeline(scoring.bundle, scoring.backend)
    light = spec.variant == 'synboost_light'
    maps_2d, labels = [], []
    for sample in tqdm(itertools.islice(samples, count), total=count, desc='calibrate',
                       disable=not progress):
        maps = pipeline(sample.image, return_maps=True).maps  # raw_score: before smoothing
        shape = maps['raw_score'].shape
        labels.append(resize_nearest(sample.anomaly, shape))
        maps_2d.append([np.array(resize_nearest(maps[k], shape), dtype=np.float32)
                        for k in (ENSEMBLE_TERMS if light else ('raw_score',))])
    valid = [lab != 255 for lab in labels]
    label = np.concatenate([lab[keep] for lab, keep in zip(labels, valid)]).astype(np.uint8)
    if not (label == 1).any() or not (label == 0).any():
        raise ValueError(f'{root}: calibration needs anomalous and inlier pixels')
    weights = weight_grid(grid_step) if light else np.ones((1, 1))
    sigmas = sorted({float(s) for s in smoothing})
    sigma, best, raw = _search(maps_2d, valid, label, sigmas, weights, OBJECTIVES[objective],
                               progress)
    ensemble = {k: float(w) for k, w in zip(ENSEMBLE_TERMS, best)} if light \
        else dict(spec.ensemble)
    lo, hi = (float(v) for v in np.percentile(raw, percentiles))
    if not hi > lo:
        hi = lo + 1e-6
    calibrated = np.clip((raw - lo) / (hi - lo), 0.0, 1.0)
    metrics = _metrics(calibrated, label)
    points = operating_points(calibrated, label, metrics)
    default = default_operating_point(points)
    threshold = points[default]['threshold']
    spec.ensemble, spec.smoothing = ensemble, sigma
    spec.score_lo, spec.score_hi, spec.threshold = lo, hi, threshold
    spec.operating_points, spec.default_operating_point = points, default
    result = {'ensemble': ensemble, 'smoothing': sigma, 'score_lo': lo, 'score_hi': hi,
              'threshold': threshold, 'operating_point': default, 'operating_points': points,
              'ap': float(metrics.ap), 'fpr95': float(metrics.fpr95), 'images': count,
              **scoring.summary}
    spec.provenance = dict(spec.provenance)
    spec.provenance['calibration'] = {'data': str(root), 'dataset': dataset,
                                      'options': dict(options or {}), 'command': command,
                                      'percentiles': list(percentiles),
                                      'grid_step': grid_step, 'objective': objective,
                                      'smoothing_candidates': sigmas,
                                      **{k: v for k, v in result.items()
                                         if k != 'operating_points'}}
    spec.validation = dict(spec.validation)
    spec.validation['calibration_set'] = {'data': str(root), 'images': count,
                                          'ap': result['ap'], 'fpr95': result['fpr95']}
    if in_place:
        write_bundle_spec(spec, bundle.path, files=scoring.files)
    else:
        write_bundle(spec, bundle.component_state_dicts(), out, overwrite=True,
                     files=scoring.files)
    return result
