# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
TensorRT executor: one serialised engine per stage graph, torch CUDA tensors as I/O buffers.

Engines come from the bundle's engine cache, built on a miss (:mod:`tensorrt_engines`). All
work runs on one CUDA stream; CUDA events time every stage on the device. Output buffers are
allocated once, so a frame allocates nothing on the GPU.
"""

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor, parse_device
from pixel_anomaly_ros.runtime.cuda_upload import PinnedImageUpload
from pixel_anomaly_ros.runtime.stage_timing import CudaStageTimer
from pixel_anomaly_ros.runtime.tensorrt_engines import (ensure_engines, import_tensorrt,
                                                        PRECISIONS, tensorrt_available)
import torch


def cuda_device(device: str) -> torch.device:
    """
    Return a CUDA device with its index (``cuda`` means the current device).

    :param device: ``cuda`` or ``cuda:N``.
    :return: the indexed device, as ``torch.cuda.set_device`` needs it.
    :raises BackendError: for a device that is not CUDA, or no CUDA GPU.
    """
    kind, index = parse_device(device)
    if kind != 'cuda':
        raise BackendError(f'the tensorrt backend runs on a CUDA device, not {device!r}; '
                           f'use backend onnxruntime or torch on the CPU')
    if not torch.cuda.is_available():
        raise BackendError('the tensorrt backend needs a CUDA GPU, and torch sees none; use '
                           'backend onnxruntime or torch with device cpu')
    return torch.device('cuda', torch.cuda.current_device() if index is None else index)


class TensorRTExecutor(Executor):
    """Runs cached TensorRT engines of a bundle's stage graphs."""

    backend = 'tensorrt'

    OPTIONS = ('rebuild', 'log')

    def __init__(self, bundle: Bundle, device: str = 'cuda', precision: str = 'fp16',
                 rebuild: bool = True, warmup: int = 3,
                 log: Optional[Callable[[str], None]] = None):
        """
        Load (or build) the engines of every stage and allocate their output buffers.

        :param bundle: a bundle with exported graphs (int8: also ``export --int8`` graphs).
        :param device: ``cuda`` or ``cuda:N``.
        :param precision: ``fp32``, ``fp16`` or ``int8``.
        :param rebuild: build missing or stale engines; otherwise refuse them.
        :param warmup: untimed runs of every stage after loading.
        :param log: receives progress messages (engine builds).
        :raises BackendError: without TensorRT or CUDA, for a missing graph, a corrupt or
            foreign engine that may not be rebuilt, or a failed build.
        """
        if precision not in PRECISIONS:
            raise BackendError(f'precision {precision!r} is not supported by the tensorrt '
                               f'backend; use one of {PRECISIONS}')
        self._torch_device = cuda_device(device)
        trt = import_tensorrt()
        self.device, self.precision = str(self._torch_device), precision
        torch.cuda.set_device(self._torch_device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        plans = ensure_engines(bundle, precision, torch.cuda.get_device_name(self._torch_device),
                               rebuild=rebuild, log=log)
        self._runtime = trt.Runtime(self._logger)
        self._stream = torch.cuda.Stream(self._torch_device)
        self._stages: Dict[str, _StageEngine] = {}
        for stage, (path, plan) in plans.items():
            engine = self._runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise BackendError(f'{path}: TensorRT cannot load this engine; delete '
                                   f'{path.parent} and run again to rebuild it')
            self._stages[stage] = _StageEngine(trt, engine, self._torch_device)
        self._events = {s: (torch.cuda.Event(enable_timing=True),
                            torch.cuda.Event(enable_timing=True)) for s in self._stages}
        self._stage_events: Dict[str, tuple] = {}
        self._upload = PinnedImageUpload(self._torch_device)
        self._warm_up(warmup)

    @classmethod
    def for_bundle(cls, bundle: Bundle, device: str, precision: str, **options
                   ) -> 'TensorRTExecutor':
        """
        Build the executor (``cpu`` means the default GPU: TensorRT runs on CUDA only).

        :param bundle: the bundle.
        :param device: ``cuda[:N]``.
        :param precision: ``fp32``, ``fp16`` or ``int8``.
        :param options: ``rebuild``, ``log`` (default: engine builds logged at info level).
        :return: the executor.
        """
        import logging
        options.setdefault('log', logging.getLogger(__name__).info)
        return cls(bundle, 'cuda' if device == 'cpu' else device, precision, **options)

    @classmethod
    def auto_choice(cls, bundle: Bundle, device: str, precision: str
                    ) -> Optional[Tuple[str, str]]:
        """
        Offer TensorRT on a GPU when it is installed and the graphs are exported.

        :param bundle: the bundle.
        :param device: ``cpu`` or ``cuda[:N]``.
        :param precision: the wished precision.
        :return: (precision, reason) or None.
        """
        if device == 'cpu' or not bundle.has_onnx() or not tensorrt_available():
            return None
        return precision, 'TensorRT and a CUDA GPU are available'

    @property
    def stages(self) -> Tuple[str, ...]:
        """Stage names in run order."""
        return tuple(self._stages)

    def run(self, stage: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """
        Enqueue one engine on the executor's stream.

        :param stage: stage name.
        :param inputs: ``{input name: CUDA tensor}`` with the graph's dtypes and shapes.
        :return: ``{output name: CUDA tensor}``, buffers reused by the next call of this stage.
        """
        start, end = self._events[stage]
        with torch.cuda.stream(self._stream):
            start.record(self._stream)
            outputs = self._stages[stage].enqueue(inputs, self._stream)
            end.record(self._stream)
        return outputs

    def device_timings_ms(self) -> Dict[str, float]:
        """Return each stage's last device time from its CUDA events (waits for the stream)."""
        self._stream.synchronize()
        return {stage: start.elapsed_time(end) for stage, (start, end) in self._events.items()
                if end.query()}

    def image_input(self, image: np.ndarray) -> torch.Tensor:
        """
        Upload a network-sized RGB image as uint8 and convert it on the executor's stream.

        :param image: (H, W, 3) uint8 RGB.
        :return: (1, 3, H, W) float32 CUDA tensor in 0..255, reused by the next call.
        """
        return self._upload(image, self._stream)

    def stage_timer(self) -> CudaStageTimer:
        """Return a timer of CUDA events on the executor's stream (no wait between stages)."""
        return CudaStageTimer(self._stage_events, self._stream)

    def from_numpy(self, array: np.ndarray) -> torch.Tensor:
        """Upload a numpy array on the executor's stream."""
        with torch.cuda.stream(self._stream):
            return torch.from_numpy(array).to(self._torch_device, non_blocking=True)

    def to_numpy(self, value: torch.Tensor) -> np.ndarray:
        """Download a tensor after the stream's work on it has finished."""
        self._stream.synchronize()
        return value.float().cpu().numpy() if value.is_floating_point() else value.cpu().numpy()

    def synchronize(self) -> None:
        """Wait for the stream (stage timing)."""
        self._stream.synchronize()

    def close(self) -> None:
        """Free the engines, their contexts and buffers, and the cached GPU memory."""
        self._stream.synchronize()
        self._stages = {}
        self._events = {}
        torch.cuda.empty_cache()

    def _warm_up(self, runs: int) -> None:
        for _ in range(runs):
            for stage, engine in self._stages.items():
                self.run(stage, engine.zero_inputs())
        self._stream.synchronize()


class _StageEngine:
    """One deserialised engine, its execution context and pre-allocated output tensors."""

    def __init__(self, trt, engine, device: torch.device):
        self.engine = engine
        self.context = engine.create_execution_context()
        if self.context is None:
            raise BackendError('TensorRT could not create an execution context (out of GPU '
                               'memory?)')
        self.inputs: Dict[str, Tuple[Tuple[int, ...], torch.dtype]] = {}
        self.outputs: Dict[str, torch.Tensor] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = torch_dtype(trt, engine.get_tensor_dtype(name))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.inputs[name] = (shape, dtype)
            else:
                self.outputs[name] = torch.empty(shape, dtype=dtype, device=device)
                self.context.set_tensor_address(name, self.outputs[name].data_ptr())
        self.device = device

    def enqueue(self, inputs: Dict[str, torch.Tensor], stream: torch.cuda.Stream
                ) -> Dict[str, torch.Tensor]:
        for name, (shape, dtype) in self.inputs.items():
            value = inputs[name]
            if tuple(value.shape) != shape or value.dtype != dtype or not value.is_cuda:
                raise BackendError(f'input {name!r} must be a CUDA {dtype} tensor of shape '
                                   f'{shape}, got {value.dtype} {tuple(value.shape)} on '
                                   f'{value.device}')
            self.context.set_tensor_address(name, value.contiguous().data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError('TensorRT failed to enqueue the engine (see the TensorRT log)')
        return self.outputs

    def zero_inputs(self) -> Dict[str, torch.Tensor]:
        return {name: torch.zeros(shape, dtype=dtype, device=self.device)
                for name, (shape, dtype) in self.inputs.items()}


def torch_dtype(trt, dtype) -> torch.dtype:
    """
    Map a TensorRT data type to the torch dtype of its buffer.

    :param trt: the tensorrt module.
    :param dtype: a ``tensorrt.DataType``.
    :return: the torch dtype.
    :raises BackendError: for a type the stage graphs never use.
    """
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
             trt.DataType.INT32: torch.int32, trt.DataType.INT64: torch.int64,
             trt.DataType.INT8: torch.int8, trt.DataType.UINT8: torch.uint8,
             trt.DataType.BOOL: torch.bool}
    if dtype not in table:
        raise BackendError(f'unsupported TensorRT I/O type {dtype}')
    return table[dtype]


EXECUTOR = TensorRTExecutor
