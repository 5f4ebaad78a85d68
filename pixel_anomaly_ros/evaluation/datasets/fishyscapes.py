# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Fishyscapes Lost & Found and Static validation sets.

Labels: 0 inlier, 1 anomaly, anything else void (``bdlb/fishyscapes/benchmark.py`` keeps only
pixels labelled 0 or 1). The label files hold no images: Lost & Found frames come from a
LostAndFound tree, Static frames from Cityscapes val plus the ``*_rgb.npz`` overlays
(``research/benchmarks.md`` §2).
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


def _fishyscapes_labels(root: Path, layout: str) -> list[tuple[str, str, Path]]:
    require_dir(root, layout)
    labels = sorted(root.glob('*_labels.png')) or sorted(root.glob('*/*_labels.png'))
    found = [(m[1], m[2], p) for p in labels if (m := _FISHYSCAPES_LABEL.fullmatch(p.name))]
    if not found:
        raise DatasetError(f'no NNNN_<id>_labels.png files under {root}: expected {layout}')
    return found


def open_fs_lost_found(root: str | Path, laf_root: str | Path | None = None) -> FileDataset:
    """
    Open Fishyscapes Lost & Found validation (100 frames).

    :param root: the extracted ``fishyscapes_lostandfound.zip`` (``NNNN_<lafid>_labels.png``).
    :param laf_root: LostAndFound root holding ``leftImg8bit/{train,test}/<scene>/``; default
        ``root``.
    :return: the dataset; names are ``NNNN_<lafid>``.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    root = Path(root)
    laf_root = Path(laf_root) if laf_root is not None else root
    layout = ('the Fishyscapes LostAndFound layout <root>/NNNN_<lafid>_labels.png with images in '
              '<laf_root>/leftImg8bit/{train,test}/<scene>/<lafid>_leftImg8bit.png')
    labels = _fishyscapes_labels(root, layout)
    splits = split_dirs(require_dir(laf_root / 'leftImg8bit', layout + ' (pass laf_root=)'))
    frames = []
    for fs_id, laf_id, label in labels:
        scene = m[1] if (m := _CITYSCAPES_ID.fullmatch(laf_id)) else laf_id
        candidates = [s / scene / f'{laf_id}_leftImg8bit{ext}' for s in splits
                      for ext in ('.png', '.jpg', '.webp')]
        image = first_existing(candidates)
        if image is None:
            raise DatasetError(f'label {label} has no image: expected {candidates[0]} '
                               f'(LostAndFound leftImg8bit under {laf_root})')
        frames.append(Frame(f'{fs_id}_{laf_id}', image, label))
    return FileDataset('fs_lost_found', root, frames, FISHYSCAPES_LUT)


def open_fs_static(root: str | Path, cityscapes_root: str | Path | None = None) -> FileDataset:
    """
    Open Fishyscapes Static validation (30 frames): Cityscapes val images plus overlays.

    The image is ``clip(cityscapes + overlay, 0, 255)`` as in ``fishyscapes_tfds.py``. Semantic
    labels come from Cityscapes ``gtFine`` (``labelTrainIds``, else ``labelIds``) when present,
    with the pasted objects set to 255.

    :param root: the extracted ``fs_val_v3.zip`` (``NNNN_<csid>_labels.png``,
        ``NNNN_<csid>_rgb.npz``).
    :param cityscapes_root: Cityscapes root with ``leftImg8bit/<split>/<city>/``; default
        ``root``.
    :return: the dataset; names are ``NNNN_<csid>``.
    :raises DatasetError: for a missing layout, image or overlay.
    """
    root = Path(root)
    cs_root = Path(cityscapes_root) if cityscapes_root is not None else root
    layout = ('the Fishyscapes Static layout <root>/NNNN_<csid>_labels.png + NNNN_<csid>_rgb.npz '
              'with images in <cityscapes_root>/leftImg8bit/val/<city>/<csid>_leftImg8bit.png')
    labels = _fishyscapes_labels(root, layout)
    images = require_dir(cs_root / 'leftImg8bit', layout + ' (pass cityscapes_root=)')
    splits = split_dirs(images)
    frames = []
    for fs_id, cs_id, label in labels:
        city = m[1] if (m := _CITYSCAPES_ID.fullmatch(cs_id)) else cs_id
        candidates = [s / city / f'{cs_id}_leftImg8bit.png' for s in splits]
        image = first_existing(candidates)
        if image is None:
            raise DatasetError(f'label {label} has no image: expected {candidates[0]} '
                               f'(Cityscapes leftImg8bit under {cs_root})')
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
