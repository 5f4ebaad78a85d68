# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""PyTorch executor: runs the stage graphs eagerly on the CPU or a CUDA device."""

from contextlib import nullcontext
from typing import Any, Dict, Optional, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor
from pixel_anomaly_ros.stages.graph_io import BASELINE_OUTPUTS, BASELINE_STAGES, GRAPH_IO
from pixel_anomaly_ros.stages.graphs import build_networks, build_stage_graphs
import torch


class TorchExecutor(Executor):
    """Eager PyTorch execution of a bundle's stage graphs."""

    backend = 'torch'
    OPTIONS = ('compile_mode', 'baselines')
    OPTION_NOTES = {
        'baselines': 'baseline scores (max softmax, max logit, entropy, energy) need the '
                     'segmentation logits, which the torch backend exposes for built-in '
                     'networks and onnxruntime for a segmentation that is an ONNX model',
        'compile_mode': 'torch.compile compiles PyTorch graphs'}

    def __init__(self, graphs: Dict[str, torch.nn.Module], device: str = 'cpu',
                 precision: str = 'fp32', compile_mode: Optional[str] = None,
                 baselines: bool = False):
        """
        Move the graphs to the device, optionally compiling them.

        :param graphs: ``{stage: graph}`` from :func:`build_stage_graphs`.
        :param device: ``cpu``, ``cuda`` or ``cuda:N``.
        :param precision: ``fp32``, or ``fp16`` (CUDA autocast; not available on the CPU).
        :param compile_mode: ``None`` (eager), ``inductor`` (``torch.compile``) or
            ``torch_tensorrt`` (``torch.compile`` with the torch-tensorrt backend, CUDA only).
            Compilation happens lazily on the first call of each stage.
        :param baselines: the graphs were built with ``baselines=True``: the baseline maps
            are returned with the outputs of the stages in ``BASELINE_STAGES``.
        :raises BackendError: for an unavailable device, precision or compile mode.
        """
        if precision not in ('fp32', 'fp16'):
            raise BackendError(f'precision {precision!r} is not supported by the torch backend; '
                               f'use fp32 or fp16 (int8: backend tensorrt, or onnxruntime on '
                               f'the CPU after `pixel-anomaly export --int8`)')
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise BackendError(f'device {device!r} requested but CUDA is not available to '
                               f'torch here; use device cpu')
        if precision == 'fp16' and not device.startswith('cuda'):
            raise BackendError('fp16 needs a CUDA device with the torch backend; use fp32 on '
                               'the CPU')
        self.device = device
        self.precision = precision
        self.baselines = baselines
        self._torch_device = torch.device(device)
        self._graphs = {name: g.to(self._torch_device).eval() for name, g in graphs.items()}
        self.compile_mode = compile_mode
        if compile_mode:
            backend = _compile_backend(compile_mode, device)
            self._graphs = {name: torch.compile(g, backend=backend, dynamic=False)
                            for name, g in self._graphs.items()}

    @classmethod
    def auto_choice(cls, bundle: Bundle, device: str, precision: str
                    ) -> Optional[Tuple[str, str]]:
        """
        Offer eager PyTorch anywhere: the last resort on each device.

        :param bundle: the bundle.
        :param device: ``cpu`` or ``cuda[:N]``.
        :param precision: the wished precision (fp16 on a GPU; fp32 otherwise).
        :return: (precision, reason), or None for a bundle whose segmentation is an ONNX model.
        """
        if bundle.spec.external is not None:
            return None
        exported = bundle.has_onnx()
        if device != 'cpu':
            return (precision if precision in ('fp32', 'fp16') else 'fp32',
                    'no TensorRT or ONNX Runtime CUDA' if exported
                    else 'no exported graphs; torch on the GPU')
        return 'fp32', ('no usable CUDA GPU and no exported graphs (run `pixel-anomaly export` '
                        'for the faster onnxruntime)' if not exported
                        else 'no usable CUDA GPU; torch on the CPU')

    @classmethod
    def for_bundle(cls, bundle: Bundle, device: str = 'cpu', precision: str = 'fp32',
                   compile_mode: Optional[str] = None, baselines: bool = False
                   ) -> 'TorchExecutor':
        """
        Build the networks of a bundle, load its weights and wrap the stage graphs.

        :param bundle: a loaded bundle.
        :param device: torch device string.
        :param precision: ``fp32`` or ``fp16``.
        :param compile_mode: see :class:`TorchExecutor`.
        :param baselines: evaluation only: also compute the baseline scores (see
            :func:`~pixel_anomaly_ros.stages.graphs.build_stage_graphs`).
        :return: the executor.
        :raises BackendError: for a bundle whose segmentation is an ONNX model (no torch
            module exists for it).
        """
        if bundle.spec.external is not None:
            raise BackendError(f'{bundle.path}: its segmentation is an ONNX model '
                               f'({bundle.spec.external.file}), which the torch backend cannot '
                               f'run; use backend onnxruntime or tensorrt (auto picks one)')
        networks = build_networks(bundle.spec, bundle.component_state_dicts(),
                                  where=str(bundle.weights_path))
        return cls(build_stage_graphs(bundle.spec, networks, baselines), device, precision,
                   compile_mode, baselines)

    def describe(self) -> Dict[str, str]:
        """Return backend, device, precision and the compile mode."""
        return {**super().describe(), 'compile': self.compile_mode or 'eager'}

    @property
    def stages(self) -> Tuple[str, ...]:
        """Stage names in run order."""
        return tuple(self._graphs)

    def run(self, stage: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """
        Run one stage graph under ``inference_mode`` (and autocast for fp16).

        :param stage: stage name.
        :param inputs: ``{input name: tensor}``.
        :return: ``{output name: tensor}``, baseline maps included when built with them.
        """
        input_names, output_names = GRAPH_IO[stage]
        if self.baselines and stage in BASELINE_STAGES:
            output_names = output_names + BASELINE_OUTPUTS
        autocast = (torch.autocast('cuda', dtype=torch.float16) if self.precision == 'fp16'
                    else nullcontext())
        with torch.inference_mode(), autocast:
            outputs = self._graphs[stage](*(inputs[name] for name in input_names))
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        return dict(zip(output_names, outputs))

    def from_numpy(self, array: np.ndarray) -> torch.Tensor:
        """Share a numpy array's memory on the CPU, or upload it to the GPU."""
        tensor = torch.from_numpy(array)
        if self._torch_device.type != 'cpu':
            tensor = tensor.to(self._torch_device, non_blocking=True)
        return tensor

    def to_numpy(self, value: torch.Tensor) -> np.ndarray:
        """Download a tensor; half precision comes back as float32."""
        if value.is_floating_point() and value.dtype != torch.float32:
            value = value.float()
        return value.cpu().numpy()

    def synchronize(self) -> None:
        """Wait for queued CUDA work (stage timing)."""
        if self._torch_device.type == 'cuda':
            torch.cuda.synchronize(self._torch_device)

    def close(self) -> None:
        """Drop the graphs and return cached GPU memory."""
        self._graphs = {}
        if self._torch_device.type == 'cuda':
            torch.cuda.empty_cache()


COMPILE_MODES = ('inductor', 'torch_tensorrt')


def _compile_backend(mode: str, device: str) -> str:
    """Return the ``torch.compile`` backend name of a compile mode, checking it can run."""
    if mode not in COMPILE_MODES:
        raise BackendError(f'compile mode {mode!r} is unknown; use one of {COMPILE_MODES} or '
                           f'leave it empty for eager execution')
    if mode == 'torch_tensorrt':
        if not device.startswith('cuda'):
            raise BackendError('compile mode torch_tensorrt needs a CUDA device')
        try:
            import torch_tensorrt  # noqa: F401 - registers the backend
        except ImportError as exc:
            raise BackendError('compile mode torch_tensorrt needs the torch-tensorrt package '
                               '(pip install torch-tensorrt); or use inductor') from exc
        return 'torch_tensorrt'
    return 'inductor'


EXECUTOR = TorchExecutor
