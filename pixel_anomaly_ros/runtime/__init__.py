# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Inference backends behind one interface; heavy imports happen inside the chosen backend."""

from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor

BACKENDS = ('torch', 'onnxruntime')

__all__ = ['BACKENDS', 'BackendError', 'Executor', 'create_executor']


def create_executor(bundle: Bundle, backend: str = 'torch', device: str = 'cpu',
                    precision: str = 'fp32') -> Executor:
    """
    Create the executor of a bundle on one backend.

    :param bundle: a loaded bundle.
    :param backend: one of :data:`BACKENDS`.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param precision: ``fp32`` or ``fp16``.
    :return: the executor, ready to run.
    :raises BackendError: for an unknown backend or an unsupported device/precision.
    """
    if backend == 'torch':
        from pixel_anomaly_ros.runtime.torch_executor import TorchExecutor
        return TorchExecutor.from_bundle(bundle, device, precision)
    if backend == 'onnxruntime':
        from pixel_anomaly_ros.runtime.onnxruntime_executor import OnnxRuntimeExecutor
        return OnnxRuntimeExecutor(bundle, device, precision)
    raise BackendError(f'unknown backend {backend!r}; available here: {list(BACKENDS)}')
