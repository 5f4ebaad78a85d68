# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A generic folder of images and label masks; which mask values mean what are options."""

from pathlib import Path
from typing import Sequence

from pixel_anomaly_ros.evaluation.datasets.files import (check_pair, FileDataset, Frame,
                                                         IMAGE_SUFFIXES, require_dir)
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError, label_lut


def open_folder(root: str | Path, images: str = 'images', labels: str = 'labels',
                label_suffix: str = '.png', anomaly_values: Sequence[int] = (1,),
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
    :param anomaly_values: mask values that mean anomaly (e.g. ``(255,)`` for 0/255 masks).
    :param void_values: mask values that mean void.
    :param inlier_values: mask values that mean inlier; other values are void. ``None`` makes
        every other value inlier.
    :param semantic: optional folder of train-id masks, mirrored the same way.
    :param semantic_suffix: semantic file name after the image stem.
    :return: the dataset; names are the image paths relative to the image folder, without
        extension.
    :raises DatasetError: for a missing folder or an image without its label.
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
    lut = label_lut(anomaly_values, void_values, inlier_values)
    return FileDataset('folder', root, frames, lut)
