# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Score calibration of a bundle on a validation anomaly set: ensemble weights, range, threshold.

(Not to be confused with INT8 range calibration, :mod:`pixel_anomaly_ros.export.int8_calibration`.)

SynBoost: grid search of the four ensemble weights on a simplex (step 0.25 by default, the
official 0.75/0.25/0/0 is on it) maximising the pixel AP. Then, for both variants, the raw score
range maps to [0, 1] with robust percentiles (``score_lo``/``score_hi``), and the threshold is
the calibrated score at 95 % TPR. The result is written into ``bundle.yaml`` atomically.
"""

import itertools
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
from pixel_anomaly_ros.bundle import (check_bundle_target, ENSEMBLE_TERMS, load_bundle,
                                      write_bundle, write_bundle_spec)
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.evaluation.metrics import ExactPixelMetrics
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.resizing import resize_nearest
from tqdm import tqdm


#: Raw-score percentiles mapped to 0 and 1. Scores above the upper one all become 1 and tie, which
#: loses their ranking; anomalies are often under 1 % of the pixels, so a 99th-percentile clip
#: would tie most of them (measured on the synthetic set: AP 6.7 % raw, 5.1 % clipped at 99).
DEFAULT_PERCENTILES = (1.0, 99.99)


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


def calibrate(bundle_path: str, data: str, out: Optional[str] = None,
              max_images: Optional[int] = None,
              percentiles: Sequence[float] = DEFAULT_PERCENTILES,
              grid_step: float = 0.25, progress: bool = True,
              command: str = '') -> Dict[str, object]:
    """
    Calibrate a bundle and write the result into its ``bundle.yaml``.

    :param bundle_path: the bundle to calibrate.
    :param data: an anomaly folder (``images/``, ``labels/``: 0 inlier, 1 anomaly, 255 void)
        or a ``synth`` output (its ``anomaly`` folder is used).
    :param out: output bundle (default: ``bundle_path``, whose ``bundle.yaml`` alone is
        rewritten, atomically; its weights, exported graphs and other files stay as they are).
        Another directory must be new, empty or a bundle (its weights and ``bundle.yaml`` are
        replaced, nothing else).
    :param max_images: use at most this many images.
    :param percentiles: raw-score percentiles that become 0 and 1.
    :param grid_step: SynBoost ensemble grid step.
    :param progress: show a progress bar.
    :param command: command line recorded in the provenance.
    :return: ``{'ensemble', 'score_lo', 'score_hi', 'threshold', 'ap', 'fpr95', 'images'}``.
    :raises ValueError: if the set has no anomalous or no inlier pixel.
    """
    bundle = load_bundle(bundle_path)
    spec = bundle.spec
    in_place = out is None or Path(out).resolve() == bundle.path.resolve()
    if not in_place:
        check_bundle_target(out, overwrite=True)
    root = Path(data)
    if (root / 'anomaly' / 'images').is_dir():
        root = root / 'anomaly'
    dataset = open_dataset('folder', root)
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    pipeline = create_pipeline(bundle)
    terms, raws, labels = [], [], []
    for index in tqdm(range(count), desc='calibrate', disable=not progress):
        sample = dataset[index]
        maps = pipeline(sample.image, return_maps=True).maps
        shape = maps['raw_score'].shape
        label = resize_nearest(sample.anomaly, shape)
        valid = label != 255
        labels.append(label[valid])
        raws.append(maps['raw_score'][valid])
        if spec.variant == 'synboost_light':
            terms.append(np.stack([resize_nearest(maps[k], shape)[valid]
                                   for k in ENSEMBLE_TERMS], axis=1))
    label = np.concatenate(labels).astype(np.uint8)
    if not (label == 1).any() or not (label == 0).any():
        raise ValueError(f'{root}: calibration needs anomalous and inlier pixels')
    ensemble = dict(spec.ensemble)
    if spec.variant == 'synboost_light':
        stacked = np.concatenate(terms).astype(np.float64)
        best_ap, best = -1.0, None
        for weights in weight_grid(grid_step):
            ap = _metrics(stacked @ weights, label).ap
            if ap > best_ap + 1e-12:
                best_ap, best = ap, weights
        ensemble = {k: float(w) for k, w in zip(ENSEMBLE_TERMS, best)}
        raw = stacked @ best
    else:
        raw = np.concatenate(raws).astype(np.float64)
    lo, hi = (float(v) for v in np.percentile(raw, percentiles))
    if not hi > lo:
        hi = lo + 1e-6
    calibrated = np.clip((raw - lo) / (hi - lo), 0.0, 1.0)
    metrics = _metrics(calibrated, label)
    threshold = metrics.tpr95_threshold
    threshold = 0.5 if not np.isfinite(threshold) else float(np.clip(threshold, 0.0, 1.0))
    spec.ensemble, spec.score_lo, spec.score_hi, spec.threshold = ensemble, lo, hi, threshold
    result = {'ensemble': ensemble, 'score_lo': lo, 'score_hi': hi, 'threshold': threshold,
              'ap': float(metrics.ap), 'fpr95': float(metrics.fpr95), 'images': count}
    spec.provenance = dict(spec.provenance)
    spec.provenance['calibration'] = {'data': str(root), 'command': command,
                                      'percentiles': list(percentiles),
                                      'grid_step': grid_step, **result}
    spec.validation = dict(spec.validation)
    spec.validation['calibration_set'] = {'data': str(root), 'images': count,
                                          'ap': result['ap'], 'fpr95': result['fpr95']}
    if in_place:
        write_bundle_spec(spec, bundle.path)
    else:
        write_bundle(spec, bundle.component_state_dicts(), out, overwrite=True)
    return result
