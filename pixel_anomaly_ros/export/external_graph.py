# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write the stage graph around a user's ONNX model (``convert``, ``calibrate``, ``export``).

The graph is composed (:func:`pixel_anomaly_ros.stages.external_graph.compose_stage_graph`),
checked with the ONNX checker, run once in ONNX Runtime, and only then moved into place, so a
failure leaves the previous file as it was. No torch: bundles of the ``segmentation_onnx``
variant are converted, calibrated and exported without it.
"""

import logging
import os
from pathlib import Path
from typing import List, Optional

import numpy as np
import onnx
from pixel_anomaly_ros.bundle import Bundle, BundleSpec
from pixel_anomaly_ros.export.onnx_ops import allowed_op_types
from pixel_anomaly_ros.external_segmentation import EXTERNAL_STAGE, ExternalModelError
from pixel_anomaly_ros.stages.external_graph import compose_stage_graph, load_network
from pixel_anomaly_ros.stages.graph_io import GRAPH_IO

_log = logging.getLogger(__name__)


def write_external_graph(spec: BundleSpec, network_path, target,
                         network: Optional[onnx.ModelProto] = None) -> List[str]:
    """
    Compose, check and write the stage graph of a bundle with an external segmentation model.

    :param spec: the bundle spec (sizes, normalisation, scorer, SML statistics).
    :param network_path: the user's model file.
    :param target: the ``<stage>.onnx`` to write.
    :param network: the already loaded model (default: read ``network_path``).
    :return: the model's operator types that are not on the TensorRT allow-list (TensorRT may
        not build an engine from it; ONNX Runtime runs it).
    :raises ExternalModelError: when the graph fails the checker or ONNX Runtime.
    """
    target = Path(target)
    model = compose_stage_graph(network or load_network(network_path), spec)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExternalModelError(f'{network_path}: the composed stage graph fails the ONNX '
                                 f'checker ({str(exc).strip().splitlines()[0]})') from exc
    foreign = sorted({n.op_type for n in model.graph.node} - allowed_op_types())
    tmp = target.with_name(f'.{target.name}.tmp')
    try:
        onnx.save(model, str(tmp))
        _run_once(tmp, spec)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if foreign:
        _log.warning('%s: operators %s are not on the TensorRT allow-list; ONNX Runtime runs '
                     'the graph, TensorRT may refuse it', network_path, foreign)
    return foreign


def export_external_graph(bundle: Bundle, progress: bool = True) -> Path:
    """
    Re-write the external stage graph of a bundle from its ``network.onnx`` and ``bundle.yaml``.

    :param bundle: a bundle with a ``segmentation_onnx`` section.
    :param progress: print one line.
    :return: the written graph.
    """
    stage = EXTERNAL_STAGE[bundle.spec.variant]
    target = bundle.onnx_path(stage)
    if progress:
        print(f'composing {stage} around {bundle.spec.external.file} ...', flush=True)
    foreign = write_external_graph(bundle.spec, bundle.external_path, target)
    if progress:
        note = f'; not on the TensorRT allow-list: {foreign}' if foreign else ''
        print(f'  {target.name}: checked and run in ONNX Runtime{note}', flush=True)
    return target


def _run_once(path: Path, spec: BundleSpec) -> None:
    """Run the graph on one random image in ONNX Runtime and check its outputs."""
    import onnxruntime as ort
    stage = EXTERNAL_STAGE[spec.variant]
    h, w = spec.input_size
    image = np.random.default_rng(0).uniform(0, 255, (1, 3, h, w)).astype(np.float32)
    try:
        session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        outputs = session.run(list(GRAPH_IO[stage][1]), {'image': image})
    except Exception as exc:  # noqa: B902 - ONNX Runtime raises its own types
        lines = str(exc).strip().splitlines()
        raise ExternalModelError(f'{spec.external.file}: ONNX Runtime cannot run the stage graph '
                                 f'built around it ({lines[0] if lines else exc})') from exc
    for name, value in zip(GRAPH_IO[stage][1], outputs):
        if value.shape != (1, 1, h, w):
            raise ExternalModelError(f'{spec.external.file}: the stage graph output {name} has '
                                     f'shape {value.shape}, expected (1, 1, {h}, {w})')


def export_stage_graphs(bundle: Bundle, opset: int, atol: float) -> None:
    """
    Write every stage graph of a bundle.

    The stage around a user's ONNX model is composed; the others are exported from PyTorch.

    :param bundle: the bundle.
    :param opset: ONNX opset of the exported PyTorch stages.
    :param atol: tolerance of the exported stages against PyTorch.
    """
    external = EXTERNAL_STAGE[bundle.spec.variant] if bundle.spec.external else None
    if external is not None:
        export_external_graph(bundle)
    if any(stage != external for stage in bundle.spec.stage_inputs()):
        from pixel_anomaly_ros.export.onnx_export import export_bundle
        export_bundle(bundle, opset=opset, atol=atol)
