# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
TensorRT executor: one serialised engine per stage graph, torch CUDA tensors as I/O buffers.

Engines are built from the bundle's ``<stage>.onnx`` with the TensorRT 10 Python API (FP32, FP16,
or INT8 calibrated on real images) and cached in ``<bundle>/engines/<key>/`` (see
:mod:`engine_cache`). All work runs on one CUDA stream; CUDA events time every stage on the
device. Output buffers are allocated once, so a frame allocates nothing on the GPU.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor
from pixel_anomaly_ros.runtime.calibration import collect_stage_inputs
from pixel_anomaly_ros.runtime.engine_cache import EngineCache, EngineKey
import torch

PRECISIONS = ('fp32', 'fp16', 'int8')
#: Builder workspace limit.
WORKSPACE_BYTES = 4 << 30


def import_tensorrt():
    """
    Import the TensorRT Python package, or explain how to get it.

    :return: the ``tensorrt`` module.
    :raises BackendError: when TensorRT is not installed or too old.
    """
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError('the tensorrt backend needs the TensorRT Python package (pip install '
                           'tensorrt, matching your CUDA); use backend onnxruntime or torch '
                           'instead') from exc
    if int(tensorrt.__version__.split('.')[0]) < 10:
        raise BackendError(f'TensorRT {tensorrt.__version__} is too old: the graphs use opset '
                           f'18 and the TensorRT 10 API; install TensorRT >= 10')
    return tensorrt


def tensorrt_available() -> bool:
    """Return whether TensorRT >= 10 and a CUDA device are usable here."""
    if not torch.cuda.is_available():
        return False
    try:
        import_tensorrt()
    except BackendError:
        return False
    return True


class TensorRTExecutor(Executor):
    """Runs cached TensorRT engines of a bundle's stage graphs."""

    backend = 'tensorrt'

    def __init__(self, bundle: Bundle, device: str = 'cuda', precision: str = 'fp16',
                 rebuild: bool = True, calibration_images: Sequence[np.ndarray] = (),
                 warmup: int = 3, log: Optional[Callable[[str], None]] = None):
        """
        Load (or build) the engines of every stage and allocate their output buffers.

        :param bundle: a bundle with exported graphs.
        :param device: ``cuda`` or ``cuda:N``.
        :param precision: ``fp32``, ``fp16`` or ``int8``.
        :param rebuild: build missing or stale engines; otherwise refuse them.
        :param calibration_images: RGB uint8 images for INT8 calibration.
        :param warmup: untimed runs of every stage after loading.
        :param log: receives progress messages (engine builds).
        :raises BackendError: without TensorRT or CUDA, for a missing graph, a corrupt or
            foreign engine that may not be rebuilt, or a failed build.
        """
        if precision not in PRECISIONS:
            raise BackendError(f'precision {precision!r} is not supported by the tensorrt '
                               f'backend; use one of {PRECISIONS}')
        if not device.startswith('cuda'):
            raise BackendError(f'the tensorrt backend runs on a CUDA device, not {device!r}; '
                               f'use backend onnxruntime or torch on the CPU')
        if not torch.cuda.is_available():
            raise BackendError('the tensorrt backend needs a CUDA GPU, and torch sees none; use '
                               'backend onnxruntime or torch with device cpu')
        trt = import_tensorrt()
        self.device, self.precision = device, precision
        self._torch_device = torch.device(device)
        torch.cuda.set_device(self._torch_device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        plans = ensure_engines(bundle, precision, device, rebuild=rebuild,
                               calibration_images=calibration_images, log=log)
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
        self._warm_up(warmup)

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


def ensure_engines(bundle: Bundle, precision: str, device: str = 'cuda', rebuild: bool = True,
                   force: bool = False, calibration_images: Sequence[np.ndarray] = (),
                   log: Optional[Callable[[str], None]] = None) -> Dict[str, Tuple[Any, bytes]]:
    """
    Return a valid cached plan for every stage, building the missing or stale ones.

    :param bundle: a bundle with exported graphs.
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :param device: the CUDA device whose GPU model keys the cache.
    :param rebuild: build missing or stale engines; otherwise refuse them.
    :param force: rebuild even valid engines.
    :param calibration_images: RGB uint8 images for INT8 calibration.
    :param log: receives progress messages.
    :return: ``{stage: (plan path, plan bytes)}``.
    :raises BackendError: for a missing graph, a refused rebuild or a failed build.
    """
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    gpu = torch.cuda.get_device_name(torch.device(device))
    cache = EngineCache(bundle.path)
    calibration = None
    if precision == 'int8':
        if not calibration_images:
            raise BackendError('int8 needs calibration images (camera images like the ones the '
                               'node will see: --calibration LIST); or use fp16')
        calibration = collect_stage_inputs(bundle, calibration_images)
    plans = {}
    for stage in bundle.spec.stage_inputs():
        path = bundle.onnx_path(stage)
        if not path.is_file():
            raise BackendError(f'{path}: missing; export the graphs first with '
                               f'`pixel-anomaly export --bundle {bundle.path}`')
        key = EngineKey.for_graph(path, trt.__version__, gpu, precision)
        stage_calibration = calibration[stage] if calibration else None
        plan = cache.get(key, stage,
                         lambda p=path, c=stage_calibration: build_engine(p, precision, c,
                                                                          logger, log),
                         rebuild=rebuild, force=force, log=log)
        plans[stage] = (cache.plan_path(key, stage), plan)
    return plans


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


def build_engine(onnx_path, precision: str, calibration: Optional[List[Dict[str, np.ndarray]]],
                 logger, log: Optional[Callable[[str], None]] = None) -> bytes:
    """
    Build a serialised TensorRT engine from an ONNX graph.

    :param onnx_path: the stage graph.
    :param precision: ``fp32``, ``fp16`` or ``int8`` (INT8 with FP16 fallback).
    :param calibration: for INT8, the recorded inputs of this stage, one dict per image.
    :param logger: a ``tensorrt.Logger``.
    :param log: receives progress lines.
    :return: the plan bytes.
    :raises BackendError: with the parser's errors, or when the build fails.
    """
    trt = import_tensorrt()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f'{onnx_path}: TensorRT cannot parse this graph ({errors}); '
                           f're-export it with `pixel-anomaly export`')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision in ('fp16', 'int8'):
        config.set_flag(trt.BuilderFlag.FP16)
    calibrator = None
    if precision == 'int8':
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = make_calibrator(trt, calibration)
        config.int8_calibrator = calibrator
    monitor = make_progress_monitor(trt, log)
    if monitor is not None:
        config.progress_monitor = monitor
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(f'{onnx_path}: the TensorRT build failed (see the log above); '
                           f'try precision fp32 or a larger GPU memory budget')
    return bytes(plan)


def make_progress_monitor(trt, log: Optional[Callable[[str], None]]):
    """
    Create a TensorRT progress monitor that reports builder phases to ``log``.

    :param trt: the tensorrt module.
    :param log: receives one line per top-level phase step; ``None`` disables reporting.
    :return: the monitor, or ``None``.
    """
    if log is None:
        return None

    class PhaseLogger(trt.IProgressMonitor):
        """Logs the builder's top-level phases."""

        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.steps = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.steps[phase_name] = num_steps
            if parent_phase is None:
                log(f'  {phase_name} ({num_steps} steps)')

        def step_complete(self, phase_name, step):
            return True

        def phase_finish(self, phase_name):
            self.steps.pop(phase_name, None)

    return PhaseLogger()


def make_calibrator(trt, batches: Optional[List[Dict[str, np.ndarray]]]):
    """
    Create an entropy calibrator that feeds recorded stage inputs to the INT8 builder.

    :param trt: the tensorrt module.
    :param batches: one ``{input name: array}`` per calibration image.
    :return: a ``tensorrt.IInt8EntropyCalibrator2``.
    :raises BackendError: without calibration data.
    """
    if not batches:
        raise BackendError('int8 needs calibration data; pass calibration images')

    class RecordedInputs(trt.IInt8EntropyCalibrator2):
        """Feeds one recorded input set per calibration step."""

        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.index = 0
            self.buffers = {}

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            if self.index >= len(batches):
                return None
            batch = batches[self.index]
            self.index += 1
            self.buffers = {n: torch.from_numpy(batch[n]).cuda() for n in names}
            return [int(self.buffers[n].data_ptr()) for n in names]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache):
            return None

    return RecordedInputs()
