# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SML class statistics, and score calibration of bundles whose segmentation is an ONNX model.

Standardized Max Logits (Jung et al., ICCV 2021, Sec. 3.2) standardise each pixel's max logit
with the mean and standard deviation of the max logit over the pixels *predicted* as the same
class. The official ``calculate_statistics.py`` measures them on training images with
``torch.mean`` and ``torch.var`` (unbiased); here they are measured by ``calibrate`` on the
calibration images, over the pixels labelled inlier (anomalies and void left out), at the
stage graph's input resolution (the resized logits the scorer sees). A class predicted on fewer
than :data:`MIN_PIXELS` pixels gets the statistics of all pixels together, and is listed.

:func:`prepare_external_scoring` is what ``calibrate`` needs for such bundles: the ONNX Runtime
backend (torch cannot run them), the SML statistics measured and baked into a new stage graph,
and the files the re-written bundle keeps.
"""

from dataclasses import dataclass, field
import itertools
from pathlib import Path
import shutil
import tempfile
from typing import Dict, List, Optional
import weakref

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.export.external_graph import write_external_graph
from pixel_anomaly_ros.external_segmentation import EXTERNAL_STAGE
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.resizing import resize_nearest
from tqdm import tqdm

#: Fewest pixels a class needs for its own statistics (an unbiased variance needs two).
MIN_PIXELS = 2


class ClassStatistics:
    """Per-class count, mean and sum of squared deviations, merged image by image (Chan)."""

    def __init__(self, num_classes: int):
        """
        Start empty.

        :param num_classes: number of classes.
        """
        self.count = np.zeros(num_classes, np.float64)
        self.mean = np.zeros(num_classes, np.float64)
        self.m2 = np.zeros(num_classes, np.float64)

    def update(self, max_logit: np.ndarray, classes: np.ndarray,
               valid: Optional[np.ndarray] = None) -> None:
        """
        Add the pixels of one image.

        :param max_logit: (H, W) max logit of every pixel.
        :param classes: (H, W) predicted class of every pixel.
        :param valid: (H, W) bool, the pixels to use (default all).
        """
        values = np.asarray(max_logit, np.float64)
        classes = np.asarray(classes).astype(np.intp)
        if valid is not None:
            values, classes = values[valid], classes[valid]
        values, classes = values.ravel(), classes.ravel()
        size = len(self.count)
        count = np.bincount(classes, minlength=size).astype(np.float64)
        total = np.bincount(classes, weights=values, minlength=size)
        mean = np.divide(total, count, out=np.zeros(size), where=count > 0)
        m2 = np.bincount(classes, weights=(values - mean[classes]) ** 2, minlength=size)
        merged = self.count + count
        delta = mean - self.mean
        share = np.divide(count, merged, out=np.zeros(size), where=merged > 0)
        self.m2 += m2 + delta ** 2 * self.count * share
        self.mean += delta * share
        self.count = merged

    def compute(self) -> Dict[str, List]:
        """
        Return the statistics ``bundle.yaml`` stores.

        :return: ``{'mean', 'std', 'pixels', 'fallback'}``: per-class mean and unbiased
            standard deviation of the max logit, pixel counts, and the classes that fell back
            to the statistics of all pixels.
        :raises ValueError: when fewer than two pixels were seen.
        """
        total = self.count.sum()
        if total < MIN_PIXELS:
            raise ValueError('SML statistics need inlier pixels; the calibration set has none')
        pooled_mean = float((self.count * self.mean).sum() / total)
        pooled_m2 = float((self.m2 + self.count * (self.mean - pooled_mean) ** 2).sum())
        pooled_std = max(np.sqrt(pooled_m2 / (total - 1)), 1e-6)
        means, stds, fallback = [], [], []
        for c, n in enumerate(self.count):
            if n < MIN_PIXELS:
                fallback.append(c)
                means.append(pooled_mean)
                stds.append(float(pooled_std))
                continue
            means.append(float(self.mean[c]))
            stds.append(float(max(np.sqrt(self.m2[c] / (n - 1)), 1e-6)))
        return {'mean': means, 'std': stds, 'pixels': [int(n) for n in self.count],
                'fallback': fallback}


def measure_sml_statistics(bundle: Bundle, dataset, count: int, progress: bool = True
                           ) -> Dict[str, List]:
    """
    Measure the per-class max-logit statistics on labelled images with ONNX Runtime.

    :param bundle: a ``segmentation_onnx`` bundle (its stage graph gives the max logit).
    :param dataset: samples with ``image`` and ``anomaly`` (0 inlier, 1 anomaly, 255 void).
    :param count: use the first ``count`` samples.
    :param progress: show a progress bar.
    :return: :meth:`ClassStatistics.compute`.
    """
    pipeline = create_pipeline(bundle, 'onnxruntime', baselines=True)
    size = tuple(bundle.spec.input_size)
    statistics = ClassStatistics(bundle.spec.num_classes)
    try:
        for sample in tqdm(itertools.islice(dataset, count), total=count,
                           desc='SML statistics', disable=not progress):
            result = pipeline(sample.image, output_size=size)
            inlier = resize_nearest(sample.anomaly, size) == 0
            statistics.update(-result.maps['baseline_max_logit'], result.train_ids, inlier)
    finally:
        pipeline.executor.close()
    return statistics.compute()


@dataclass
class ExternalScoring:
    """
    What ``calibrate`` runs and keeps for a bundle (pass-through for built-in networks).

    :ivar bundle: the bundle to run (with the SML statistics baked into a temporary graph).
    :ivar backend: ``torch`` for built-in networks, ``onnxruntime`` otherwise.
    :ivar files: files the re-written bundle keeps, ``{name: source}``, or None.
    :ivar summary: for calibrate's result (``sml``: pixels and fallback classes).
    """

    bundle: Bundle
    backend: str = 'torch'
    files: Optional[Dict[str, Path]] = None
    summary: Dict[str, object] = field(default_factory=dict)


def prepare_external_scoring(bundle: Bundle, dataset, count: int, progress: bool = True
                             ) -> ExternalScoring:
    """
    Prepare a bundle for score calibration; for an ONNX segmentation, measure SML first.

    The bundle's spec gets the new SML statistics; the stage graph with them lives in a
    temporary directory that disappears with the returned object.

    :param bundle: the bundle being calibrated.
    :param dataset: the calibration samples.
    :param count: number of samples to use.
    :param progress: show progress bars.
    :return: what to run and what to keep.
    """
    spec = bundle.spec
    if spec.external is None:
        return ExternalScoring(bundle)
    stage = EXTERNAL_STAGE[spec.variant]
    files = {spec.external.file: bundle.external_path}
    files.update({f'{s}.onnx': bundle.onnx_path(s) for s in spec.stage_inputs()
                  if bundle.onnx_path(s).is_file()})
    scoring = ExternalScoring(bundle, 'onnxruntime', files)
    if spec.external.scorer != 'sml':
        return scoring
    statistics = measure_sml_statistics(bundle, dataset, count, progress)
    spec.external.sml = statistics
    tmp = Path(tempfile.mkdtemp(prefix='pixel-anomaly-sml-'))
    weakref.finalize(scoring, shutil.rmtree, tmp, True)
    graph = tmp / f'{stage}.onnx'
    write_external_graph(spec, bundle.external_path, graph)
    files[graph.name] = graph
    scoring.bundle = Bundle(tmp, spec)
    scoring.summary = {'sml': {'pixels': int(sum(statistics['pixels'])),
                               'fallback_classes': list(statistics['fallback'])}}
    return scoring
