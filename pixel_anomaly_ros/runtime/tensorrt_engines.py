# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
TensorRT engines of a bundle's stage graphs: found in the cache, or built from the ONNX graph.

An engine is built with the TensorRT 10 Python API and cached in ``<bundle>/engines/<key>/``
(:mod:`engine_cache`); the cache is consulted first, so an engine built once serves every later
process. fp32 and fp16 engines are built from ``<stage>.onnx``; INT8 engines from
``<stage>.tensorrt-int8.onnx`` (``pixel-anomaly export --int8``), whose Q/DQ nodes carry the
ranges calibrated on camera images: explicit quantisation, the same calibration as ONNX
Runtime's int8 graphs, no calibrator at build time.
"""

from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

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


def engine_graph(bundle: Bundle, stage: str, precision: str) -> Path:
    """
    Return the ONNX graph an engine of this precision is built from, checking it is usable.

    :param bundle: the bundle.
    :param stage: stage name.
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :return: ``<stage>.onnx``, or ``<stage>.tensorrt-int8.onnx`` for int8.
    :raises BackendError: for a missing graph, or an int8 graph that is missing or stale.
    """
    path = bundle.onnx_path(stage)
    if not path.is_file():
        raise BackendError(f'{path}: missing; export the graphs first with '
                           f'`pixel-anomaly export --bundle {bundle.path}`')
    if precision != 'int8':
        return path
    problem = bundle.int8_mismatch(stage, 'tensorrt-int8')
    if problem:
        raise BackendError(f'int8 TensorRT engines are built from the quantised graphs: '
                           f'{problem}')
    return bundle.onnx_path(stage, 'tensorrt-int8')


def ensure_engines(bundle: Bundle, precision: str, gpu_name: str, rebuild: bool = True,
                   force: bool = False, log: Optional[Callable[[str], None]] = None
                   ) -> Dict[str, Tuple[Path, bytes]]:
    """
    Return a valid cached plan for every stage, building the missing or stale ones.

    :param bundle: a bundle with exported graphs (for int8 also the quantised ones).
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :param gpu_name: the GPU model the plans are for (part of the cache key).
    :param rebuild: build missing or stale engines; otherwise refuse them.
    :param force: rebuild even valid engines.
    :param log: receives progress messages.
    :return: ``{stage: (plan path, plan bytes)}``.
    :raises BackendError: for a missing or stale graph, a refused rebuild or a failed build.
    """
    if precision not in PRECISIONS:
        raise BackendError(f'precision {precision!r} is not supported by the tensorrt '
                           f'backend; use one of {PRECISIONS}')
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    cache = EngineCache(bundle.path)
    plans = {}
    for stage in bundle.spec.stage_inputs():
        source = engine_graph(bundle, stage, precision)
        key = EngineKey.for_graph(source, trt.__version__, gpu_name, precision)
        plan = cache.get(key, stage, lambda p=source: build_engine(p, precision, logger, log),
                         rebuild=rebuild, force=force, log=log)
        plans[stage] = (cache.plan_path(key, stage), plan)
    return plans


def build_engine(onnx_path, precision: str, logger,
                 log: Optional[Callable[[str], None]] = None) -> bytes:
    """
    Build a serialised TensorRT engine from an ONNX graph.

    :param onnx_path: the stage graph (for ``int8`` its symmetric Q/DQ copy).
    :param precision: ``fp32``, ``fp16`` or ``int8`` (INT8 where the graph is quantised, FP16
        elsewhere).
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
    if precision == 'int8':
        config.set_flag(trt.BuilderFlag.INT8)  # explicit: the scales are the graph's Q/DQ
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
