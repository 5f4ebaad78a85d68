# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The stage graph around a user's ONNX segmentation model (no torch).

The model is checked (one N x 3 x H x W float image input, opset >= 13) and composed into one
graph with the bundle's stage contract (:data:`.graph_io.GRAPH_IO`):

``image`` (1, 3, H, W) RGB 0..255 -> channel order, mean and std (nodes in front) -> the
model, its names prefixed ``network/`` -> its logits, resized bilinearly to (H, W) as the
bundle says (``pixel_anomaly.logits``) -> the scorer (``posthoc``: ``score``, ``train_ids``)
or SynBoost's uncertainty maps (``segmentation``: ``train_ids``, ``entropy``, ``distance``).

So ONNX Runtime and TensorRT run the same graph, and the SML statistics are constants in it.
:func:`add_baselines` appends the four baseline scores of the same logits for evaluation.
"""

from dataclasses import dataclass
from typing import Dict, List, Sequence, Union

import numpy as np
import onnx
from onnx import helper
from pixel_anomaly_ros.bundle import BundleSpec
from pixel_anomaly_ros.external_segmentation import EXTERNAL_STAGE, ExternalModelError
from pixel_anomaly_ros.stages import onnx_scorers as scorers
from pixel_anomaly_ros.stages.graph_io import BASELINE_OUTPUTS, GRAPH_IO
from pixel_anomaly_ros.stages.onnx_builder import FLOAT, GraphBuilder, MIN_OPSET, UINT8

#: Prefix of the user's tensor and node names inside the stage graph.
NETWORK_PREFIX = 'network/'
#: The logits at input resolution, float32 (1, C, H, W): what every scorer reads.
LOGITS = 'pixel_anomaly.logits'
FLOAT16 = onnx.TensorProto.FLOAT16
_TYPE_NAMES = {v: k.lower() for k, v in onnx.TensorProto.DataType.items()}


@dataclass
class NetworkInterface:
    """
    The image input and the outputs of a user's model, as declared in its graph.

    :ivar input_name: the one image input.
    :ivar input_shape: its dims (ints, or names / ``?`` for dynamic ones).
    :ivar input_type: its ONNX element type (float or float16).
    :ivar outputs: ``{name: dims}`` of every output.
    :ivar output_types: ``{name: ONNX element type}``.
    :ivar opset: the default-domain opset.
    """

    input_name: str
    input_shape: List[Union[int, str]]
    input_type: int
    outputs: Dict[str, List[Union[int, str]]]
    output_types: Dict[str, int]
    opset: int


def _dims(value: onnx.ValueInfoProto) -> List[Union[int, str]]:
    return [d.dim_value if d.HasField('dim_value') else (d.dim_param or '?')
            for d in value.type.tensor_type.shape.dim]


def format_shape(dims: Sequence) -> str:
    """
    Write dims as ``1x3x512x1024`` (dynamic dims by name).

    :param dims: ints or names.
    :return: the text.
    """
    return 'x'.join(str(d) for d in dims) if len(dims) else 'scalar'


def describe_value(value: onnx.ValueInfoProto) -> str:
    """Return ``name (type dims)`` of a graph input or output."""
    kind = _TYPE_NAMES.get(value.type.tensor_type.elem_type, 'non-tensor')
    return f'{value.name} ({kind} {format_shape(_dims(value))})'


def load_network(path) -> onnx.ModelProto:
    """
    Read a user's ONNX model (external data next to it included) and run the ONNX checker.

    :param path: the ``.onnx`` file.
    :return: the model.
    :raises ExternalModelError: for a missing file, a file that is not ONNX, or an invalid model.
    """
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ExternalModelError(f'{path}: no such file') from None
    except Exception as exc:  # noqa: B902 - protobuf raises its own types
        raise ExternalModelError(f'{path}: not an ONNX model ({_first_line(exc)})') from exc
    if not model.graph.node or not model.opset_import:
        raise ExternalModelError(f'{path}: not an ONNX model (no graph nodes or no opset)')
    try:
        onnx.checker.check_model(model if model.ByteSize() < 2 ** 31 else str(path))
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ExternalModelError(f'{path}: the ONNX checker rejects this model '
                                 f'({_first_line(exc)})') from exc
    return model


def network_interface(model: onnx.ModelProto, where: str) -> NetworkInterface:
    """
    Check the model's interface: one N x 3 x H x W float input, N 1 or dynamic, opset >= 13.

    :param model: the model.
    :param where: the file, for messages.
    :return: its interface.
    :raises ExternalModelError: naming the inputs and shapes found.
    """
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    found = ', '.join(describe_value(i) for i in inputs) or 'none'
    expected = 'a segmentation model needs one Nx3xHxW float image input'
    if len(inputs) != 1:
        raise ExternalModelError(f'{where}: the model has {len(inputs)} inputs ({found}); '
                                 f'{expected}')
    value = inputs[0]
    dims, kind = _dims(value), value.type.tensor_type.elem_type
    if kind not in (FLOAT, FLOAT16) or len(dims) != 4 or dims[1] != 3 or \
            (isinstance(dims[0], int) and dims[0] != 1):
        raise ExternalModelError(f'{where}: its input is {found}; {expected} (N = 1 or '
                                 f'dynamic)')
    opset = next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), 0)
    if opset < MIN_OPSET:
        raise ExternalModelError(f'{where}: opset {opset} is too old; export the model again '
                                 f'with opset {MIN_OPSET} or newer')
    return NetworkInterface(
        input_name=value.name, input_shape=dims, input_type=kind,
        outputs={o.name: _dims(o) for o in model.graph.output},
        output_types={o.name: o.type.tensor_type.elem_type for o in model.graph.output},
        opset=opset)


def compose_stage_graph(network: onnx.ModelProto, spec: BundleSpec) -> onnx.ModelProto:
    """
    Build the bundle's stage graph around the user's model.

    :param network: the user's model (``network.onnx``).
    :param spec: the bundle spec with its ``external`` section.
    :return: the stage graph: input ``image``, the outputs of ``GRAPH_IO`` of the stage.
    :raises ExternalModelError: when the model does not fit the bundle.
    """
    external = spec.external
    stage = EXTERNAL_STAGE[spec.variant]
    interface = network_interface(network, external.file)
    if external.logits_output not in interface.outputs:
        raise ExternalModelError(f'{external.file}: no output {external.logits_output!r}; '
                                 f'outputs: {sorted(interface.outputs)}')
    h, w = spec.input_size
    net = onnx.compose.add_prefix(network, NETWORK_PREFIX)
    g = GraphBuilder(interface.opset)
    _front(g, spec, interface)
    front = len(g.nodes)
    logits = NETWORK_PREFIX + external.logits_output
    if interface.output_types[external.logits_output] != FLOAT:
        logits = g.op('Cast', [logits], 'logits_float', to=FLOAT)
    if tuple(external.logits_size) != (h, w):
        g.resize_linear(logits, [1, spec.num_classes, h, w],
                        external.logits_resize == 'align_corners', output=LOGITS)
    else:
        g.op('Identity', [logits], output=LOGITS)
    terms = scorers.SoftmaxTerms(g, LOGITS, spec.num_classes)
    if stage == 'posthoc':
        score = scorers.posthoc_score(
            terms, external.scorer, (h, w), external.sml_constants(spec.num_classes),
            external.blur, external.boundary_suppression, external.dilated_smoothing)
        results = {'score': score, 'train_ids': scorers.train_ids(terms)}
    else:
        entropy, distance = scorers.uncertainty_maps(terms)
        results = {'train_ids': scorers.train_ids(terms), 'entropy': entropy,
                   'distance': distance}
    outputs = []
    for name in GRAPH_IO[stage][1]:
        g.op('Identity', [results[name]], output=name)
        outputs.append(helper.make_tensor_value_info(
            name, UINT8 if name == 'train_ids' else FLOAT, [1, 1, h, w]))
    nodes = g.nodes[:front] + list(net.graph.node) + g.nodes[front:]
    nodes, initializers = _prune(nodes, list(net.graph.initializer) + g.initializers,
                                 [o.name for o in outputs])
    graph = helper.make_graph(nodes, f'pixel_anomaly_{stage}',
                              [helper.make_tensor_value_info('image', FLOAT, [1, 3, h, w])],
                              outputs, initializers)
    model = helper.make_model(graph, opset_imports=list(network.opset_import),
                              ir_version=network.ir_version, functions=list(net.functions),
                              producer_name='pixel_anomaly_ros')
    return model


def _front(g: GraphBuilder, spec: BundleSpec, interface: NetworkInterface) -> None:
    """RGB 0..255 (1, 3, H, W) -> the model's channel order, mean and std, and dtype."""
    x = 'image'
    if spec.channel_order == 'bgr':
        x = g.op('Gather', [x, g.const([2, 1, 0], np.int64)], 'bgr', axis=1)
    mean = g.const(np.reshape(spec.mean, (1, 3, 1, 1)), hint='mean')
    std = g.const(np.reshape(spec.std, (1, 3, 1, 1)), hint='std')
    target = NETWORK_PREFIX + interface.input_name
    if interface.input_type == FLOAT16:
        normalised = g.op('Div', [g.op('Sub', [x, mean]), std], 'normalised')
        g.op('Cast', [normalised], output=target, to=FLOAT16)
    else:
        g.op('Div', [g.op('Sub', [x, mean]), std], output=target)


def add_baselines(stage_graph: onnx.ModelProto, num_classes: int) -> onnx.ModelProto:
    """
    Return a copy of a composed stage graph that also outputs the four baseline scores.

    Evaluation only: max softmax, max logit, entropy / ln C and energy of
    ``pixel_anomaly.logits``, named :data:`.graph_io.BASELINE_OUTPUTS`.

    :param stage_graph: a graph from :func:`compose_stage_graph` (or its int8 copy).
    :param num_classes: the class count.
    :return: the extended graph.
    :raises ExternalModelError: when the graph has no ``pixel_anomaly.logits`` tensor.
    """
    produced = {name for node in stage_graph.graph.node for name in node.output}
    if LOGITS not in produced:
        raise ExternalModelError(f'this stage graph has no {LOGITS} tensor to compute the '
                                 f'baselines from; use the fp32 graph (precision fp32)')
    opset = next((o.version for o in stage_graph.opset_import if o.domain in ('', 'ai.onnx')),
                 MIN_OPSET)
    g = GraphBuilder(opset, 'pixel_anomaly.baseline.')
    terms = scorers.SoftmaxTerms(g, LOGITS, num_classes)
    model = onnx.ModelProto()
    model.CopyFrom(stage_graph)
    shape = [d.dim_value for d in stage_graph.graph.output[0].type.tensor_type.shape.dim]
    for name, value in zip(BASELINE_OUTPUTS, scorers.baseline_scores(terms)):
        g.op('Identity', [value], output=name)
        model.graph.output.append(helper.make_tensor_value_info(name, FLOAT, shape))
    model.graph.node.extend(g.nodes)
    model.graph.initializer.extend(g.initializers)
    return model


def _subgraph_names(node: onnx.NodeProto) -> set:
    """Every tensor name used inside a node's subgraphs (they may read outer-scope tensors)."""
    names = set()
    for attribute in node.attribute:
        graphs = ([attribute.g] if attribute.HasField('g') else []) + list(attribute.graphs)
        for graph in graphs:
            for inner in graph.node:
                names.update(inner.input)
                names |= _subgraph_names(inner)
    return names


def _prune(nodes: List[onnx.NodeProto], initializers: List[onnx.TensorProto],
           outputs: List[str]):
    """Drop the nodes and initializers no output depends on (e.g. a model's auxiliary heads)."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
            needed |= _subgraph_names(node)
    return kept[::-1], [i for i in initializers if i.name in needed]


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
