# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Build a bundle around a user's ONNX segmentation model (``pixel-anomaly convert``).

``segmentation-onnx``: the model plus a post-hoc scorer on its logits, one stage graph.
``synboost_light --segmentation-onnx``: SynBoost's synthesis and dissimilarity (official
checkpoints) around the model instead of ICNet. The model is checked first (one
N x 3 x H x W float input; a (1, C, h, w) logits output with C the class count, found by
running it once in ONNX Runtime) and refused with the shapes found; the bundle is written only
when everything passed, so a refusal leaves nothing behind. Torch is not imported for
``segmentation-onnx``.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
import sys
import tempfile
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle, BundleError, BundleSpec, sha256_file
from pixel_anomaly_ros.bundle_writer import write_bundle
from pixel_anomaly_ros.export.external_graph import write_external_graph
from pixel_anomaly_ros.external_segmentation import (CLASS_SETS, ExternalModelError,
                                                     ExternalSegmentation, NETWORK_FILE,
                                                     SCORE_RANGES, SCORER_DEFAULTS)
from pixel_anomaly_ros.stages.external_graph import (FLOAT16, format_shape, load_network,
                                                     network_interface)

#: ImageNet mean and std of 0..1 RGB pixels: torchvision's convention, and mmsegmentation's
#: once scaled to 0..255 (123.675, 116.28, 103.53 / 58.395, 57.12, 57.375).
IMAGENET_MEAN_UNIT = (0.485, 0.456, 0.406)
IMAGENET_STD_UNIT = (0.229, 0.224, 0.225)
#: The most classes a model may have: class ids travel as uint8 (``semantic/labels`` mono8).
MAX_CLASSES = 255


@dataclass
class ModelOptions:
    """
    What the user says about their model; the conversion checks it against the model.

    :ivar path: the ``.onnx`` file.
    :ivar num_classes: class count C of the logits (or give ``classes``).
    :ivar classes: a name of :data:`CLASS_SETS`.
    :ivar mean: per-channel mean in R, G, B order, in the units of ``input_scale``.
    :ivar std: per-channel std in R, G, B order, in the units of ``input_scale``.
    :ivar channel_order: ``rgb`` or ``bgr``: the channel order the model expects.
    :ivar input_scale: 1 (the model expects pixels in 0..1) or 255 (0..255).
    :ivar input_size: (height, width) for a model whose input size is dynamic.
    :ivar logits_output: the logits output (default: the one 4-D output).
    :ivar logits_resize: ``align_corners`` or ``half_pixel`` bilinear resize of the logits.
    """

    path: str
    num_classes: Optional[int] = None
    classes: Optional[str] = None
    mean: Sequence[float] = IMAGENET_MEAN_UNIT
    std: Sequence[float] = IMAGENET_STD_UNIT
    channel_order: str = 'rgb'
    input_scale: float = 1.0
    input_size: Optional[Tuple[int, int]] = None
    logits_output: Optional[str] = None
    logits_resize: str = 'align_corners'


@dataclass
class CheckedModel:
    """A model that passed the checks: what the bundle needs to know about it."""

    model: object
    external: ExternalSegmentation
    input_size: Tuple[int, int]
    num_classes: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]


def check_model(options: ModelOptions) -> CheckedModel:
    """
    Load and check a user's segmentation model against what the user says about it.

    :param options: the model and its conventions.
    :return: the checked model and its ``segmentation_onnx`` description.
    :raises ExternalModelError: for an unreadable or unsuitable model, naming the shapes found.
    """
    path = Path(options.path)
    if options.classes is not None:
        if options.classes not in CLASS_SETS:
            raise ExternalModelError(f'unknown class set {options.classes!r}; known: '
                                     f'{sorted(CLASS_SETS)}')
        if options.num_classes not in (None, CLASS_SETS[options.classes]):
            raise ExternalModelError(f'--classes {options.classes} has '
                                     f'{CLASS_SETS[options.classes]} classes, not '
                                     f'{options.num_classes}')
    classes = options.num_classes or CLASS_SETS.get(options.classes)
    if not classes or not 2 <= classes <= MAX_CLASSES:
        raise ExternalModelError(f'give the class count of the model (--num-classes 2..'
                                 f'{MAX_CLASSES} or --classes cityscapes), got {classes}')
    if len(options.mean) != 3 or len(options.std) != 3 or min(options.std) <= 0:
        raise ExternalModelError('--mean and --std need 3 values (R,G,B), std > 0')
    if options.input_scale not in (1, 255):
        raise ExternalModelError(f'--input-scale is 1 or 255, not {options.input_scale}')
    model = load_network(path)
    interface = network_interface(model, str(path))
    size = _input_size(interface, options.input_size, path)
    output = _logits_output(interface, options.logits_output, path)
    shape = _probe(path, interface, size, output)
    if len(shape) != 4 or shape[0] != 1:
        raise ExternalModelError(f'{path}: output {output} is {format_shape(shape)} for a '
                                 f'1x3x{size[0]}x{size[1]} input; expected 1xCxhxw logits')
    if shape[1] != classes:
        raise ExternalModelError(f'{path}: output {output} is {format_shape(shape)}: '
                                 f'{shape[1]} classes, but the class count given is {classes}')
    scale = 255.0 / float(options.input_scale)
    order = [2, 1, 0] if options.channel_order == 'bgr' else [0, 1, 2]
    external = ExternalSegmentation(
        input_name=interface.input_name, logits_output=output,
        logits_size=(int(shape[2]), int(shape[3])), logits_resize=options.logits_resize,
        input_scale=float(options.input_scale), classes=options.classes or '',
        sha256=sha256_file(path), source=path.name)
    return CheckedModel(model, external, size, classes,
                        tuple(float(options.mean[i]) * scale for i in order),
                        tuple(float(options.std[i]) * scale for i in order))


def convert_segmentation_onnx(out_dir, options: ModelOptions, scorer: str = 'energy',
                              blur: Optional[bool] = None,
                              boundary_suppression: Optional[bool] = None,
                              dilated_smoothing: Optional[bool] = None,
                              name: Optional[str] = None, overwrite: bool = False) -> Bundle:
    """
    Convert a user's ONNX segmentation model into a ``segmentation_onnx`` bundle.

    :param out_dir: bundle directory to create.
    :param options: the model and its input conventions.
    :param scorer: ``energy``, ``max_logit``, ``entropy``, ``max_softmax`` or ``sml`` (SML needs
        ``pixel-anomaly calibrate`` to measure its class statistics; until then it is the max
        logit).
    :param blur: PEBAL's 7x7 Gaussian on the score (default: on for energy).
    :param boundary_suppression: SML's boundary suppression (default: on for sml).
    :param dilated_smoothing: SML's dilated smoothing (default: on for sml).
    :param name: bundle name (default: the directory name).
    :param overwrite: replace an existing bundle directory.
    :return: the written bundle, ready to run on ONNX Runtime.
    :raises ExternalModelError: for an unsuitable model; nothing is written then.
    """
    out_dir = Path(out_dir)
    _check_out(out_dir, overwrite)
    checked = check_model(options)
    defaults = SCORER_DEFAULTS.get(scorer)
    if defaults is None:
        raise ExternalModelError(f'unknown scorer {scorer!r}; use one of {list(SCORER_DEFAULTS)}')
    external = checked.external
    external.scorer = scorer
    external.blur = defaults['blur'] if blur is None else blur
    external.boundary_suppression = (defaults['boundary_suppression']
                                     if boundary_suppression is None else boundary_suppression)
    external.dilated_smoothing = (defaults['dilated_smoothing'] if dilated_smoothing is None
                                  else dilated_smoothing)
    lo, hi = SCORE_RANGES[scorer]
    spec = BundleSpec(
        name=name or out_dir.name, variant='segmentation_onnx', networks={},
        input_size=checked.input_size, channel_order=options.channel_order,
        mean=checked.mean, std=checked.std, num_classes=checked.num_classes,
        score_lo=lo, score_hi=hi, external=external,
        description=f'{Path(options.path).name} ({checked.num_classes} classes) with the '
                    f'{scorer} scorer on its logits.')
    spec.provenance = _provenance({'segmentation': options.path})
    return _write(spec, {}, out_dir, overwrite, checked, options.path, 'posthoc')


def convert_synboost_light_onnx(out_dir, options: ModelOptions, synthesis, perceptual,
                                dissimilarity, name: Optional[str] = None,
                                preset: str = 'light', trust_pickle: bool = False,
                                overwrite: bool = False, uint8_round_trips: bool = True
                                ) -> Bundle:
    """
    Convert SynBoost Light's official synthesis and dissimilarity around a user's model.

    :param out_dir: bundle directory to create.
    :param options: the model (19 Cityscapes classes) and its input conventions.
    :param synthesis: NVlabs SPADE Cityscapes ``latest_net_G.pth``.
    :param perceptual: torchvision VGG19 ImageNet state_dict.
    :param dissimilarity: SynBoost dissimilarity checkpoint.
    :param name: bundle name (default: the directory name).
    :param preset: architecture preset (``light``, or ``light_tiny`` for tests).
    :param trust_pickle: allow full unpickling of files the safe loader refuses.
    :param overwrite: replace an existing bundle directory.
    :param uint8_round_trips: truncate the dissimilarity inputs to 8 bits as the official code.
    :return: the written bundle; its synthesis and dissimilarity graphs still need
        ``pixel-anomaly export``.
    """
    from pixel_anomaly_ros.convert import load_light_networks
    from pixel_anomaly_ros.presets import preset_spec
    out_dir = Path(out_dir)
    _check_out(out_dir, overwrite)
    if options.num_classes is None and options.classes is None:
        options.classes = 'cityscapes'
    checked = check_model(options)
    if checked.num_classes != 19:
        raise ExternalModelError(f'{options.path}: SynBoost needs the 19 Cityscapes classes '
                                 f'(its synthesis draws them), not {checked.num_classes}')
    spec = preset_spec(preset)
    files = {'synthesis': synthesis, 'perceptual': perceptual, 'dissimilarity': dissimilarity}
    networks = load_light_networks(spec, files, trust_pickle)
    del spec.networks['segmentation']
    spec.name, spec.external = name or out_dir.name, checked.external
    spec.input_size, spec.channel_order = checked.input_size, options.channel_order
    spec.mean, spec.std, spec.uint8_round_trips = checked.mean, checked.std, uint8_round_trips
    spec.description = (f'SynBoost Light around {Path(options.path).name}: SPADE re-synthesis, '
                        f'VGG19 perceptual difference, DissimNetPrior.')
    spec.provenance = _provenance({'segmentation': options.path, **files})
    states = {c: n.state_dict() for c, n in networks.items()}
    return _write(spec, states, out_dir, overwrite, checked, options.path, 'segmentation')


def _check_out(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise BundleError(f'{out_dir}: already exists; choose another --out or pass --force')


def _write(spec: BundleSpec, states: Dict[str, dict], out_dir: Path, overwrite: bool,
           checked: CheckedModel, source, stage: str) -> Bundle:
    """Compose the stage graph in a temporary directory, then write the bundle at once."""
    with tempfile.TemporaryDirectory(prefix='pixel-anomaly-convert-') as tmp:
        network = _self_contained(Path(source), checked.model, Path(tmp))
        graph = Path(tmp) / f'{stage}.onnx'
        write_external_graph(spec, network, graph, network=checked.model)
        return write_bundle(spec, states, out_dir, overwrite=overwrite,
                            files={NETWORK_FILE: network, graph.name: graph})


def _self_contained(source: Path, model, tmp: Path) -> Path:
    """Return the model as one file: the user's file, or a copy with its external data inlined."""
    import onnx
    header = onnx.load(str(source), load_external_data=False)
    if not any(t.data_location == onnx.TensorProto.EXTERNAL for t in header.graph.initializer):
        return source
    if model.ByteSize() >= 2 ** 31:
        raise ExternalModelError(f'{source}: models over 2 GB (external data) are not supported')
    target = tmp / NETWORK_FILE
    onnx.save(model, str(target))
    return target


def _input_size(interface, given: Optional[Tuple[int, int]], path: Path) -> Tuple[int, int]:
    dims = interface.input_shape
    static = tuple(d for d in dims[2:] if isinstance(d, int) and d > 0)
    if len(static) == 2:
        if given is not None and tuple(given) != static:
            raise ExternalModelError(f'{path}: the model input is fixed at '
                                     f'{format_shape(dims)}; --input-size '
                                     f'{given[1]}x{given[0]} differs (leave it out)')
        return static
    if given is None:
        raise ExternalModelError(f'{path}: the model input {format_shape(dims)} has a dynamic '
                                 f'size; give the size to run it at with --input-size WxH')
    return tuple(int(v) for v in given)


def _logits_output(interface, wanted: Optional[str], path: Path) -> str:
    outputs = ', '.join(f'{n} ({format_shape(d)})' for n, d in interface.outputs.items())
    if wanted is not None:
        if wanted not in interface.outputs:
            raise ExternalModelError(f'{path}: no output {wanted!r}; outputs: {outputs}')
        return wanted
    four_d = [n for n, d in interface.outputs.items() if len(d) == 4]
    if len(four_d) != 1:
        raise ExternalModelError(f'{path}: {len(four_d)} outputs are 4-D (outputs: {outputs}); '
                                 f'name the logits with --logits-output')
    return four_d[0]


def _probe(path: Path, interface, size: Tuple[int, int], output: str) -> Tuple[int, ...]:
    """Run the model once on a black image in ONNX Runtime; return the logits shape."""
    import onnxruntime as ort
    dtype = np.float16 if interface.input_type == FLOAT16 else np.float32
    image = np.zeros((1, 3, *size), dtype)
    try:
        session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        value = session.run([output], {interface.input_name: image})[0]
    except Exception as exc:  # noqa: B902 - ONNX Runtime raises its own types
        lines = str(exc).strip().splitlines()
        raise ExternalModelError(f'{path}: ONNX Runtime cannot run the model on a 1x3x{size[0]}'
                                 f'x{size[1]} input ({lines[0] if lines else exc})') from exc
    return tuple(value.shape)


def _provenance(files: Dict[str, object]) -> dict:
    return {'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'command': ' '.join(sys.argv),
            'sources': [{'component': c, 'file': Path(p).name, 'sha256': sha256_file(p)}
                        for c, p in files.items()]}
