# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The model bundle: ``bundle.yaml`` + ``weights.safetensors`` (+ ONNX graphs and engines later).

A bundle is the one artifact that ``convert``, ``train``, ``export``, the pipelines and the node
exchange. It is validated on load, and every error names the file and says how to fix it.
Weights are stored as safetensors (cannot execute code), keyed ``<component>.<parameter>``.
"""

import copy
from dataclasses import asdict, dataclass, field
import difflib
import logging
import os
from pathlib import Path
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

from pixel_anomaly_ros.atomic_files import (default_mode, remove_leftovers, replace_files,
                                            replace_text, sha256_file, sync_directory)
from pixel_anomaly_ros.errors import PixelAnomalyError
import yaml

FORMAT_VERSION = 1
BUNDLE_FILE = 'bundle.yaml'
WEIGHTS_FILE = 'weights.safetensors'

#: Components each variant needs, in data-flow order.
VARIANT_COMPONENTS = {
    'synboost_light': ('segmentation', 'synthesis', 'perceptual', 'dissimilarity'),
    'pebal': ('segmentation',),
}
#: Stage names each variant runs, in order (pre- and post-processing included).
VARIANT_STAGES = {
    'synboost_light': ('preprocess', 'segmentation', 'synthesis', 'dissimilarity', 'postprocess'),
    'pebal': ('preprocess', 'energy', 'postprocess'),
}
ENSEMBLE_TERMS = ('p_anomaly', 'entropy', 'perceptual', 'distance')

#: ImageNet statistics in 0..255 units (RGB): the default input normalisation, and the one
#: SynBoost's VGG perceptual difference and dissimilarity network expect.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: Keys each mapping of ``bundle.yaml`` may hold ('' = the top level); a misspelt one is named.
YAML_KEYS = {
    '': ('format_version', 'name', 'variant', 'description', 'networks', 'input', 'num_classes',
         'score', 'ensemble', 'stages', 'provenance', 'validation', 'synthesis_size'),
    'networks.*': ('builder', 'args'),
    'input': ('size', 'channel_order', 'mean', 'std'),
    'score': ('lo', 'hi', 'threshold'),
    'ensemble': ENSEMBLE_TERMS,
    'stages': ('run', 'graph_inputs'),
}
#: Metadata key of a quantised ``<stage>.int8.onnx`` holding its fp32 source graph's sha256.
INT8_SOURCE_KEY = 'pixel_anomaly_ros.source_sha256'


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
    ensemble: Dict[str, float] = field(
        default_factory=lambda: {'p_anomaly': 0.75, 'entropy': 0.25,
                                 'perceptual': 0.0, 'distance': 0.0})
    description: str = ''
    provenance: Dict[str, object] = field(default_factory=dict)
    validation: Dict[str, object] = field(default_factory=dict)

    def stage_inputs(self) -> Dict[str, Dict[str, List[int]]]:
        """
        Return the static input shapes of every exported stage graph.

        :return: ``{stage: {input name: shape}}``.
        """
        h, w = self.input_size
        if self.variant == 'pebal':
            return {'energy': {'image': [1, 3, h, w]}}
        sh, sw = self.synthesis_size
        maps = [1, 1, h, w]
        return {
            'segmentation': {'image': [1, 3, h, w]},
            'synthesis': {'train_ids': maps},
            'dissimilarity': {'image': [1, 3, h, w], 'synthesis': [1, 3, sh, sw],
                              'train_ids': maps, 'entropy': maps, 'distance': maps,
                              'weights': [len(ENSEMBLE_TERMS)]},
        }

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
        missing = [c for c in needed if c not in self.networks]
        extra = [c for c in self.networks if c not in needed]
        if missing or extra:
            raise BundleError(f'{where}: variant {self.variant} needs networks {list(needed)}; '
                              f'missing {missing}, unexpected {extra}')
        from pixel_anomaly_ros.networks import NETWORKS
        for component, spec in self.networks.items():
            if spec.builder not in NETWORKS:
                raise BundleError(f'{where}: networks.{component}.builder {spec.builder!r} is '
                                  f'not a known network; known: {sorted(NETWORKS)}')
        _check_size(where, 'input.size', self.input_size, multiple=8)
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
        if not 0.0 <= self.threshold <= 1.0:
            raise BundleError(f'{where}: score.threshold must lie in [0, 1] (it applies to the '
                              f'calibrated score), got {self.threshold}')
        if sorted(self.ensemble) != sorted(ENSEMBLE_TERMS):
            raise BundleError(f'{where}: ensemble needs exactly the weights {ENSEMBLE_TERMS}')

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
                      'threshold': float(self.threshold)},
            'ensemble': {k: float(self.ensemble[k]) for k in ENSEMBLE_TERMS},
            'stages': {'run': list(VARIANT_STAGES[self.variant]),
                       'graph_inputs': self.stage_inputs()},
            'provenance': self.provenance,
            'validation': self.validation,
        }
        if self.synthesis_size is not None:
            doc['synthesis_size'] = list(self.synthesis_size)
        return doc

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
        _check_keys(doc, where)
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
                ensemble={k: float(v) for k, v in (doc.get('ensemble') or {}).items()}
                or cls.__dataclass_fields__['ensemble'].default_factory(),
                description=str(doc.get('description', '')),
                provenance=dict(doc.get('provenance') or {}),
                validation=dict(doc.get('validation') or {}))
        except (KeyError, TypeError, AttributeError) as exc:
            raise BundleError(f'{where}: missing or malformed field ({exc!r}); see '
                              f'models/README.md for the bundle.yaml layout') from exc
        spec.validate(where)
        return spec


def _check_keys(doc: dict, where: str) -> None:
    networks = doc.get('networks') if isinstance(doc.get('networks'), dict) else {}
    sections = {'': doc, **{k: doc.get(k) for k in YAML_KEYS if k and '.' not in k},
                **{f'networks.{k}': v for k, v in networks.items()}}
    for section, mapping in sections.items():
        known = YAML_KEYS['networks.*' if section.startswith('networks.') else section]
        for key in mapping if isinstance(mapping, dict) else ():
            if key not in known:
                close = difflib.get_close_matches(str(key), known, 1)
                raise BundleError(f'{where}: unknown key {section + "." if section else ""}{key}'
                                  + (f' (did you mean {close[0]}?)' if close else '')
                                  + f'; {section or "the top level"} holds {", ".join(known)}')


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

    def onnx_path(self, stage: str, precision: str = 'fp32') -> Path:
        """
        Path of a stage's exported ONNX graph.

        :param stage: stage name.
        :param precision: ``fp32`` for the exported graph, ``int8`` for its quantised copy
            (``pixel-anomaly export --int8``).
        :return: ``<bundle>/<stage>.onnx`` or ``<bundle>/<stage>.int8.onnx``.
        """
        return self.path / (f'{stage}.int8.onnx' if precision == 'int8' else f'{stage}.onnx')

    def has_onnx(self, precision: str = 'fp32') -> bool:
        """
        Tell whether every stage has its exported graph (``int8``: a quantised one that matches).

        :param precision: ``fp32`` or ``int8``.
        :return: True when all graphs are there (and, for int8, none is stale).
        """
        stages = self.spec.stage_inputs()
        if precision == 'int8':
            return self.has_onnx() and not any(self.int8_mismatch(s) for s in stages)
        return all(self.onnx_path(s).is_file() for s in stages)

    def int8_mismatch(self, stage: str) -> Optional[str]:
        """
        Say why a stage's int8 graph cannot be used, or None when it matches its fp32 graph.

        A quantised graph records the sha256 of the fp32 graph it was made from; a re-export
        makes it stale.

        :param stage: stage name.
        :return: a one-line reason with the command that fixes it, or None.
        """
        import onnx
        path = self.onnx_path(stage, 'int8')
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


def check_bundle_target(out_dir, overwrite: bool = False) -> bool:
    """
    Check that a bundle may be written to ``out_dir``, before any long work starts.

    :param out_dir: the target directory.
    :param overwrite: an existing bundle there may be updated.
    :return: True when ``out_dir`` is an existing directory (a bundle, or empty).
    :raises BundleError: for a file, a directory that is not a bundle (never written into),
        or an existing bundle without ``overwrite``.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise BundleError(f'{out_dir}: is a file, not a bundle directory; choose another --out')
    if (out_dir / BUNDLE_FILE).is_file():
        if not overwrite:
            raise BundleError(f'{out_dir}: already exists; choose another --out or pass --force')
        return True
    entries = sorted(p.name for p in out_dir.iterdir())
    if entries:
        raise BundleError(f'{out_dir}: not a model bundle (no {BUNDLE_FILE}; holds '
                          f'{", ".join(entries[:3])}{", ..." if len(entries) > 3 else ""}); '
                          f'refusing to write into it: choose a new or empty directory')
    return True


def write_bundle(spec: BundleSpec, state_dicts: Dict[str, dict], out_dir,
                 overwrite: bool = False) -> Bundle:
    """
    Write a bundle's weights and ``bundle.yaml``; nothing half-written, nothing else touched.

    A new bundle is built in a hidden sibling directory and renamed into place. In an existing
    bundle (``overwrite``) the complete new weights, then ``bundle.yaml``, are renamed over the
    old files; every other file (exported graphs, engines, notes) stays, and a crash leaves the
    previous bundle loadable (the new weights fit the old ``bundle.yaml`` unless the networks
    changed). Files get the permissions of any file the user creates.

    :param spec: the bundle description (validated first; the caller's object is not changed).
    :param state_dicts: ``{component: state_dict}`` for every network of the variant.
    :param out_dir: target directory: new, empty, or (with ``overwrite``) a bundle.
    :param overwrite: update an existing bundle.
    :return: the written bundle.
    :raises BundleError: if the spec is invalid or the target may not be written.
    """
    from safetensors.torch import save_file
    spec = copy.deepcopy(spec)
    spec.validate()
    out_dir = Path(out_dir)
    exists = check_bundle_target(out_dir, overwrite)
    if sorted(state_dicts) != sorted(spec.networks):
        raise BundleError(f'weights for {sorted(state_dicts)} do not match the networks '
                          f'{sorted(spec.networks)}')
    flat = {f'{c}.{k}': v.detach().cpu().contiguous()
            for c, sd in state_dicts.items() for k, v in sd.items()}

    def save_weights(path: Path) -> None:
        save_file(flat, str(path))
        spec.provenance['weights_sha256'] = sha256_file(path)

    writes = [(WEIGHTS_FILE, save_weights),
              (BUNDLE_FILE, lambda path: path.write_text(_yaml_text(spec)))]
    if exists:
        exports = _exports_of_other_weights(out_dir)
        remove_leftovers(out_dir, (WEIGHTS_FILE, BUNDLE_FILE))
        replace_files([(out_dir / name, write) for name, write in writes])
        if exports and exports[1] != spec.provenance['weights_sha256']:
            logging.getLogger(__name__).warning(
                '%s: new weights; kept %s, exported from the previous ones: run `pixel-anomaly '
                'export --bundle %s` again', out_dir, ', '.join(exports[0]), out_dir)
        return Bundle(out_dir, spec)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.', dir=out_dir.parent))
    try:
        for name, write in writes:
            write(tmp / name)
            os.chmod(tmp / name, default_mode())
        os.chmod(tmp, default_mode(directory=True))
        os.rename(tmp, out_dir)
        sync_directory(out_dir.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(out_dir, spec)


def write_bundle_spec(spec: BundleSpec, bundle_dir) -> Bundle:
    """
    Replace a bundle's ``bundle.yaml`` atomically and touch nothing else.

    For score calibration, operating points, descriptions: any change that keeps the networks,
    and so the weights and the exported graphs.

    :param spec: the new description (validated first; the caller's object is not changed).
    :param bundle_dir: an existing bundle.
    :return: the updated bundle.
    :raises BundleError: if the spec is invalid or changes the variant or the networks.
    """
    current = load_bundle(bundle_dir)
    spec = copy.deepcopy(spec)
    spec.validate()
    if spec.variant != current.spec.variant or spec.networks != current.spec.networks:
        raise BundleError(f'{current.path}: the new {BUNDLE_FILE} changes the variant or the '
                          f'networks, so the weights would not fit; write a new bundle instead')
    if 'weights_sha256' in current.spec.provenance:
        spec.provenance['weights_sha256'] = current.spec.provenance['weights_sha256']
    remove_leftovers(current.path, (WEIGHTS_FILE, BUNDLE_FILE))
    replace_text(current.path / BUNDLE_FILE, _yaml_text(spec))
    return Bundle(current.path, spec)


def _yaml_text(spec: BundleSpec) -> str:
    return yaml.safe_dump(spec.to_yaml_dict(), sort_keys=False, default_flow_style=None)


def _exports_of_other_weights(out_dir: Path) -> Optional[Tuple[List[str], str]]:
    # Exported graphs and engines in a bundle, with the sha256 of the weights they came from.
    derived = sorted(p.name for p in out_dir.iterdir()
                     if p.suffix == '.onnx' or p.name == 'engines')
    weights = out_dir / WEIGHTS_FILE
    return (derived, sha256_file(weights)) if derived and weights.is_file() else None
