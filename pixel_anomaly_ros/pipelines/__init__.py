# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Anomaly pipelines: numpy image in, :class:`AnomalyResult` out; no ROS below this line."""

from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.pipelines.base import AnomalyPipeline
from pixel_anomaly_ros.pipelines.pebal import PEBAL
from pixel_anomaly_ros.pipelines.posthoc import PosthocScoring
from pixel_anomaly_ros.pipelines.result import AnomalyResult
from pixel_anomaly_ros.pipelines.synboost_light import SynBoostLight
from pixel_anomaly_ros.runtime import create_executor, Executor

PIPELINES = {'synboost_light': SynBoostLight, 'pebal': PEBAL,
             'segmentation_onnx': PosthocScoring}

__all__ = ['AnomalyPipeline', 'AnomalyResult', 'PEBAL', 'PIPELINES', 'PosthocScoring',
           'SynBoostLight', 'create_pipeline', 'pipeline_for']


def pipeline_for(bundle: Bundle, executor: Executor) -> AnomalyPipeline:
    """
    Wrap an executor in the pipeline class of the bundle's variant.

    :param bundle: a loaded bundle.
    :param executor: an executor built for that bundle.
    :return: the pipeline.
    """
    return PIPELINES[bundle.spec.variant](bundle.spec, executor)


def create_pipeline(bundle: Bundle, backend: str = 'torch', device: str = 'cpu',
                    precision: str = 'fp32', **options) -> AnomalyPipeline:
    """
    Build the pipeline of a bundle on a backend.

    :param bundle: a loaded bundle.
    :param backend: executor backend (see :data:`pixel_anomaly_ros.runtime.BACKEND_CHOICES`).
    :param device: ``cpu`` or ``cuda[:N]``.
    :param precision: ``fp32``, ``fp16`` or ``int8`` (tensorrt; onnxruntime on the CPU).
    :param options: backend options, e.g. for torch ``compile_mode`` (``inductor`` or
        ``torch_tensorrt``) and, for evaluation, ``baselines`` (torch; onnxruntime for a
        segmentation that is an ONNX model): every result's ``maps`` also holds the baseline
        scores of the same segmentation pass (``baseline_max_softmax``,
        ``baseline_max_logit``, ``baseline_entropy``, ``baseline_energy``; network
        resolution, higher = more anomalous).
    :return: the ready pipeline.
    :raises BackendError: for an unusable backend, or an option the backend does not have.
    """
    return pipeline_for(bundle, create_executor(bundle, backend, device, precision, **options))
