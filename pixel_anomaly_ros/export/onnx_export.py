# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Export a bundle's stage graphs to ONNX (the first step of ``pixel-anomaly export``).

One self-contained graph per stage with the static shapes of ``bundle.yaml``, without the
exporter's per-node debugging metadata, so the same weights give the same bytes. Each graph is
checked with the ONNX checker, limited to operators TensorRT's ONNX parser supports, run in
ONNX Runtime and compared with PyTorch before it replaces any previous file.
"""

import contextlib
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import time
from typing import Dict, List, Sequence, Tuple, TYPE_CHECKING
import warnings

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.export.onnx_ops import allowed_op_types, ALLOWED_OPS_FILE
from pixel_anomaly_ros.stages.graph_io import GRAPH_IO
from pixel_anomaly_ros.stages.graphs import build_networks, build_stage_graphs
import torch

if TYPE_CHECKING:  # onnx is imported where it is used
    import onnx

DEFAULT_OPSET = 18


class ExportError(PixelAnomalyError, RuntimeError):
    """A stage could not be exported or its graph does not match PyTorch."""


@dataclass
class StageExport:
    """What exporting one stage produced and how closely ONNX Runtime matched PyTorch."""

    stage: str
    path: Path
    op_types: List[str]
    max_abs_diff: Dict[str, float]
    seconds: float


def example_inputs(bundle: Bundle, stage: str, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """
    Build random example inputs with the stage's static shapes and dtypes.

    :param bundle: the bundle.
    :param stage: stage name.
    :param seed: random seed.
    :return: tensors in the graph's input order.
    """
    generator = torch.Generator().manual_seed(seed)
    shapes = bundle.spec.stage_inputs()[stage]
    values = []
    for name in GRAPH_IO[stage][0]:
        shape = shapes[name]
        if name == 'train_ids':
            values.append(torch.randint(0, bundle.spec.num_classes, shape, dtype=torch.uint8,
                                        generator=generator))
        elif name == 'image':
            values.append(torch.rand(shape, generator=generator) * 255.0)
        elif name == 'weights':
            values.append(torch.tensor(bundle.spec.ensemble_weights(), dtype=torch.float32))
        else:
            values.append(torch.rand(shape, generator=generator))
    return tuple(values)


def export_bundle(bundle: Bundle, opset: int = DEFAULT_OPSET, atol: float = 1e-4,
                  stages: Sequence[str] = None, progress: bool = True) -> List[StageExport]:
    """
    Export, check and verify every stage graph of a bundle.

    :param bundle: the bundle; graphs are written next to its ``bundle.yaml``.
    :param opset: ONNX opset (18 or newer; TensorRT 10 parses up to 20).
    :param atol: largest allowed difference between ONNX Runtime and PyTorch on the score
        (intermediate float outputs may differ by up to ten times that), times the largest
        absolute output value where it exceeds 1 (raw energies).
    :param stages: subset of stages (default: all).
    :param progress: print one line per stage.
    :return: one :class:`StageExport` per stage.
    :raises ExportError: on an export failure, a checker error, a disallowed operator or a
        numerical mismatch; the previous graph file is then left untouched.
    """
    if opset < 18:
        raise ExportError(f'opset {opset} is not supported: the exporter emits ReduceLogSumExp '
                          f'attributes that need opset >= 18; TensorRT 10 parses 18-20')
    networks = build_networks(bundle.spec, bundle.component_state_dicts(),
                              where=str(bundle.weights_path))
    graphs = build_stage_graphs(bundle.spec, networks)
    results = []
    for stage in stages or list(graphs):
        start = time.perf_counter()
        if progress:
            print(f'exporting {stage} ...', flush=True)
        path = bundle.onnx_path(stage)
        tmp = path.with_name(f'.{path.name}.tmp')
        try:
            args = example_inputs(bundle, stage)
            model = _export(graphs[stage], stage, args, tmp, opset)
            op_types = _check(model, stage)
            diffs = _compare(graphs[stage], stage, args, tmp, atol)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        results.append(StageExport(stage, path, op_types, diffs, time.perf_counter() - start))
        if progress:
            worst = max(diffs.values()) if diffs else 0.0
            print(f'  {path.name}: {len(op_types)} op types, max |onnx - torch| {worst:.2e}, '
                  f'{results[-1].seconds:.1f} s', flush=True)
    return results


def _export(graph: torch.nn.Module, stage: str, args, path: Path,
            opset: int) -> 'onnx.ModelProto':
    names, outputs = GRAPH_IO[stage]
    try:
        with _quiet_exporter():
            torch.onnx.export(graph, args, str(path), input_names=list(names),
                              output_names=list(outputs), opset_version=opset, dynamo=True,
                              external_data=False, verbose=False)
    except Exception as exc:  # noqa: B902 - the exporter raises many types
        raise ExportError(f'{stage}: torch.onnx.export failed: '
                          f'{str(exc).strip().splitlines()[0]}') from exc
    return _strip_node_metadata(path)


@contextlib.contextmanager
def _quiet_exporter():
    """
    Silence the exporter's notices that say nothing about this export.

    Its operator registry warns once per torchvision operator when torchvision is absent (this
    package does not use it), and torch's own pytree code raises a deprecation warning.
    """
    registry_log = logging.getLogger('torch.onnx._internal.exporter._registration')
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='.*LeafSpec', category=FutureWarning)
            yield
    finally:
        registry_log.setLevel(level)


def _strip_node_metadata(path: Path) -> 'onnx.ModelProto':
    """
    Drop the exporter's per-node debugging metadata from a saved graph.

    The dynamo exporter records each node's Python stack trace (with the absolute paths of
    this checkout), FX node and module scope: about 0.2 MB in each demo graph, and the reason
    two checkouts would export the same weights to different bytes.

    :param path: the ONNX file, rewritten in place.
    :return: the stripped ``onnx.ModelProto``, as saved.
    """
    import onnx
    model = onnx.load(str(path))
    pending = [model.graph] + list(model.functions)
    while pending:
        holder = pending.pop()
        for node in holder.node:
            del node.metadata_props[:]
            for attribute in node.attribute:
                pending.extend(attribute.graphs)
                if attribute.HasField('g'):
                    pending.append(attribute.g)
    onnx.save(model, str(path))
    return model


def _check(model: 'onnx.ModelProto', stage: str) -> List[str]:
    import onnx
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f'{stage}: the ONNX checker rejected the graph: {exc}') from exc
    op_types = sorted({node.op_type for node in model.graph.node})
    unsupported = sorted(set(op_types) - allowed_op_types())
    if unsupported:
        raise ExportError(f'{stage}: operators {unsupported} are not on the TensorRT allow-list '
                          f'{ALLOWED_OPS_FILE.name}; the graph could not be built into an engine')
    return op_types


def _compare(graph: torch.nn.Module, stage: str, args, path: Path, atol: float
             ) -> Dict[str, float]:
    import onnxruntime as ort
    names, outputs = GRAPH_IO[stage]
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = session.run(list(outputs), {n: a.numpy() for n, a in zip(names, args)})
    with torch.inference_mode():
        expected = graph(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    diffs = {}
    for name, ref, out in zip(outputs, expected, got):
        ref = ref.numpy()
        if ref.dtype != out.dtype or ref.shape != out.shape:
            raise ExportError(f'{stage}: output {name} is {out.dtype}{out.shape} in ONNX '
                              f'Runtime but {ref.dtype}{ref.shape} in PyTorch')
        if name == 'train_ids':
            # Arg-max may differ where two classes tie; anything more is a real mismatch.
            mismatch = float(np.mean(ref != out))
            diffs[name] = mismatch
            if mismatch > 1e-3:
                raise ExportError(f'{stage}: {mismatch:.2%} of train ids differ from PyTorch')
            continue
        diffs[name] = float(np.max(np.abs(ref.astype(np.float64) - out)))
        # The final score is held to atol; intermediate maps (softmax of large logits in
        # particular) may drift up to 10x that without moving the score past atol. Outputs
        # beyond [-1, 1] (raw energies of -20 and so on) are held relative to their magnitude.
        base = atol if name == 'score' else 10 * atol
        magnitude = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        if diffs[name] > base * magnitude:
            raise ExportError(f'{stage}: output {name} differs from PyTorch by '
                              f'{diffs[name]:.2e} (> {base:g} x max(1, max |output| = '
                              f'{magnitude:.3g}))')
    return diffs
