# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
LostAndFound (Pinggera et al., IROS 2016) in its original Cityscapes-like layout.

Labels: ``gtCoarse_labelIds`` 0 void (outside the road ROI, ego vehicle), 1 free road,
2..200 anomaly as in SegmentMeIfYouCan ``tracks.py``; or ``labelTrainIds`` (PEBAL, SynBoost,
RbA): 2 anomaly, 0/1 inlier, 255 void.
"""

from pathlib import Path

from pixel_anomaly_ros.evaluation.datasets.files import (check_pair, FileDataset, Frame,
                                                         IMAGE_SUFFIXES, require_dir)
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError, label_lut

LAF_IDS_LUT = label_lut(anomaly=range(2, 201), void=[0], inlier=[1])
LAF_TRAIN_IDS_LUT = label_lut(anomaly=[2], void=[255], inlier=[0, 1])

# SMIYC LostAndFound-testNoKnown leaves out frames with children and bicycles (tracks.py).
LAF_KNOWN_OBJECT_FRAMES = ('15_Rechbergstr_Deckenpfronn', '01_Hanns_Klemm_Str_45_000006',
                           '01_Hanns_Klemm_Str_45_000007', '10_Schlossberg_9_000004')


def open_lost_and_found(root: str | Path, split: str = 'test', labels: str = 'ids',
                        subset: str = 'all') -> FileDataset:
    """
    Open LostAndFound in its original layout (test: 1203 frames, train: 1036).

    :param root: LostAndFound root with ``leftImg8bit/`` and ``gtCoarse/``.
    :param split: ``'test'`` or ``'train'``.
    :param labels: ``'ids'`` reads ``_gtCoarse_labelIds.png`` (0 void, 1 road, 2..200 anomaly;
        SMIYC); ``'train_ids'`` reads ``_gtCoarse_labelTrainIds.png`` (2 anomaly, 0/1 inlier,
        255 void; PEBAL/SynBoost/RbA).
    :param subset: ``'all'``, or ``'no_known'`` to drop the frames with children and bicycles
        (SMIYC ``LostAndFound-testNoKnown``). Frames whose label is all 0 are kept: they are
        entirely void and add no pixels to the metrics.
    :return: the dataset; names are the frame ids ``<scene>_<seq>_<frame>``.
    :raises DatasetError: for bad options, a missing layout or an image without its label.
    """
    root = Path(root)
    options = {'split': (split, ('test', 'train')), 'labels': (labels, ('ids', 'train_ids')),
               'subset': (subset, ('all', 'no_known'))}
    for option, (value, allowed) in options.items():
        if value not in allowed:
            raise DatasetError(f'lost_and_found: {option}={value!r}, expected one of {allowed}')
    layout = ('the LostAndFound layout leftImg8bit/<split>/<scene>/<id>_leftImg8bit.png and '
              'gtCoarse/<split>/<scene>/<id>_gtCoarse_labelIds.png')
    image_dir = require_dir(root / 'leftImg8bit' / split, layout)
    images = sorted((p for p in image_dir.glob('*/*_leftImg8bit.*')
                     if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)
    if not images:
        raise DatasetError(f'no images under {image_dir}: expected {layout}')
    suffix, lut = ('labelIds', LAF_IDS_LUT) if labels == 'ids' else \
        ('labelTrainIds', LAF_TRAIN_IDS_LUT)
    frames = []
    for image in images:
        fid = image.name[:image.name.rindex('_leftImg8bit')]
        if subset == 'no_known' and fid.startswith(LAF_KNOWN_OBJECT_FRAMES):
            continue
        label = root / 'gtCoarse' / split / image.parent.name / f'{fid}_gtCoarse_{suffix}.png'
        check_pair(image, label)
        frames.append(Frame(fid, image, label))
    return FileDataset('lost_and_found', root, frames, lut)
