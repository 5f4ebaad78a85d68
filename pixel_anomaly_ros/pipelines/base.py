# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Shared pre- and post-processing of the anomaly pipelines (numpy in, numpy out, no ROS).

Pre-processing resizes an RGB uint8 image to the network size and hands it to the executor
(:meth:`~pixel_anomaly_ros.runtime.base.Executor.image_input`: a reused buffer, on a GPU a uint8
upload); post-processing smooths the raw score (``score.smoothing``), calibrates it to [0, 1],
resizes it to the output size and thresholds it. Both are timed like the network stages.
"""

from typing import Dict, Optional, Tuple

import numpy as np

from pixel_anomaly_ros.bundle import BundleSpec, ENSEMBLE_TERMS
from pixel_anomaly_ros.pipelines.result import AnomalyResult
from pixel_anomaly_ros.resizing import resize_linear, resize_nearest
from pixel_anomaly_ros.runtime.base import Executor
from pixel_anomaly_ros.runtime.stage_timing import StageTimer
from pixel_anomaly_ros.score_smoothing import smooth_score


class AnomalyPipeline:
    """Base class: subclasses implement :meth:`_infer` with their network stages."""

    def __init__(self, spec: BundleSpec, executor: Executor):
        """
        Bind a bundle spec to an executor.

        :param spec: the bundle's spec (sizes, smoothing, calibration, threshold, ensemble
            weights).
        :param executor: runs the bundle's stage graphs.
        """
        self.spec = spec
        self.executor = executor
        self.network_size: Tuple[int, int] = tuple(spec.input_size)
        self.threshold = spec.threshold
        self.score_lo, self.score_hi = spec.score_lo, spec.score_hi
        self.smoothing = spec.smoothing
        self._image = None
        self.set_ensemble_weights(spec.ensemble_weights())

    def _baseline_maps(self, outputs: Dict[str, object]) -> Dict[str, np.ndarray]:
        """Return the baseline scores among a stage's outputs (evaluation executors only)."""
        return {name: self.executor.to_numpy(value)[0, 0] for name, value in outputs.items()
                if name.startswith('baseline_')}

    def set_ensemble_weights(self, weights) -> None:
        """
        Change the ensemble weights (P(anomaly), entropy, perceptual, distance) at run time.

        :param weights: four finite non-negative numbers, not all zero.
        :raises ValueError: with the reason, leaving the current weights unchanged.
        """
        values = np.asarray(weights, dtype=np.float32).reshape(-1)
        if values.shape != (len(ENSEMBLE_TERMS),) or not np.all(np.isfinite(values)):
            raise ValueError(f'ensemble weights need {len(ENSEMBLE_TERMS)} finite numbers '
                             f'{ENSEMBLE_TERMS}, got {weights!r}')
        if np.any(values < 0) or not values.sum() > 0:
            raise ValueError(f'ensemble weights must be >= 0 and not all zero, got {weights!r}')
        self.ensemble_weights = values
        self._weights_value = self.executor.from_numpy(values)

    def __call__(self, image: np.ndarray, output_size: Optional[Tuple[int, int]] = None,
                 return_maps: bool = False) -> AnomalyResult:
        """
        Run the pipeline on one image.

        :param image: (H, W, 3) uint8 RGB image of any size.
        :param output_size: (height, width) of the returned maps; default: the image size.
        :param return_maps: also return the intermediate maps at network resolution.
        :return: the :class:`AnomalyResult`; when the executor computes baseline scores, its
            ``maps`` always hold them at network resolution (``baseline_*``).
        :raises ValueError: if the image is not an (H, W, 3) uint8 array.
        """
        if (not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3
                or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1):
            raise ValueError('expected an (H, W, 3) uint8 RGB image, got '
                             + (f'{image.dtype} {image.shape}' if isinstance(image, np.ndarray)
                                else type(image).__name__))
        out_h, out_w = output_size or image.shape[:2]
        timer = self.executor.stage_timer()
        with timer.stage('preprocess'):
            self._preprocess(image)
        raw_score, train_ids, maps = self._infer(timer, return_maps)
        with timer.stage('postprocess'):
            raw = smooth_score(self.executor.to_numpy(raw_score)[0, 0], self.smoothing)
            score = self._calibrate(raw)
            score = resize_linear(score, (out_h, out_w))
            ids = resize_nearest(self.executor.to_numpy(train_ids)[0, 0], (out_h, out_w))
            mask = score >= self.threshold
        return AnomalyResult(score=score, mask=mask, train_ids=ids,
                             timings_ms=timer.timings_ms, maps=maps)

    def _preprocess(self, image: np.ndarray) -> None:
        self._image = self.executor.image_input(resize_linear(image, self.network_size))

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        score = np.subtract(raw, self.score_lo, dtype=np.float32)
        score *= np.float32(1.0 / (self.score_hi - self.score_lo))
        return np.clip(score, 0.0, 1.0, out=score)

    def _infer(self, timer: StageTimer, return_maps: bool
               ) -> Tuple[object, object, Dict[str, np.ndarray]]:
        """
        Run the network stages on the pre-processed input.

        :param timer: times each stage.
        :param return_maps: collect the intermediate maps as numpy arrays.
        :return: raw score (1, 1, h, w), train ids (1, 1, H, W) as backend values, and maps.
        """
        raise NotImplementedError

    def _input_image(self):
        """Return the pre-processed input as a backend value."""
        return self._image
