# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Fishyscapes Lost & Found and Static validation sets.

Labels: 0 inlier, 1 anomaly, anything else void (``bdlb/fishyscapes/benchmark.py`` keeps only
pixels labelled 0 or 1). The label files hold no images: Lost & Found frames come from a
LostAndFound tree, Static frames from Cityscapes val plus the ``*_rgb.npz`` overlays
(``research/benchmarks.md`` §2).

Both also load as public evaluation code (RbA's ``datasets/fishyscapes.py``) prepares them,
under one root: Lost & Found as ``fishyscapes_lostandfound/NNNN_<lafid>_labels.png`` with the
frames copied to ``laf_images/<lafid>_leftImg8bit.png``, Static as
``fs_val_v<N>/NNNN_<csid>_labels.png`` with the overlaid images already written to
``fs_static_images_v<N>/NNNN_<csid>_rgb.png`` (or ``fs_static_images/``; the highest ``N``
present is used, or pass the ``fs_val_v<N>`` folder itself as the root).
"""

from pathlib import Path
import re

from pixel_anomaly_ros.evaluation.datasets.files import (FileDataset, first_existing, Frame,
                                                         require_dir, split_dirs)
from pixel_anomaly_ros.evaluation.datasets.samples import (CITYSCAPES_TRAIN_IDS, DatasetError,
                                                           label_lut)

FISHYSCAPES_LUT = label_lut(anomaly=[1], inlier=[0])

_FISHYSCAPES_LABEL = re.compile(r'(\d+)_(.+)_labels\.png')
_CITYSCAPES_ID = re.compile(r'(.+)_(\d{6})_(\d{6})')  # <scene or city>_<seq>_<frame>


def _fishyscapes_labels(root: Path, layout: str, folders: list[Path] = ()
                        ) -> list[tuple[str, str, Path]]:
    require_dir(root, layout)
    labels = sorted(root.glob('*_labels.png'))
    for folder in folders:
        labels = labels or sorted(folder.glob('*_labels.png'))
    labels = labels or sorted(root.glob('*/*_labels.png'))
    found = [(m[1], m[2], p) for p in labels if (m := _FISHYSCAPES_LABEL.fullmatch(p.name))]
    if not found:
        raise DatasetError(f'no NNNN_<id>_labels.png files under {root}: expected {layout}')
    return found


def open_fs_lost_found(root: str | Path, laf_root: str | Path | None = None) -> FileDataset:
    """
    Open Fishyscapes Lost & Found validation (100 frames).

    :param root: the extracted ``fishyscapes_lostandfound.zip`` (``NNNN_<lafid>_labels.png``),
        or a folder holding it as ``fishyscapes_lostandfound/`` next to ``laf_images/``.
    :param laf_root: LostAndFound root holding ``leftImg8bit/{train,test}/<scene>/``; default
        ``root``; not needed with ``laf_images/``.
    :return: the dataset; names are ``NNNN_<lafid>``.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    root = Path(root)
    laf_root = Path(laf_root) if laf_root is not None else root
    layout = ('the Fishyscapes LostAndFound layout <root>/NNNN_<lafid>_labels.png with images in '
              '<laf_root>/leftImg8bit/{train,test}/<scene>/<lafid>_leftImg8bit.png, or '
              '<root>/fishyscapes_lostandfound/NNNN_<lafid>_labels.png with images in '
              '<root>/laf_images/<lafid>_leftImg8bit.png')
    labels = _fishyscapes_labels(root, layout, [root / 'fishyscapes_lostandfound'])
    bases = dict.fromkeys((root, labels[0][2].parent.parent, laf_root))
    copied = [base / 'laf_images' for base in bases if (base / 'laf_images').is_dir()]
    splits = [] if copied and not (laf_root / 'leftImg8bit').is_dir() else \
        split_dirs(require_dir(laf_root / 'leftImg8bit', layout + ' (pass laf_root=)'))
    frames = []
    for fs_id, laf_id, label in labels:
        scene = m[1] if (m := _CITYSCAPES_ID.fullmatch(laf_id)) else laf_id
        candidates = [d / f'{laf_id}_leftImg8bit{ext}' for d in copied
                      for ext in ('.png', '.jpg', '.webp')]
        candidates += [s / scene / f'{laf_id}_leftImg8bit{ext}' for s in splits
                       for ext in ('.png', '.jpg', '.webp')]
        image = first_existing(candidates)
        if image is None:
            expected = candidates[0] if candidates else f'{laf_id}_leftImg8bit.png'
            raise DatasetError(f'label {label} has no image: expected {expected} '
                               f'(laf_images/ or LostAndFound leftImg8bit under {laf_root})')
        frames.append(Frame(f'{fs_id}_{laf_id}', image, label))
    return FileDataset('fs_lost_found', root, frames, FISHYSCAPES_LUT)


def open_fs_static(root: str | Path, cityscapes_root: str | Path | None = None) -> FileDataset:
    """
    Open Fishyscapes Static validation (30 frames): Cityscapes val images plus overlays.

    The image is ``clip(cityscapes + overlay, 0, 255)`` as in ``fishyscapes_tfds.py``. Semantic
    labels come from Cityscapes ``gtFine`` (``labelTrainIds``, else ``labelIds``) when present,
    with the pasted objects set to 255.

    :param root: the extracted ``fs_val_v3.zip`` (``NNNN_<csid>_labels.png``,
        ``NNNN_<csid>_rgb.npz``), or a folder holding ``fs_val_v<N>/`` next to prepared images
        in ``fs_static_images_v<N>/NNNN_<csid>_rgb.png`` (no Cityscapes needed then).
    :param cityscapes_root: Cityscapes root with ``leftImg8bit/<split>/<city>/``; default
        ``root``.
    :return: the dataset; names are ``NNNN_<csid>``.
    :raises DatasetError: for a missing layout, image or overlay.
    """
    root = Path(root)
    cs_root = Path(cityscapes_root) if cityscapes_root is not None else root
    layout = ('the Fishyscapes Static layout <root>/NNNN_<csid>_labels.png + NNNN_<csid>_rgb.npz '
              'with images in <cityscapes_root>/leftImg8bit/val/<city>/<csid>_leftImg8bit.png, '
              'or <root>/fs_val_v<N>/NNNN_<csid>_labels.png with prepared images in '
              '<root>/fs_static_images_v<N>/NNNN_<csid>_rgb.png')
    versions = sorted(root.glob('fs_val_v*'), key=lambda p: (len(p.name), p.name), reverse=True)
    labels = _fishyscapes_labels(root, layout, [p for p in versions if p.is_dir()])
    label_dir = labels[0][2].parent
    version = label_dir.name[len('fs_val'):] if label_dir.name.startswith('fs_val_v') else ''
    prepared = [d for base in dict.fromkeys((root, label_dir.parent))
                for d in (base / f'fs_static_images{version}', base / 'fs_static_images')
                if version and d.is_dir()]
    splits = [] if prepared and not (cs_root / 'leftImg8bit').is_dir() else split_dirs(
        require_dir(cs_root / 'leftImg8bit', layout + ' (pass cityscapes_root=)'))
    frames = []
    for fs_id, cs_id, label in labels:
        ready = [d / f'{fs_id}_{cs_id}_rgb.png' for d in prepared]
        image = first_existing(ready)
        if image is not None:  # overlaid already
            frames.append(Frame(f'{fs_id}_{cs_id}', image, label))
            continue
        city = m[1] if (m := _CITYSCAPES_ID.fullmatch(cs_id)) else cs_id
        candidates = [s / city / f'{cs_id}_leftImg8bit.png' for s in splits]
        image = first_existing(candidates)
        if image is None:
            expected = (ready + candidates + [cs_root / 'leftImg8bit' / 'val' / city /
                                              f'{cs_id}_leftImg8bit.png'])[0]
            raise DatasetError(f'label {label} has no image: expected {expected} '
                               f'(prepared images or Cityscapes leftImg8bit under {cs_root})')
        overlays = sorted(label.parent.glob(f'{fs_id}_*rgb.npz'))
        if len(overlays) != 1:
            raise DatasetError(f'label {label} needs exactly one overlay '
                               f'{label.parent}/{fs_id}_*rgb.npz, found {len(overlays)}')
        gt = cs_root / 'gtFine' / image.parent.parent.name / city / f'{cs_id}_gtFine'
        train_ids, ids = Path(f'{gt}_labelTrainIds.png'), Path(f'{gt}_labelIds.png')
        semantic, lut = (train_ids, None) if train_ids.is_file() else \
            (ids, CITYSCAPES_TRAIN_IDS) if ids.is_file() else (None, None)
        frames.append(Frame(f'{fs_id}_{cs_id}', image, label, semantic, lut, overlays[0]))
    return FileDataset('fs_static', root, frames, FISHYSCAPES_LUT)
