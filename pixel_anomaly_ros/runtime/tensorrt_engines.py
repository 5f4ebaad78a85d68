# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
TensorRT engines of a bundle's stage graphs: found in the cache, or built from the ONNX graph.

An engine is built with the TensorRT 10 Python API from ``<stage>.onnx`` and cached in
``<bundle>/engines/<key>/`` (:mod:`engine_cache`). The cache is consulted first, so engines
built once (``pixel-anomaly export --tensorrt``) serve every later process. Building an INT8
engine needs calibration data: the inputs each stage saw on camera images, recorded by
:mod:`pixel_anomaly_ros.export.int8_calibration` and passed in here as arrays.
"""

from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError
from pixel_anomaly_ros.runtime.engine_cache import EngineCache, EngineKey

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
    try:
        import torch
    except ImportError:
        return False
    if not torch.cuda.is_available():
        return False
    try:
        import_tensorrt()
    except BackendError:
        return False
    return True


def ensure_engines(bundle: Bundle, precision: str, gpu_name: str, rebuild: bool = True,
                   force: bool = False,
                   calibration: Optional[Mapping[str, Sequence[Dict[str, np.ndarray]]]] = None,
                   log: Optional[Callable[[str], None]] = None
                   ) -> Dict[str, Tuple[Path, bytes]]:
    """
    Return a valid cached plan for every stage, building the missing or stale ones.

    :param bundle: a bundle with exported graphs.
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :param gpu_name: the GPU model the plans are for (part of the cache key).
    :param rebuild: build missing or stale engines; otherwise refuse them.
    :param force: rebuild even valid engines.
    :param calibration: for building INT8 engines, ``{stage: [{input name: array}, ...]}``
        (:func:`pixel_anomaly_ros.export.int8_calibration.collect_stage_inputs`); cached INT8
        engines need none.
    :param log: receives progress messages.
    :return: ``{stage: (plan path, plan bytes)}``.
    :raises BackendError: for a missing graph, a refused rebuild, an INT8 build without
        calibration data, or a failed build.
    """
    if precision not in PRECISIONS:
        raise BackendError(f'precision {precision!r} is not supported by the tensorrt '
                           f'backend; use one of {PRECISIONS}')
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    cache = EngineCache(bundle.path)
    plans = {}
    for stage in bundle.spec.stage_inputs():
        source = bundle.onnx_path(stage)
        if not source.is_file():
            raise BackendError(f'{source}: missing; export the graphs first with '
                               f'`pixel-anomaly export --bundle {bundle.path}`')
        key = EngineKey.for_graph(source, trt.__version__, gpu_name, precision)
        batches = (calibration or {}).get(stage)
        plan = cache.get(key, stage,
                         lambda p=source, b=batches: build_engine(p, precision, logger, b, log),
                         rebuild=rebuild, force=force, log=log)
        plans[stage] = (cache.plan_path(key, stage), plan)
    return plans


def build_engine(onnx_path, precision: str, logger,
                 calibration: Optional[Sequence[Dict[str, np.ndarray]]] = None,
                 log: Optional[Callable[[str], None]] = None) -> bytes:
    """
    Build a serialised TensorRT engine from an ONNX graph.

    :param onnx_path: the stage graph.
    :param precision: ``fp32``, ``fp16`` or ``int8`` (INT8 with FP16 fallback).
    :param logger: a ``tensorrt.Logger``.
    :param calibration: for INT8, the recorded inputs of this stage, one dict per image.
    :param log: receives progress lines.
    :return: the plan bytes.
    :raises BackendError: with the parser's errors, without INT8 calibration data, or when the
        build fails.
    """
    if precision == 'int8' and not calibration:
        raise BackendError(f'{onnx_path}: building an int8 engine needs calibration images; '
                           f'build the engines once with `pixel-anomaly export --bundle BUNDLE '
                           f'--tensorrt --precision int8 --calibration DIR_OR_LIST`, or use fp16')
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
    if precision == 'int8':
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = make_calibrator(trt, calibration)
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


def make_calibrator(trt, batches: Sequence[Dict[str, np.ndarray]]):
    """
    Create an entropy calibrator that feeds recorded stage inputs to the INT8 builder.

    :param trt: the tensorrt module.
    :param batches: one ``{input name: array}`` per calibration image.
    :return: a ``tensorrt.IInt8EntropyCalibrator2``.
    """
    import torch

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
