# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The model bundle: ``bundle.yaml`` + ``weights.safetensors`` (+ ONNX graphs and engines later).

A bundle is the one artifact that ``convert``, ``train``, ``export``, the pipelines and the node
exchange. It is validated on load, and every error names the file and says how to fix it.
Weights are stored as safetensors (cannot execute code), keyed ``<component>.<parameter>``.
Writing one: :mod:`pixel_anomaly_ros.bundle_writer`.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from pixel_anomaly_ros.atomic_files import sha256_file
from pixel_anomaly_ros.bundle_keys import ENSEMBLE_TERMS, unknown_key
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.external_segmentation import (EXTERNAL_STAGE, ExternalModelError,
                                                     ExternalSegmentation)
from pixel_anomaly_ros.operating_point import CUSTOM_THRESHOLD, OperatingPoint
import yaml

FORMAT_VERSION = 1
BUNDLE_FILE = 'bundle.yaml'
WEIGHTS_FILE = 'weights.safetensors'

#: Components each variant needs, in data-flow order.
VARIANT_COMPONENTS = {
    'synboost_light': ('segmentation', 'synthesis', 'perceptual', 'dissimilarity'),
    'pebal': ('segmentation',),
    'segmentation_onnx': (),
}
#: Stage names each variant runs, in order (pre- and post-processing included).
VARIANT_STAGES = {
    'synboost_light': ('preprocess', 'segmentation', 'synthesis', 'dissimilarity', 'postprocess'),
    'pebal': ('preprocess', 'energy', 'postprocess'),
    'segmentation_onnx': ('preprocess', 'posthoc', 'postprocess'),
}

#: ImageNet statistics in 0..255 units (RGB): the default input normalisation, and the one
#: SynBoost's VGG perceptual difference and dissimilarity network expect.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: Metadata key of a quantised graph holding its fp32 source graph's sha256.
INT8_SOURCE_KEY = 'pixel_anomaly_ros.source_sha256'
#: Largest ``score.smoothing`` sigma, in raw-score pixels.
MAX_SMOOTHING = 16.0
#: The ``score.smoothing`` sigmas ``calibrate`` tries by default. On the demo's calibration set it
#: took 2 for SynBoost Light (raw score at the synthesis size, 128x256) and 3 for PEBAL (at the
#: network size, on top of its in-graph 7x7, sigma 1 blur); larger ones blur small objects away.
SMOOTHING_CANDIDATES = (0.0, 1.0, 2.0, 3.0)
#: File suffix of each graph kind: the exported fp32 graph and its two quantised copies
#: (``export --int8``): uint8 activations for ONNX Runtime on the CPU, symmetric int8
#: activations for TensorRT's explicit quantisation (it needs zero points of 0).
GRAPH_SUFFIXES = {'fp32': '.onnx', 'int8': '.int8.onnx', 'tensorrt-int8': '.tensorrt-int8.onnx'}


class BundleError(PixelAnomalyError, ValueError):
    """A bundle is missing, malformed or inconsistent; the message says which file and why."""


@dataclass
class NetworkSpec:
    """A network of the bundle: a builder name from the registry and its keyword arguments."""

    builder: str
    args: Dict[str, object] = field(default_factory=dict)


@dataclass
class BundleSpec:
    """
    Everything in ``bundle.yaml``.

    Sizes are (height, width). ``mean``/``std`` are in 0..255 units, in the network's channel
    order; ``channel_order`` says whether the network expects RGB or BGR input.
    """

    name: str
    variant: str
    networks: Dict[str, NetworkSpec]
    input_size: Tuple[int, int]
    synthesis_size: Optional[Tuple[int, int]] = None
    channel_order: str = 'rgb'
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    num_classes: int = 19
    score_lo: float = 0.0
    score_hi: float = 1.0
    threshold: float = 0.5
    #: Sigma in raw-score pixels of the Gaussian that smooths the raw score before the range
    #: calibration (``score.smoothing``, chosen by ``calibrate``); 0 smooths nothing.
    smoothing: float = 0.0
    ensemble: Dict[str, float] = field(
        default_factory=lambda: {'p_anomaly': 0.75, 'entropy': 0.25,
                                 'perceptual': 0.0, 'distance': 0.0})
    description: str = ''
    provenance: Dict[str, object] = field(default_factory=dict)
    validation: Dict[str, object] = field(default_factory=dict)
    #: The user's ONNX segmentation model (``segmentation_onnx`` section), or None.
    external: Optional[ExternalSegmentation] = None
    #: SynBoost: truncate the dissimilarity inputs to 8 bits as the official code does.
    uint8_round_trips: bool = False
    #: Entropy, distance and energy from the coarse logits, then resized (no lattice; ICNet).
    coarse_scores: bool = False
    #: How those coarse maps are resized: a key of :data:`.coarse_resize.COARSE_RESIZES`.
    coarse_resize: str = 'bilinear'
    #: ``{name: {'threshold', 'tpr', 'fpr'}}`` written by ``calibrate``; ``threshold`` is the
    #: default one's.
    operating_points: Dict[str, Dict[str, Optional[float]]] = field(default_factory=dict)
    default_operating_point: str = ''

    def operating_point(self, name: str = '') -> OperatingPoint:
        """
        Return a recorded operating point, or the bundle's threshold when it records none.

        :param name: a key of :attr:`operating_points`; empty for the bundle default.
        :return: the point (a bundle without operating points gives its ``score.threshold``
            as :data:`CUSTOM_THRESHOLD`, unmeasured).
        :raises BundleError: for a name the bundle does not record.
        """
        name = name or self.default_operating_point
        if not name:
            return OperatingPoint(CUSTOM_THRESHOLD, float(self.threshold))
        if name not in self.operating_points:
            known = ', '.join(self.operating_points) or 'none (run `pixel-anomaly calibrate`)'
            raise BundleError(f'bundle {self.name} has no operating point {name!r}; it has: '
                              f'{known}')
        point = self.operating_points[name]
        return OperatingPoint(name, float(point['threshold']), point.get('tpr'),
                              point.get('fpr'))

    def stage_inputs(self) -> Dict[str, Dict[str, List[int]]]:
        """
        Return the static input shapes of every exported stage graph.

        :return: ``{stage: {input name: shape}}``.
        """
        h, w = self.input_size
        if self.variant == 'pebal':
            return {'energy': {'image': [1, 3, h, w]}}
        if self.variant == 'segmentation_onnx':
            return {'posthoc': {'image': [1, 3, h, w]}}
        sh, sw = self.synthesis_size
        maps = [1, 1, h, w]
        return {
            'segmentation': {'image': [1, 3, h, w]},
            'synthesis': {'train_ids': maps},
            'dissimilarity': {'image': [1, 3, h, w], 'synthesis': [1, 3, sh, sw],
                              'train_ids': maps, 'entropy': maps, 'distance': maps,
                              'weights': [len(ENSEMBLE_TERMS)]},
        }

    def describe_score_mapping(self) -> str:
        """Say how the raw score becomes the calibrated one (smoothing, then the range)."""
        smoothing = (f'Gaussian smoothing sigma {self.smoothing:g} px, then '
                     if self.smoothing else '')
        return f'{smoothing}[{self.score_lo}, {self.score_hi}] -> [0, 1]'

    def ensemble_weights(self) -> Tuple[float, float, float, float]:
        """Return the ensemble weights in :data:`ENSEMBLE_TERMS` order."""
        return tuple(float(self.ensemble[k]) for k in ENSEMBLE_TERMS)

    def validate(self, where: str = BUNDLE_FILE) -> None:
        """
        Check the spec for consistency.

        :param where: file name used in error messages.
        :raises BundleError: with the reason and a hint.
        """
        if self.variant not in VARIANT_COMPONENTS:
            raise BundleError(f'{where}: unknown variant {self.variant!r}; expected one of '
                              f'{sorted(VARIANT_COMPONENTS)}')
        needed = VARIANT_COMPONENTS[self.variant]
        if self.external is not None:  # its segmentation is the ONNX model, not a network
            needed = tuple(c for c in needed if c != 'segmentation')
        missing = [c for c in needed if c not in self.networks]
        extra = [c for c in self.networks if c not in needed]
        if missing or extra:
            raise BundleError(f'{where}: variant {self.variant} needs networks {list(needed)}; '
                              f'missing {missing}, unexpected {extra}')
        if self.networks:  # (the registry imports torch; an ONNX segmentation needs none)
            from pixel_anomaly_ros.networks import NETWORKS
        for component, spec in self.networks.items():
            if spec.builder not in NETWORKS:
                raise BundleError(f'{where}: networks.{component}.builder {spec.builder!r} is '
                                  f'not a known network; known: {sorted(NETWORKS)}')
        _check_size(where, 'input.size', self.input_size,
                    multiple=1 if self.external is not None else 8)
        if self.variant == 'synboost_light':
            _check_size(where, 'synthesis_size', self.synthesis_size, multiple=8)
        if self.channel_order not in ('rgb', 'bgr'):
            raise BundleError(f'{where}: input.channel_order must be rgb or bgr, '
                              f'not {self.channel_order!r}')
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise BundleError(f'{where}: input.mean and input.std need 3 values, std > 0')
        if not self.score_hi > self.score_lo:
            raise BundleError(f'{where}: score.hi ({self.score_hi}) must be greater than '
                              f'score.lo ({self.score_lo})')
        if not 0.0 <= self.smoothing <= MAX_SMOOTHING:
            raise BundleError(f'{where}: score.smoothing is a Gaussian sigma in pixels of the '
                              f'raw score, 0 (none) to {MAX_SMOOTHING:g}; got {self.smoothing}')
        if not 0.0 <= self.threshold <= 1.0:
            raise BundleError(f'{where}: score.threshold must lie in [0, 1] (it applies to the '
                              f'calibrated score), got {self.threshold}')
        if sorted(self.ensemble) != sorted(ENSEMBLE_TERMS):
            raise BundleError(f'{where}: ensemble needs exactly the weights {ENSEMBLE_TERMS}')
        if self.variant == 'segmentation_onnx' and self.external is None:
            raise BundleError(f'{where}: variant segmentation_onnx needs its segmentation_onnx '
                              f'section; re-create the bundle with `pixel-anomaly convert '
                              f'segmentation-onnx`')
        if self.external is not None and self.variant not in EXTERNAL_STAGE:
            raise BundleError(f'{where}: a segmentation_onnx section does not go with variant '
                              f'{self.variant}')
        if self.external is not None:
            try:
                self.external.validate(self.variant, self.num_classes)
            except ExternalModelError as exc:
                raise BundleError(f'{where}: {exc}') from exc
        self._validate_coarse_resize(where)
        self._validate_operating_points(where)

    def _validate_coarse_resize(self, where: str) -> None:
        if self.coarse_resize == 'bilinear':  # (the default; the registry imports torch)
            return
        from pixel_anomaly_ros.coarse_resize import COARSE_RESIZES
        if self.coarse_resize not in COARSE_RESIZES:
            raise BundleError(f'{where}: coarse_resize {self.coarse_resize!r} is not one of '
                              f'{", ".join(COARSE_RESIZES)}')
        if not self.coarse_scores:
            raise BundleError(f'{where}: coarse_resize resizes the scores taken on the coarse '
                              'logits; add "coarse_scores: true" or remove coarse_resize')

    def _validate_operating_points(self, where: str) -> None:
        for name, point in self.operating_points.items():
            rates = [point.get('tpr'), point.get('fpr')]
            if not 0.0 <= point.get('threshold', -1.0) <= 1.0 or \
                    any(r is not None and not 0.0 <= r <= 1.0 for r in rates):
                raise BundleError(f'{where}: score.operating_points.{name} needs a threshold in '
                                  f'[0, 1] and tpr/fpr in [0, 1] (or null), got {point}')
        default = self.default_operating_point
        if default and default not in self.operating_points:
            raise BundleError(f'{where}: score.default_operating_point {default!r} is not among '
                              f'score.operating_points ({", ".join(self.operating_points)})')
        if default and self.operating_points[default]['threshold'] != self.threshold:
            raise BundleError(f'{where}: score.threshold ({self.threshold}) differs from the '
                              f'default operating point {default} '
                              f'({self.operating_points[default]["threshold"]}); set one to the '
                              'other, or remove score.default_operating_point')

    def to_yaml_dict(self) -> dict:
        """Return the ``bundle.yaml`` document."""
        doc = {
            'format_version': FORMAT_VERSION,
            'name': self.name,
            'variant': self.variant,
            'description': self.description,
            'networks': {k: asdict(v) for k, v in self.networks.items()},
            'input': {'size': list(self.input_size), 'channel_order': self.channel_order,
                      'mean': [float(m) for m in self.mean],
                      'std': [float(s) for s in self.std]},
            'num_classes': self.num_classes,
            'score': {'lo': float(self.score_lo), 'hi': float(self.score_hi),
                      'threshold': float(self.threshold), **self._smoothing_yaml(),
                      **self._operating_points_yaml()},
            'ensemble': {k: float(self.ensemble[k]) for k in ENSEMBLE_TERMS},
            'stages': {'run': list(VARIANT_STAGES[self.variant]),
                       'graph_inputs': self.stage_inputs()},
            'provenance': self.provenance,
            'validation': self.validation,
        }
        if self.synthesis_size is not None:
            doc['synthesis_size'] = list(self.synthesis_size)
        if self.external is not None:
            doc['segmentation_onnx'] = self.external.to_yaml_dict()
        if self.uint8_round_trips:
            doc['uint8_round_trips'] = True
        if self.coarse_scores:
            doc['coarse_scores'] = True
        if self.coarse_resize != 'bilinear':
            doc['coarse_resize'] = self.coarse_resize
        return doc

    def _smoothing_yaml(self) -> dict:
        return {'smoothing': float(self.smoothing)} if self.smoothing else {}

    def _operating_points_yaml(self) -> dict:
        if not self.operating_points:
            return {}
        points = {name: {k: None if v is None else float(v) for k, v in point.items()}
                  for name, point in self.operating_points.items()}
        return {'operating_points': points,
                'default_operating_point': self.default_operating_point}

    @classmethod
    def from_yaml_dict(cls, doc: dict, where: str = BUNDLE_FILE) -> 'BundleSpec':
        """
        Parse and validate a ``bundle.yaml`` document.

        :param doc: the parsed YAML.
        :param where: file name used in error messages.
        :return: the validated spec.
        :raises BundleError: on any missing or malformed field.
        """
        if not isinstance(doc, dict):
            raise BundleError(f'{where}: expected a mapping at the top level')
        version = doc.get('format_version')
        if version != FORMAT_VERSION:
            raise BundleError(f'{where}: format_version {version!r} is not supported (this '
                              f'version reads {FORMAT_VERSION}); re-create the bundle with '
                              f'`pixel-anomaly convert`')
        problem = unknown_key(doc)
        if problem:
            raise BundleError(f'{where}: {problem}')
        try:
            networks = {k: NetworkSpec(builder=v['builder'], args=dict(v.get('args') or {}))
                        for k, v in doc['networks'].items()}
            inp, score = doc['input'], doc['score']
            spec = cls(
                name=str(doc['name']), variant=str(doc['variant']), networks=networks,
                input_size=tuple(inp['size']),
                synthesis_size=tuple(doc['synthesis_size']) if 'synthesis_size' in doc
                else None,
                channel_order=inp.get('channel_order', 'rgb'),
                mean=tuple(inp['mean']), std=tuple(inp['std']),
                num_classes=int(doc.get('num_classes', 19)),
                score_lo=float(score['lo']), score_hi=float(score['hi']),
                threshold=float(score['threshold']),
                smoothing=float(score.get('smoothing', 0.0)),
                ensemble={k: float(v) for k, v in (doc.get('ensemble') or {}).items()}
                or cls.__dataclass_fields__['ensemble'].default_factory(),
                description=str(doc.get('description', '')),
                provenance=dict(doc.get('provenance') or {}),
                validation=dict(doc.get('validation') or {}),
                external=ExternalSegmentation.from_yaml_dict(doc['segmentation_onnx'])
                if doc.get('segmentation_onnx') is not None else None,
                uint8_round_trips=bool(doc.get('uint8_round_trips', False)),
                coarse_scores=bool(doc.get('coarse_scores', False)),
                coarse_resize=str(doc.get('coarse_resize', 'bilinear')),
                operating_points={str(k): {'threshold': float(v['threshold']),
                                           'tpr': _rate(v.get('tpr')), 'fpr': _rate(v.get('fpr'))}
                                  for k, v in (score.get('operating_points') or {}).items()},
                default_operating_point=str(score.get('default_operating_point') or ''))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BundleError(f'{where}: missing or malformed field ({exc!r}); see '
                              f'models/README.md for the bundle.yaml layout') from exc
        spec.validate(where)
        return spec


def _rate(value) -> Optional[float]:
    return None if value is None else float(value)


def _check_size(where: str, key: str, size, multiple: int) -> None:
    if (size is None or len(size) != 2 or any(not isinstance(s, int) for s in size)
            or any(s <= 0 or s % multiple for s in size)):
        raise BundleError(f'{where}: {key} must be [height, width], positive multiples of '
                          f'{multiple}, got {size!r}')


class Bundle:
    """A bundle directory on disk: its spec, and its weights loaded on demand."""

    def __init__(self, path: Path, spec: BundleSpec):
        """
        Wrap a validated bundle directory; use :func:`load_bundle` to create one.

        :param path: the bundle directory.
        :param spec: its parsed ``bundle.yaml``.
        """
        self.path = Path(path)
        self.spec = spec

    @property
    def weights_path(self) -> Path:
        """Path of the safetensors weights file."""
        return self.path / WEIGHTS_FILE

    @property
    def external_path(self) -> Optional[Path]:
        """Path of the user's ONNX segmentation model, or None for built-in networks."""
        external = self.spec.external
        return None if external is None else self.path / external.file

    def onnx_path(self, stage: str, precision: str = 'fp32') -> Path:
        """
        Path of a stage's exported ONNX graph.

        :param stage: stage name.
        :param precision: ``fp32`` (and ``fp16``) for the exported graph, ``int8`` or
            ``tensorrt-int8`` for a quantised copy (``pixel-anomaly export --int8``), see
            :data:`GRAPH_SUFFIXES`.
        :return: e.g. ``<bundle>/<stage>.onnx`` or ``<bundle>/<stage>.int8.onnx``.
        """
        return self.path / f'{stage}{GRAPH_SUFFIXES.get(precision, ".onnx")}'

    def has_onnx(self, precision: str = 'fp32') -> bool:
        """
        Tell whether every stage has its exported graph (quantised kinds: one that matches).

        :param precision: ``fp32``, ``int8`` or ``tensorrt-int8``.
        :return: True when all graphs are there (and no quantised one is stale).
        """
        stages = self.spec.stage_inputs()
        if precision in ('int8', 'tensorrt-int8'):
            return self.has_onnx() and not any(self.int8_mismatch(s, precision) for s in stages)
        return all(self.onnx_path(s).is_file() for s in stages)

    def int8_mismatch(self, stage: str, kind: str = 'int8') -> Optional[str]:
        """
        Say why a stage's quantised graph cannot be used, or None when it matches its fp32 graph.

        A quantised graph records the sha256 of the fp32 graph it was made from; a re-export
        makes it stale.

        :param stage: stage name.
        :param kind: ``int8`` (ONNX Runtime) or ``tensorrt-int8``.
        :return: a one-line reason with the command that fixes it, or None.
        """
        import onnx
        path = self.onnx_path(stage, kind)
        fix = (f'run `pixel-anomaly export --bundle {self.path} --int8 --calibration '
               f'DIR_OR_LIST`')
        if not path.is_file():
            return f'{path}: missing; {fix}'
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # noqa: B902 - protobuf raises its own types
            return f'{path}: unreadable ({exc}); {fix}'
        recorded = {p.key: p.value for p in model.metadata_props}.get(INT8_SOURCE_KEY)
        if recorded != sha256_file(self.onnx_path(stage)):
            return (f'{path}: quantised from a different {stage}.onnx than the one in the '
                    f'bundle (re-exported since?); {fix}')
        return None

    def component_state_dicts(self) -> Dict[str, dict]:
        """
        Read the weights file and split it per component.

        :return: ``{component: state_dict}`` on the CPU.
        :raises BundleError: if the file is missing, unreadable or lacks a component.
        """
        if not self.spec.networks:  # the segmentation is an ONNX model: nothing to read
            return {}
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        if not self.weights_path.is_file():
            raise BundleError(f'{self.weights_path}: weights file missing; a bundle needs '
                              f'{WEIGHTS_FILE} next to {BUNDLE_FILE}')
        try:
            flat = load_file(str(self.weights_path))
        except (SafetensorError, OSError) as exc:
            raise BundleError(f'{self.weights_path}: not a readable safetensors file '
                              f'({exc}); re-create the bundle') from exc
        split = {c: {} for c in self.spec.networks}
        for key, tensor in flat.items():
            component, _, name = key.partition('.')
            if component not in split:
                raise BundleError(f'{self.weights_path}: tensor {key!r} belongs to no network '
                                  f'of this {self.spec.variant} bundle')
            split[component][name] = tensor
        empty = [c for c, sd in split.items() if not sd]
        if empty:
            raise BundleError(f'{self.weights_path}: no weights for {empty}')
        return split


def load_bundle(path) -> Bundle:
    """
    Open and validate a bundle directory (weights are read later, when networks are built).

    :param path: bundle directory or its ``bundle.yaml``.
    :return: the bundle.
    :raises BundleError: if the directory or ``bundle.yaml`` is missing or invalid.
    """
    path = Path(path)
    if path.name == BUNDLE_FILE:
        path = path.parent
    yaml_path = path / BUNDLE_FILE
    if not path.is_dir():
        raise BundleError(f'{path}: bundle directory not found; pass a directory that holds '
                          f'{BUNDLE_FILE} (e.g. models/demo_light)')
    if not yaml_path.is_file():
        raise BundleError(f'{yaml_path}: missing; is {path} a model bundle? Create one with '
                          f'`pixel-anomaly convert`')
    try:
        doc = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as exc:
        raise BundleError(f'{yaml_path}: invalid YAML ({exc})') from exc
    return Bundle(path, BundleSpec.from_yaml_dict(doc, where=str(yaml_path)))
