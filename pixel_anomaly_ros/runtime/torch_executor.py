# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
PyTorch executor: runs the stage graphs on the CPU or a CUDA device.

On CUDA it is the fast path that can be measured without TensorRT: fp16 autocast, channels-last
networks, the camera image uploaded as uint8 from pinned memory and converted on the device,
CUDA events for stage timing (no wait between stages), and optionally CUDA graphs (each stage
captured once per input size and replayed) and ``torch.compile``.
"""

from contextlib import nullcontext
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor
from pixel_anomaly_ros.runtime.cuda_upload import PinnedImageUpload
from pixel_anomaly_ros.runtime.stage_timing import CudaStageTimer
from pixel_anomaly_ros.stages.graph_io import BASELINE_OUTPUTS, BASELINE_STAGES, GRAPH_IO
from pixel_anomaly_ros.stages.graphs import build_networks, build_stage_graphs
import torch


class TorchExecutor(Executor):
    """Eager PyTorch execution of a bundle's stage graphs."""

    backend = 'torch'
    OPTIONS = ('compile_mode', 'baselines', 'cuda_graphs', 'channels_last')
    OPTION_NOTES = {
        'baselines': 'baseline scores (max softmax, max logit, entropy, energy) need the '
                     'segmentation logits, which the torch backend exposes for built-in '
                     'networks and onnxruntime for a segmentation that is an ONNX model',
        'compile_mode': 'torch.compile compiles PyTorch graphs',
        'cuda_graphs': 'CUDA graphs capture PyTorch kernels',
        'channels_last': 'a PyTorch memory format'}

    def __init__(self, graphs: Dict[str, torch.nn.Module], device: str = 'cpu',
                 precision: str = 'fp32', compile_mode: Optional[str] = None,
                 baselines: bool = False, cuda_graphs: bool = False,
                 channels_last: Optional[bool] = None):
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
        :param cuda_graphs: CUDA only: capture each stage once per input size and replay it
            (removes the launch overhead of the many small kernels).
        :param channels_last: run the networks channels-last (default: on CUDA, where the
            convolutions are faster that way; off on the CPU).
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
        cuda = self._torch_device.type == 'cuda'
        if cuda_graphs and not cuda:
            raise BackendError('cuda_graphs needs a CUDA device; leave it off on the CPU')
        self.channels_last = cuda if channels_last is None else channels_last
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self._graphs = {name: g.to(self._torch_device, memory_format=memory_format).eval()
                        for name, g in graphs.items()}
        self.compile_mode = compile_mode
        if compile_mode:
            backend, mode = _compile_backend(compile_mode, device)
            self._graphs = {name: torch.compile(g, backend=backend, mode=mode, dynamic=False)
                            for name, g in self._graphs.items()}
        self.cuda_graphs = cuda_graphs
        if cuda_graphs:
            self._graphs = {name: _GraphedStage(g, self._autocast)
                            for name, g in self._graphs.items()}
        self._upload = PinnedImageUpload(self._torch_device, self.channels_last) if cuda \
            else None
        self._events: Dict[str, tuple] = {}

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
                   baselines: bool = False, **options) -> 'TorchExecutor':
        """
        Build the networks of a bundle, load its weights and wrap the stage graphs.

        :param bundle: a loaded bundle.
        :param device: torch device string.
        :param precision: ``fp32`` or ``fp16``.
        :param baselines: evaluation only: also compute the baseline scores (see
            :func:`~pixel_anomaly_ros.stages.graphs.build_stage_graphs`).
        :param options: ``compile_mode``, ``cuda_graphs``, ``channels_last`` (see
            :class:`TorchExecutor`).
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
                   baselines=baselines, **options)

    def describe(self) -> Dict[str, str]:
        """Return backend, device, precision, the compile mode and the CUDA options."""
        info = {**super().describe(), 'compile': self.compile_mode or 'eager'}
        if self._torch_device.type == 'cuda':
            info.update(cuda_graphs=str(self.cuda_graphs).lower(),
                        channels_last=str(self.channels_last).lower())
        return info

    def _autocast(self):
        # CUDA graphs replay the casts they captured: autocast's weight cache must stay off.
        return (torch.autocast('cuda', dtype=torch.float16, cache_enabled=not self.cuda_graphs)
                if self.precision == 'fp16' else nullcontext())

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
        if self.cuda_graphs:
            outputs = self._graphs[stage](*(inputs[name] for name in input_names))
        else:
            with torch.inference_mode(), self._autocast():
                outputs = self._graphs[stage](*(inputs[name] for name in input_names))
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        return dict(zip(output_names, outputs))

    def image_input(self, image: np.ndarray) -> torch.Tensor:
        """
        Turn a network-sized RGB image into the image input (uint8 upload on CUDA).

        :param image: (H, W, 3) uint8 RGB.
        :return: (1, 3, H, W) float32 tensor in 0..255, reused by the next call.
        """
        if self._upload is None:
            return super().image_input(image)
        return self._upload(image)

    def stage_timer(self):
        """Return a timer: CUDA events on CUDA (no wait between stages), else the host clock."""
        if self._torch_device.type == 'cuda':
            return CudaStageTimer(self._events)
        return super().stage_timer()

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


class _GraphedStage:
    """A stage graph captured as a CUDA graph once per input shape, then replayed."""

    def __init__(self, graph: torch.nn.Module, autocast):
        """
        Wrap a stage graph already on the CUDA device.

        :param graph: the stage graph.
        :param autocast: returns the autocast context of the executor's precision.
        """
        self.graph = graph
        self.autocast = autocast
        self._key = None

    def __call__(self, *inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """
        Copy the inputs into the captured buffers and replay.

        :param inputs: CUDA tensors in the graph's input order.
        :return: the captured output tensors (overwritten by the next replay).
        """
        key = tuple((tuple(t.shape), t.dtype) for t in inputs)
        if key != self._key:
            self._capture(inputs)
            self._key = key
        for static, value in zip(self._inputs, inputs):
            if value.data_ptr() != static.data_ptr():
                static.copy_(value)
        self._cuda_graph.replay()
        return self._outputs

    def _capture(self, inputs: Sequence[torch.Tensor]) -> None:
        self._inputs = [t.clone() for t in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad(), self.autocast():
            for _ in range(3):  # warm up: cuDNN picks its algorithms outside the capture
                self.graph(*self._inputs)
        torch.cuda.current_stream().wait_stream(side)
        self._cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._cuda_graph), torch.no_grad(), self.autocast():
            outputs = self.graph(*self._inputs)
        self._outputs = outputs if isinstance(outputs, tuple) else (outputs,)


COMPILE_MODES = ('inductor', 'max-autotune', 'torch_tensorrt')


def _compile_backend(mode: str, device: str) -> Tuple[str, Optional[str]]:
    """Return the ``torch.compile`` backend and mode of a compile mode, checking it can run."""
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
        return 'torch_tensorrt', None
    return 'inductor', ('max-autotune' if mode == 'max-autotune' else None)


EXECUTOR = TorchExecutor
