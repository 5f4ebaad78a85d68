# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Inference backends behind one interface; heavy imports happen inside the chosen backend."""

import logging
from typing import Optional, Tuple

from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor

BACKENDS = ('auto', 'torch', 'onnxruntime', 'tensorrt')

__all__ = ['BACKENDS', 'BackendError', 'Executor', 'choose_backend', 'create_executor']

_log = logging.getLogger(__name__)


def create_executor(bundle: Bundle, backend: str = 'torch', device: str = 'cpu',
                    precision: str = 'fp32', compile_mode: Optional[str] = None,
                    baselines: bool = False) -> Executor:
    """
    Create the executor of a bundle on one backend.

    :param bundle: a loaded bundle.
    :param backend: one of :data:`BACKENDS`; ``auto`` picks the fastest one available
        (see :func:`choose_backend`) and logs the choice.
    :param device: ``cpu`` or ``cuda[:N]``; with ``auto``, ``cpu`` keeps it on the CPU.
    :param precision: ``fp32``, ``fp16`` or ``int8`` (tensorrt; onnxruntime on the CPU).
    :param compile_mode: torch backend only: ``inductor`` or ``torch_tensorrt``.
    :param baselines: torch backend only, for evaluation: also compute the baseline scores
        (max softmax, max logit, entropy, energy) from the segmentation logits.
    :return: the executor, ready to run.
    :raises BackendError: for an unknown backend, an unsupported device/precision, or
        baselines on a backend other than torch.
    """
    if baselines and backend != 'torch':
        raise BackendError(f'baseline scores (max softmax, max logit, entropy, energy) need the '
                           f'segmentation logits, which only the torch backend exposes; got '
                           f'backend {backend!r}: use backend torch')
    if backend == 'auto':
        backend, device, precision, reason = choose_backend(bundle, device, precision)
        _log.info('backend auto: %s on %s %s (%s)', backend, device, precision, reason)
        executor = create_executor(bundle, backend, device, precision, compile_mode)
        executor.chosen_because = reason
        return executor
    if compile_mode and backend != 'torch':
        raise BackendError(f'compile mode {compile_mode!r} applies to the torch backend only, '
                           f'not {backend!r}')
    if backend == 'torch':
        from pixel_anomaly_ros.runtime.torch_executor import TorchExecutor
        return TorchExecutor.from_bundle(bundle, device, precision, compile_mode, baselines)
    if backend == 'onnxruntime':
        from pixel_anomaly_ros.runtime.onnxruntime_executor import OnnxRuntimeExecutor
        return OnnxRuntimeExecutor(bundle, device, precision)
    if backend == 'tensorrt':
        from pixel_anomaly_ros.runtime.tensorrt_executor import TensorRTExecutor
        return TensorRTExecutor(bundle, 'cuda' if device == 'cpu' else device, precision,
                                log=_log.info)
    raise BackendError(f'unknown backend {backend!r}; use one of {list(BACKENDS)}')


def choose_backend(bundle: Bundle, device: str = 'auto', precision: str = 'fp16'
                   ) -> Tuple[str, str, str, str]:
    """
    Pick the fastest usable backend: tensorrt, onnxruntime-cuda, torch-cuda, onnxruntime-cpu.

    ONNX-based backends need the bundle's exported graphs; torch on the CPU is the last resort.
    Precisions a backend cannot run fall back to fp32; on the CPU, int8 runs the quantised
    graphs (``export --int8``) when they match the exported ones.

    :param bundle: the bundle.
    :param device: ``auto`` or ``cuda[:N]`` to allow the GPU, ``cpu`` to stay on the CPU.
    :param precision: the wished precision.
    :return: (backend, device, precision, reason).
    """
    import torch
    exported = all(bundle.onnx_path(s).is_file() for s in bundle.spec.stage_inputs())
    gpu = device != 'cpu' and torch.cuda.is_available()
    cuda = device if device.startswith('cuda') else 'cuda'
    fp = precision if precision in ('fp32', 'fp16') else 'fp32'
    if gpu and exported:
        from pixel_anomaly_ros.runtime.tensorrt_executor import tensorrt_available
        if tensorrt_available():
            return 'tensorrt', cuda, precision, 'TensorRT and a CUDA GPU are available'
        import onnxruntime
        if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
            return 'onnxruntime', cuda, 'fp32', 'no TensorRT; ONNX Runtime has CUDA'
    if gpu:
        return 'torch', cuda, fp, ('no TensorRT or ONNX Runtime CUDA' if exported else
                                   'no exported graphs; torch on the GPU')
    if exported and precision == 'int8':
        from pixel_anomaly_ros.runtime.quantization import source_mismatch
        problems = [source_mismatch(bundle, s) for s in bundle.spec.stage_inputs()]
        if not any(problems):
            return 'onnxruntime', 'cpu', 'int8', 'no usable CUDA GPU; ONNX Runtime int8 graphs'
        _log.warning('no int8 ONNX Runtime graphs to use: %s', next(p for p in problems if p))
    if exported:
        return 'onnxruntime', 'cpu', 'fp32', 'no usable CUDA GPU; ONNX Runtime on the CPU'
    return 'torch', 'cpu', 'fp32', ('no usable CUDA GPU and no exported graphs (run '
                                    '`pixel-anomaly export` for the faster onnxruntime)')
