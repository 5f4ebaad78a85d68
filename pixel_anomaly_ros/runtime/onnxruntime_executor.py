# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
ONNX Runtime executor: one inference session per exported stage graph.

On the CPU stage values are numpy arrays. On CUDA they are GPU ``OrtValue`` objects bound with
I/O binding, so the maps passed from stage to stage never cross PCIe; only the image goes up
and the results come down. The TensorRT execution provider is not used: the ``tensorrt``
backend builds and caches engines itself (keyed by graph, GPU, TensorRT version, precision).
"""

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.external_segmentation import EXTERNAL_STAGE
from pixel_anomaly_ros.runtime.base import BackendError, Executor, parse_device
from pixel_anomaly_ros.stages.graph_io import BASELINE_OUTPUTS, GRAPH_IO


def execution_providers(device: str, available: Sequence[str]
                        ) -> List[Tuple[str, Dict[str, str]]]:
    """
    Choose the execution providers and their options for a device.

    :param device: ``cpu``, ``cuda`` or ``cuda:N``.
    :param available: ``onnxruntime.get_available_providers()``.
    :return: ``[(provider, options), ...]`` best first.
    :raises BackendError: for CUDA without onnxruntime-gpu.
    """
    kind, index = parse_device(device)
    if kind == 'cpu':
        return [('CPUExecutionProvider', {})]
    if 'CUDAExecutionProvider' not in available:
        raise BackendError(f'device {device!r} needs onnxruntime-gpu (CUDA execution '
                           f'provider); installed providers: {list(available)}. Use device cpu.')
    return [('CUDAExecutionProvider', {'device_id': str(index or 0)}),
            ('CPUExecutionProvider', {})]


class OnnxRuntimeExecutor(Executor):
    """Runs the bundle's ``<stage>.onnx`` graphs with ONNX Runtime."""

    backend = 'onnxruntime'
    OPTIONS = ('threads', 'baselines')

    def __init__(self, bundle: Bundle, device: str = 'cpu', precision: str = 'fp32',
                 threads: int = 2, baselines: bool = False):
        """
        Open one session per stage.

        :param bundle: a bundle with exported graphs (``pixel-anomaly export``).
        :param device: ``cpu`` or ``cuda[:N]`` (needs onnxruntime-gpu).
        :param precision: ``fp32`` (the exported graphs) or, on the CPU, ``int8`` (their
            quantised copies, ``pixel-anomaly export --int8``).
        :param threads: intra-op threads on the CPU.
        :param baselines: evaluation only, for bundles whose segmentation is a user's ONNX
            model: that stage also returns the baseline scores of its logits
            (``BASELINE_OUTPUTS``), from a copy of its graph extended in memory.
        :raises BackendError: for a missing or stale graph, a missing provider, an
            unsupported precision, or baselines of a built-in network.
        """
        import onnxruntime as ort
        kind, index = parse_device(device)
        if precision not in ('fp32', 'int8') or (precision == 'int8' and kind == 'cuda'):
            raise BackendError(f'precision {precision!r} on {device} is not supported by the '
                               f'onnxruntime backend: it runs fp32, and int8 on the CPU; use the '
                               f'tensorrt backend for fp16 or int8 on a GPU')
        chosen = execution_providers(device, ort.get_available_providers())
        providers = [name for name, _ in chosen]
        self.device, self.precision = device, precision
        self._cuda = (index or 0) if kind == 'cuda' else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._sessions = {}
        self._baseline_stages = ()
        if baselines:
            external = EXTERNAL_STAGE.get(bundle.spec.variant) if bundle.spec.external else None
            if external is None:
                raise BackendError('baseline scores need the segmentation logits: the torch '
                                   'backend computes them for built-in networks, onnxruntime '
                                   'for a segmentation that is an ONNX model; use backend '
                                   'torch')
            self._baseline_stages = (external,)
        for stage in bundle.spec.stage_inputs():
            path = bundle.onnx_path(stage, precision)
            if not bundle.onnx_path(stage).is_file():
                raise BackendError(f'{bundle.onnx_path(stage)}: missing; export the graphs '
                                   f'first with `pixel-anomaly export --bundle {bundle.path}`')
            if precision == 'int8':
                problem = bundle.int8_mismatch(stage)
                if problem:
                    raise BackendError(problem)
            try:
                source = (_with_baselines(path, bundle.spec.num_classes)
                          if stage in self._baseline_stages else str(path))
                self._sessions[stage] = ort.InferenceSession(
                    source, options, providers=[name for name, _ in chosen],
                    provider_options=[opts for _, opts in chosen])
            except BackendError:
                raise
            except Exception as exc:  # noqa: B902 - ORT raises its own exception types
                raise BackendError(f'{path}: ONNX Runtime cannot load it ({exc}); re-export '
                                   f'with `pixel-anomaly export`') from exc
        self.providers = providers

    @classmethod
    def for_bundle(cls, bundle: Bundle, device: str, precision: str, **options
                   ) -> 'OnnxRuntimeExecutor':
        """
        Build the executor of a bundle.

        :param bundle: the bundle.
        :param device: ``cpu`` or ``cuda[:N]``.
        :param precision: ``fp32`` or, on the CPU, ``int8``.
        :param options: ``threads``, ``baselines``.
        :return: the executor.
        """
        return cls(bundle, device, precision, **options)

    @classmethod
    def auto_choice(cls, bundle: Bundle, device: str, precision: str
                    ) -> Optional[Tuple[str, str]]:
        """
        Offer ONNX Runtime for exported bundles: on CUDA when installed, else on the CPU.

        :param bundle: the bundle.
        :param device: ``cpu`` or ``cuda[:N]``.
        :param precision: the wished precision; int8 runs the quantised graphs on the CPU
            when they match the exported ones.
        :return: (precision, reason) or None.
        """
        if not bundle.has_onnx():
            return None
        if device != 'cpu':
            import onnxruntime
            if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
                return None
            return 'fp32', 'no TensorRT; ONNX Runtime has CUDA'
        if precision == 'int8':
            problems = [bundle.int8_mismatch(s) for s in bundle.spec.stage_inputs()]
            if not any(problems):
                return 'int8', 'no usable CUDA GPU; ONNX Runtime int8 graphs'
            logging.getLogger(__name__).warning('no int8 ONNX Runtime graphs to use: %s',
                                                next(p for p in problems if p))
        return 'fp32', 'no usable CUDA GPU; ONNX Runtime on the CPU'

    @property
    def stages(self) -> Tuple[str, ...]:
        """Stage names in run order."""
        return tuple(self._sessions)

    def run(self, stage: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """
        Run one stage session.

        :param stage: stage name.
        :param inputs: ``{input name: numpy array}`` on the CPU, ``{input name: OrtValue}`` on
            CUDA.
        :return: ``{output name: value}`` of the same kind.
        """
        input_names, output_names = GRAPH_IO[stage]
        if stage in self._baseline_stages:
            output_names = output_names + BASELINE_OUTPUTS
        session = self._sessions[stage]
        if self._cuda is None:
            outputs = session.run(list(output_names), {n: inputs[n] for n in input_names})
            return dict(zip(output_names, outputs))
        binding = session.io_binding()
        for name in input_names:
            binding.bind_ortvalue_input(name, inputs[name])
        for name in output_names:
            binding.bind_output(name, 'cuda', self._cuda)
        session.run_with_iobinding(binding)
        return dict(zip(output_names, binding.get_outputs()))

    def from_numpy(self, array: np.ndarray) -> Any:
        """Return the array itself on the CPU; on CUDA upload it as an ``OrtValue``."""
        if self._cuda is None:
            return array
        import onnxruntime as ort
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), 'cuda',
                                                self._cuda)

    def to_numpy(self, value: Any) -> np.ndarray:
        """Return an output as numpy (downloaded from the GPU on CUDA)."""
        return value if isinstance(value, np.ndarray) else value.numpy()

    def close(self) -> None:
        """Drop the sessions."""
        self._sessions = {}


def _with_baselines(path, num_classes: int) -> bytes:
    """Return a stage graph extended with the baseline outputs, serialised."""
    import onnx

    from pixel_anomaly_ros.errors import PixelAnomalyError
    from pixel_anomaly_ros.stages.external_graph import add_baselines
    try:
        return add_baselines(onnx.load(str(path)), num_classes).SerializeToString()
    except PixelAnomalyError as exc:
        raise BackendError(f'{path}: {exc}') from exc


EXECUTOR = OnnxRuntimeExecutor
