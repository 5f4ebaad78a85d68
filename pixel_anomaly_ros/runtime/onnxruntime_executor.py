# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime executor: one inference session per exported stage graph."""

from typing import Any, Dict, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.pipelines.graphs import GRAPH_IO
from pixel_anomaly_ros.runtime.base import BackendError, Executor
from pixel_anomaly_ros.runtime.quantization import source_mismatch

#: Execution providers per device, best first.
PROVIDERS = {
    'cpu': ['CPUExecutionProvider'],
    'cuda': ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'],
}


class OnnxRuntimeExecutor(Executor):
    """Runs the bundle's ``<stage>.onnx`` graphs with ONNX Runtime."""

    backend = 'onnxruntime'

    def __init__(self, bundle: Bundle, device: str = 'cpu', precision: str = 'fp32',
                 threads: int = 2):
        """
        Open one session per stage.

        :param bundle: a bundle with exported graphs (``pixel-anomaly export``).
        :param device: ``cpu`` or ``cuda[:N]`` (needs onnxruntime-gpu).
        :param precision: ``fp32`` (the exported graphs) or, on the CPU, ``int8`` (their
            quantised copies, ``pixel-anomaly export --int8``).
        :param threads: intra-op threads on the CPU.
        :raises BackendError: for a missing or stale graph, a missing provider or an
            unsupported precision.
        """
        import onnxruntime as ort
        kind = 'cuda' if device.startswith('cuda') else 'cpu'
        if precision not in ('fp32', 'int8') or (precision == 'int8' and kind == 'cuda'):
            raise BackendError(f'precision {precision!r} on {device} is not supported by the '
                               f'onnxruntime backend: it runs fp32, and int8 on the CPU; use the '
                               f'tensorrt backend for fp16 or int8 on a GPU')
        available = ort.get_available_providers()
        providers = [p for p in PROVIDERS[kind] if p in available]
        if kind == 'cuda' and 'CUDAExecutionProvider' not in providers:
            raise BackendError(f'device {device!r} needs onnxruntime-gpu (CUDA execution '
                               f'provider); installed providers: {available}. Use device cpu.')
        self.device, self.precision = device, precision
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._sessions = {}
        for stage in bundle.spec.stage_inputs():
            path = bundle.onnx_path(stage, precision)
            if not bundle.onnx_path(stage).is_file():
                raise BackendError(f'{bundle.onnx_path(stage)}: missing; export the graphs '
                                   f'first with `pixel-anomaly export --bundle {bundle.path}`')
            if precision == 'int8':
                problem = source_mismatch(bundle, stage)
                if problem:
                    raise BackendError(problem)
            try:
                self._sessions[stage] = ort.InferenceSession(str(path), options,
                                                             providers=providers)
            except Exception as exc:  # noqa: B902 - ORT raises its own exception types
                raise BackendError(f'{path}: ONNX Runtime cannot load it ({exc}); re-export '
                                   f'with `pixel-anomaly export`') from exc
        self.providers = providers

    @property
    def stages(self) -> Tuple[str, ...]:
        """Stage names in run order."""
        return tuple(self._sessions)

    def run(self, stage: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """
        Run one stage session.

        :param stage: stage name.
        :param inputs: ``{input name: numpy array}``.
        :return: ``{output name: numpy array}``.
        """
        input_names, output_names = GRAPH_IO[stage]
        outputs = self._sessions[stage].run(list(output_names),
                                            {n: inputs[n] for n in input_names})
        return dict(zip(output_names, outputs))

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        """Return the array as it is (ONNX Runtime takes numpy arrays)."""
        return array

    def to_numpy(self, value: np.ndarray) -> np.ndarray:
        """Return the output as it is (ONNX Runtime returns numpy arrays)."""
        return value

    def close(self) -> None:
        """Drop the sessions."""
        self._sessions = {}
