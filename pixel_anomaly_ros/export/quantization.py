# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Static INT8 quantisation of a bundle's stage graphs, for ONNX Runtime and TensorRT.

Convolutions (and ConvTranspose / MatMul) get per-channel int8 weights and int8 activations
whose ranges are calibrated (min / max) on the inputs each stage sees in the fp32 pipeline over
real camera images, recorded once. Everything else stays fp32, the score maps in particular.
Two QDQ graphs are written next to the fp32 one from that one calibration:

* ``<stage>.int8.onnx``: uint8 activations, which ONNX Runtime fuses into integer kernels on
  the CPU (VNNI on recent x86 CPUs);
* ``<stage>.tensorrt-int8.onnx``: symmetric int8 activations (zero points 0), which TensorRT
  builds into INT8 engines by explicit quantisation, without its deprecated calibrator API.

A quantised graph records the sha256 of the fp32 graph it was made from; the executors refuse it
once the fp32 graph has been re-exported
(:meth:`~pixel_anomaly_ros.bundle.Bundle.int8_mismatch`).
Nothing is written until a stage is complete.
"""

from dataclasses import dataclass
import itertools
import os
from pathlib import Path
import tempfile
import time
from typing import Dict, List, Sequence

import numpy as np
from pixel_anomaly_ros.bundle import Bundle, INT8_SOURCE_KEY, sha256_file
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.export.int8_calibration import collect_stage_inputs
from pixel_anomaly_ros.stages.graph_io import GRAPH_IO

#: Operator types whose weights and inputs are quantised.
QUANTIZED_OPS = ('Conv', 'ConvTranspose', 'MatMul')
#: The quantised graph kinds (bundle.GRAPH_SUFFIXES) and whether their activations are
#: symmetric int8 (TensorRT) rather than asymmetric uint8 (ONNX Runtime on the CPU).
QUANTIZED_KINDS = {'int8': False, 'tensorrt-int8': True}


class QuantizationError(PixelAnomalyError, RuntimeError):
    """A stage graph could not be quantised (message says which file and why)."""


@dataclass
class StageQuantization:
    """
    One quantised stage graph.

    :ivar stage: stage name.
    :ivar path: the ``<stage>.int8.onnx`` written.
    :ivar differences: per output on the first calibration image, the largest
        ``|int8 - fp32|`` (for ``train_ids``: the fraction of pixels that differ).
    :ivar seconds: time taken.
    """

    stage: str
    path: Path
    differences: Dict[str, float]
    seconds: float


def quantize_bundle(bundle: Bundle, images: Sequence[np.ndarray], progress: bool = True
                    ) -> List[StageQuantization]:
    """
    Write both quantised graphs of every stage from its fp32 graph and calibration images.

    :param bundle: a bundle with exported fp32 graphs.
    :param images: RGB uint8 camera images like the ones the node will see (a few dozen).
    :param progress: show progress and one line per stage.
    :return: one :class:`StageQuantization` per stage and graph kind.
    :raises QuantizationError: for a missing fp32 graph, no images, or a failed stage; the
        previous quantised graph is then left as it was.
    """
    if not len(images):
        raise QuantizationError('int8 quantisation needs calibration images (camera images '
                                'like the ones the node will see: --calibration DIR_OR_LIST)')
    stages = list(bundle.spec.stage_inputs())
    for stage in stages:
        path = bundle.onnx_path(stage)
        if not path.is_file():
            raise QuantizationError(f'{path}: missing; export the fp32 graphs first with '
                                    f'`pixel-anomaly export --bundle {bundle.path}`')
    recorded = collect_stage_inputs(bundle, images, progress=progress)
    results = []
    for stage, (kind, symmetric) in itertools.product(stages, QUANTIZED_KINDS.items()):
        start = time.perf_counter()
        if progress:
            print(f'quantising {stage} ({kind}) on {len(recorded[stage])} calibration inputs '
                  f'...', flush=True)
        source, target = bundle.onnx_path(stage), bundle.onnx_path(stage, kind)
        with tempfile.TemporaryDirectory(prefix='.quantize-', dir=bundle.path) as tmp:
            staged = Path(tmp) / target.name
            _quantize(source, staged, recorded[stage], symmetric)
            differences = compare_with_fp32(source, staged, stage, recorded[stage][0])
            os.replace(staged, target)
        results.append(StageQuantization(stage, target, differences,
                                         time.perf_counter() - start))
        if progress:
            shown = ', '.join(f'{n} {v:.2%}' if n == 'train_ids' else f'{n} {v:.3g}'
                              for n, v in differences.items())
            print(f'  {target.name}: max |int8 - fp32| on a calibration image: {shown}; '
                  f'{results[-1].seconds:.1f} s', flush=True)
    return results


def compare_with_fp32(fp32_path: Path, int8_path: Path, stage: str,
                      inputs: Dict[str, np.ndarray]) -> Dict[str, float]:
    """
    Run both graphs of a stage on one input set and measure how far the int8 one drifts.

    :param fp32_path: the fp32 graph.
    :param int8_path: the quantised graph.
    :param stage: stage name.
    :param inputs: ``{input name: array}``.
    :return: per output the largest absolute difference (``train_ids``: fraction that differ).
    """
    import onnxruntime as ort
    outputs = list(GRAPH_IO[stage][1])
    results = [ort.InferenceSession(str(p), providers=['CPUExecutionProvider']).run(outputs,
                                                                                    inputs)
               for p in (fp32_path, int8_path)]
    differences = {}
    for name, reference, quantised in zip(outputs, *results):
        if name == 'train_ids':
            differences[name] = float(np.mean(reference != quantised))
        else:
            differences[name] = float(np.max(np.abs(reference.astype(np.float64) - quantised)))
    return differences


def _quantize(source: Path, target: Path, inputs: List[Dict[str, np.ndarray]],
              symmetric: bool) -> None:
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, quantize_static, QuantType)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Recorded(CalibrationDataReader):
        """Feeds the recorded inputs of this stage, one image at a time."""

        def __init__(self):
            self._items = iter(inputs)

        def get_next(self):
            return next(self._items, None)

    prepared = target.with_name('prepared.onnx')
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(target), Recorded(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTIZED_OPS), per_channel=True,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={'ActivationSymmetric': symmetric,
                                       'WeightSymmetric': True})
    except Exception as exc:  # noqa: B902 - the quantiser raises many types
        raise QuantizationError(f'{source}: ONNX Runtime quantisation failed: '
                                f'{_first_line(exc)}') from exc
    model = onnx.load(str(target))
    entry = model.metadata_props.add()
    entry.key, entry.value = INT8_SOURCE_KEY, sha256_file(source)
    onnx.save(model, str(target))


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
