# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Anomaly-segmentation datasets as lazy sequences of samples with one label convention.

Every loader yields :class:`~.samples.Sample` ``(image, anomaly, semantic, name)``: image
(H, W, 3) uint8 RGB, anomaly (H, W) uint8 with 0 inlier / 1 anomaly / 255 void, semantic (H, W)
uint8 Cityscapes train ids (255 ignore) or ``None``. Frames are listed when a dataset is opened
(missing files are reported then) and read one at a time while iterating. One module per
benchmark family turns its raw label values into that convention (``research/benchmarks.md``
§2): :mod:`.fishyscapes` (Lost & Found, Static), :mod:`.road_anomaly`, :mod:`.smiyc`
(RoadAnomaly21, RoadObstacle21), :mod:`.lost_and_found`, :mod:`.folder` (any image + mask
folder) and :mod:`.bag` (a rosbag2 bag with an image and a label topic).

:data:`DATASETS` is the registry: a plain dict from each kind to the module and opener that
load it and a one-line description. This module imports no loader (nor numpy, OpenCV, Pillow or
rosbags), so command-line help can list the kinds cheaply; :func:`open_dataset` and
:func:`dataset_options` import the loader of the kind they are given. The public names of the
loader modules are importable from here too, loaded on first use.
"""

import importlib
import inspect
import json
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, NamedTuple, TYPE_CHECKING

if TYPE_CHECKING:
    from pixel_anomaly_ros.evaluation.datasets.bag import BagDataset
    from pixel_anomaly_ros.evaluation.datasets.files import FileDataset


class DatasetKind(NamedTuple):
    """Where the opener of a dataset kind lives, and a one-line description for help texts."""

    module: str
    opener: str
    description: str


#: Dataset kind -> its loader module (in this package), opener function and description.
DATASETS: Dict[str, DatasetKind] = {
    'fs_lost_found': DatasetKind('fishyscapes', 'open_fs_lost_found',
                                 'Fishyscapes Lost & Found val, 100 frames (option laf_root; '
                                 'or fishyscapes_lostandfound/ + laf_images/)'),
    'fs_static': DatasetKind('fishyscapes', 'open_fs_static',
                             'Fishyscapes Static val, 30 frames (option cityscapes_root; or '
                             'fs_val_v<N>/ + fs_static_images_v<N>/)'),
    'road_anomaly': DatasetKind('road_anomaly', 'open_road_anomaly',
                                'Road Anomaly (Lis et al. 2019), 60 frames'),
    'smiyc_anomaly': DatasetKind('smiyc', 'open_smiyc_anomaly',
                                 'SegmentMeIfYouCan RoadAnomaly21, labelled validation frames'),
    'smiyc_obstacle': DatasetKind('smiyc', 'open_smiyc_obstacle',
                                  'SegmentMeIfYouCan RoadObstacle21, labelled validation frames'),
    'lost_and_found': DatasetKind('lost_and_found', 'open_lost_and_found',
                                  'LostAndFound, original layout (options split, labels, subset)'),
    'folder': DatasetKind('folder', 'open_folder',
                          'image and mask folders (images, labels, anomaly_values, ...)'),
    'bag': DatasetKind('bag', 'open_bag',
                       'rosbag2 bag, or a folder of bags: image topic + label topic paired '
                       'by header stamp (bags without labels: alarm statistics only)'),
}

#: Public names of the loader modules, importable from this package (loaded on first use).
_LAZY_NAMES: Dict[str, str] = {
    **dict.fromkeys(('ANOMALY', 'CITYSCAPES_TRAIN_IDS', 'DatasetError', 'INLIER', 'Sample',
                     'VOID', 'label_lut'), 'samples'),
    **dict.fromkeys(('FileDataset', 'Frame', 'IMAGE_SUFFIXES', 'read_image', 'read_label'),
                    'files'),
    'BagDataset': 'bag',
    **{entry.opener: entry.module for entry in DATASETS.values()},
}

__all__ = ['DATASETS', 'DatasetKind', 'dataset_options', 'dataset_title', 'open_dataset',
           *sorted(_LAZY_NAMES)]

#: Names of the benchmark kinds in report titles.
TITLES = {'fs_lost_found': 'Fishyscapes Lost & Found (val)',
          'fs_static': 'Fishyscapes Static (val)', 'road_anomaly': 'Road Anomaly',
          'smiyc_anomaly': 'SegmentMeIfYouCan RoadAnomaly21',
          'smiyc_obstacle': 'SegmentMeIfYouCan RoadObstacle21', 'lost_and_found': 'LostAndFound'}
#: Folder names that say what a folder holds rather than which dataset it is.
_GENERIC_NAMES = frozenset({'anomaly', 'images', 'labels', 'val', 'validation', 'test', 'data',
                            'dataset', 'original'})


def __getattr__(name: str) -> Any:
    """Import a public name of a loader module on first use."""
    if name not in _LAZY_NAMES:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'{__name__}.{_LAZY_NAMES[name]}'), name)


def _dataset_error(message: str) -> Exception:
    """Return a DatasetError; its module (numpy) is imported only when one is raised."""
    from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError
    return DatasetError(message)


def _opener(kind: str) -> Callable[..., Any]:
    """Import and return the opener of a kind; unknown kinds raise DatasetError."""
    if kind not in DATASETS:
        raise _dataset_error(f'unknown dataset kind {kind!r}: expected one of '
                             f'{sorted(DATASETS)}')
    entry = DATASETS[kind]
    return getattr(importlib.import_module(f'{__name__}.{entry.module}'), entry.opener)


def _check_options(kind: str, keys) -> Dict[str, inspect.Parameter]:
    """Return the opener's option parameters (all but the root) after checking ``keys``."""
    parameters = dict(list(inspect.signature(_opener(kind)).parameters.items())[1:])
    unknown = [key for key in keys if key not in parameters]
    if unknown:
        valid = f'valid options: {", ".join(parameters)}' if parameters else \
            f'{kind} takes no options'
        raise _dataset_error(f'{kind}: unknown option {", ".join(map(repr, unknown))}; {valid}')
    return parameters


def _read_item(text: str) -> Any:
    """Read one list item typed as text: JSON when it parses (``1``, ``null``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def dataset_options(kind: str, raw: Mapping[str, Any]) -> Dict[str, Any]:
    """
    Check options typed for a dataset kind and bring list values to the opener's form.

    Keys must be keyword parameters of the kind's opener (all but ``root``). For a parameter
    whose default is a sequence (``anomaly_values``, ``exclude``, ...), a string is split at
    commas with each item read as JSON when it can be (``'1,2'`` -> ``[1, 2]``), a single other
    value becomes a one-item list, and lists, tuples and ``None`` are kept. Other options are
    kept as they are.

    :param kind: a key of :data:`DATASETS`.
    :param raw: option name -> value, e.g. from ``--option KEY=VALUE`` (values read as JSON).
    :return: keyword arguments for :func:`open_dataset`.
    :raises DatasetError: for an unknown kind, or a key that is not an option of the kind; the
        message lists the valid options, e.g. ``folder: unknown option 'colour'; valid options:
        images, labels, ...``.
    """
    parameters = _check_options(kind, raw)
    options = {}
    for key, value in raw.items():
        default = parameters[key].default
        if isinstance(default, (tuple, list)) and value is not None \
                and not isinstance(value, (list, tuple)):
            value = [_read_item(part.strip()) for part in value.split(',')] \
                if isinstance(value, str) else [value]
        _check_type(kind, key, value, default, parameters[key].annotation)
        options[key] = value
    return options


def dataset_title(kind: str, root: str | Path) -> str:
    """
    Name a dataset for report titles: the benchmark, the synthetic world, or the folder.

    :param kind: a key of :data:`DATASETS`.
    :param root: the dataset root as given.
    :return: e.g. ``'Fishyscapes Static (val)'``, ``'synthetic world, seed 1 (anomaly)'`` or
        ``'road_anomaly'`` (with its parent for generic names: ``'world/val'``).
    """
    root = Path(root).resolve()
    for folder in (root, root.parent):
        try:
            manifest = json.loads((folder / 'manifest.json').read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get('format') == 'pixel_anomaly_ros.synthetic':
            part = '' if folder == root else f' ({root.name})'
            return f'synthetic world, seed {manifest.get("seed")}{part}'
    if kind in TITLES:
        return TITLES[kind]
    return f'{root.parent.name}/{root.name}' if root.name in _GENERIC_NAMES else root.name


def _check_type(kind: str, key: str, value: Any, default: Any, annotation: Any = None
                ) -> None:
    """Refuse an option value whose type (or items' type) is not the default's."""
    items = isinstance(default, (tuple, list))
    wanted = type((default[0] if default else None) if items else default)
    if items and not default:  # an empty default: the item type of its annotation
        wanted = next((t for t in _annotation_items(annotation) if t in (bool, int, float)),
                      type(None))
    if value is None or wanted not in (bool, int, float):
        return
    if items and isinstance(value, (list, tuple)) and all(_fits(v, wanted) for v in value) \
            or not items and _fits(value, wanted):
        return
    name = {bool: 'true or false', int: 'a whole number', float: 'a number'}[wanted]
    form = f'a list, each item {name} (e.g. 1,2 or [1, 2])' if items else name
    raise _dataset_error(f'{kind}: option {key} takes {form}, got {value!r}')


def _annotation_items(annotation: Any) -> list:
    """Return the item types of the sequences an annotation names (``Sequence[int]`` -> int)."""
    import typing
    found = []
    for arg in typing.get_args(annotation):
        found += [arg] if isinstance(arg, type) else _annotation_items(arg)
    return found


def _fits(value: Any, wanted: type) -> bool:
    if wanted is bool or isinstance(value, bool):
        return wanted is bool and isinstance(value, bool)
    return isinstance(value, int) if wanted is int else isinstance(value, (int, float))


def open_dataset(kind: str, root: str | Path, **options) -> 'FileDataset | BagDataset':
    """
    Open a dataset of a registered kind.

    :param kind: a key of :data:`DATASETS`.
    :param root: dataset root (a bag path for ``'bag'``).
    :param options: keyword options of that kind's ``open_*`` function.
    :return: a lazy dataset with ``len()`` and iteration over :class:`~.samples.Sample`.
    :raises DatasetError: for an unknown kind, unknown options, or a missing/malformed dataset.
    """
    opener = _opener(kind)
    root = Path(root)
    if not root.exists():
        raise _dataset_error(f'{root} does not exist: expected a {kind} dataset there')
    _check_options(kind, options)
    return opener(root, **options)
