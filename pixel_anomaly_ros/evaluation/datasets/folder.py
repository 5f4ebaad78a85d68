# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A generic folder of images and label masks; which mask values mean what are options.

Without ``anomaly_values`` the masks are recognised from the values of up to
:data:`SAMPLED_LABELS` label files spread over the folder: 0/1 (1 anomaly), 0/255 (255 anomaly,
binary masks as drawn in image editors) or 0/2 (2 anomaly, Road Anomaly style), with 255 void
beside 1 or 2. Anything else is refused with the ``--option`` to use, and so is a later frame
holding a value the recognised convention does not have.
"""

from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.evaluation.datasets.files import (check_pair, FileDataset, Frame,
                                                         IMAGE_SUFFIXES, read_label, require_dir)
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError, label_lut

#: Label files read to recognise the mask convention.
SAMPLED_LABELS = 16
#: Anomaly value -> name of the recognised mask convention.
MASK_CONVENTIONS = {1: '0/1 masks: 1 anomaly, 255 void',
                    255: '0/255 masks: 255 anomaly',
                    2: '0/2 masks: 2 anomaly, 255 void'}
_HINT = ('say which values mean anomaly: --option anomaly_values=V (and --option void_values=, '
         '--option inlier_values=; open_folder(anomaly_values=...) in Python)')


def open_folder(root: str | Path, images: str = 'images', labels: str = 'labels',
                label_suffix: str = '.png', anomaly_values: Sequence[int] = (),
                void_values: Sequence[int] = (255,), inlier_values: Sequence[int] | None = (0,),
                semantic: str | None = None, semantic_suffix: str = '.png') -> FileDataset:
    """
    Open a folder of images and masks (sub-folders allowed, mirrored between the two).

    Suits the preprocessed layouts of PEBAL/SynBoost (``original/`` + ``labels/``) and the
    course-project copies (``images/`` + ``labels_masks/``).

    :param root: folder holding the image and label folders.
    :param images: image folder, relative to ``root``.
    :param labels: label folder; the label of ``<images>/a/b.jpg`` is
        ``<labels>/a/b<label_suffix>``.
    :param label_suffix: label file name after the image stem, e.g. ``'_labels_semantic.png'``.
    :param anomaly_values: mask values that mean anomaly (e.g. ``(255,)`` for 0/255 masks);
        empty: recognise 0/1, 0/255 or 0/2 masks from the files.
    :param void_values: mask values that mean void (a recognised anomaly value is not void).
    :param inlier_values: mask values that mean inlier; other values are void. ``None`` makes
        every other value inlier.
    :param semantic: optional folder of train-id masks, mirrored the same way.
    :param semantic_suffix: semantic file name after the image stem.
    :return: the dataset; names are the image paths relative to the image folder, without
        extension; ``labels`` says how the masks are read.
    :raises DatasetError: for a missing folder, an image without its label, or masks whose
        convention is not recognised.
    """
    root = Path(root)
    layout = f'<root>/{images}/<name>.(png|jpg|...) and <root>/{labels}/<name>{label_suffix}'
    image_dir = require_dir(root / images, layout)
    files = sorted(p for p in image_dir.rglob('*')
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f'no images under {image_dir}: expected {layout}')
    frames = []
    for image in files:
        stem = image.relative_to(image_dir).with_suffix('')
        label = root / labels / f'{stem}{label_suffix}'
        check_pair(image, label)
        semantic_file = root / semantic / f'{stem}{semantic_suffix}' if semantic else None
        if semantic_file is not None and not semantic_file.is_file():
            raise DatasetError(f'image {image} has no semantic label: expected {semantic_file}')
        frames.append(Frame(stem.as_posix(), image, label, semantic_file))
    if anomaly_values:
        lut = label_lut(anomaly_values, void_values, inlier_values)
        note = (f'anomaly {list(anomaly_values)}, void {list(void_values)}, inlier '
                f'{"all others" if inlier_values is None else list(inlier_values)}')
        return FileDataset('folder', root, frames, lut, labels=note)
    anomaly, sampled = recognise_masks(root, [frame.label for frame in frames])
    void = [v for v in void_values if v != anomaly]
    lut = label_lut([anomaly], void, inlier_values)
    expected = np.zeros(65536, bool)
    expected[[anomaly, *void, *(inlier_values or ())]] = True
    note = f'{MASK_CONVENTIONS[anomaly]} (recognised from {sampled} label files)'
    return FileDataset('folder', root, frames, lut,
                       expected=None if inlier_values is None else expected, labels=note)


def recognise_masks(root: Path, labels: List[Path]) -> Tuple[int, int]:
    """
    Recognise the anomaly value of a folder's masks from a spread of its label files.

    :param root: the dataset root, for messages.
    :param labels: every label file, in order.
    :return: the anomaly value (1, 255 or 2) and the number of files read.
    :raises DatasetError: for values outside 0, 1, 2 and 255, or both 1 and 2.
    """
    picks = [labels[int(i)] for i in np.unique(np.linspace(0, len(labels) - 1,
                                                           min(SAMPLED_LABELS, len(labels))))]
    values = set()
    for path in picks:
        values.update(np.unique(read_label(path)).tolist())
    unknown = sorted(values - {0, 1, 2, 255})
    if unknown or {1, 2} <= values:
        what = f'values {unknown}' if unknown else 'both 1 and 2'
        raise DatasetError(f'{root}: the masks hold {what} (values found: {sorted(values)} in '
                           f'{len(picks)} label files, e.g. {picks[0]}), which is none of the '
                           f'mask conventions 0/1, 0/255 or 0/2 (255 void beside 1 or 2); '
                           + _HINT)
    anomaly = 1 if 1 in values else 2 if 2 in values else 255 if 255 in values else 1
    return anomaly, len(picks)
