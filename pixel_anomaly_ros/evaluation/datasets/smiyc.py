# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SegmentMeIfYouCan RoadAnomaly21 and RoadObstacle21: their labelled validation frames.

Labels: 0 inlier (the road, for obstacles), 1 anomaly, 255 void
(``road_anomaly_benchmark/datasets/tracks.py``). Test-set labels are not public, so frames
without a label are skipped.
"""

from pathlib import Path
from typing import Sequence

from pixel_anomaly_ros.evaluation.datasets.files import (FileDataset, first_existing, Frame,
                                                         require_dir)
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError, label_lut

SMIYC_LUT = label_lut(anomaly=[1], void=[255], inlier=[0])

# SMIYC ObstacleTrack-validation leaves these frames out (tracks.py, ``exclude_prefix``).
SMIYC_OBSTACLE_EXCLUDED = ('validation_19', 'validation_21', 'validation_22', 'validation_23',
                           'validation_24', 'validation_25', 'validation_26', 'validation_27',
                           'validation_28', 'validation_29')


def _open_smiyc(kind: str, root: Path, folder: str, exclude: Sequence[str]) -> FileDataset:
    layout = (f'the SegmentMeIfYouCan layout {folder}/images/<fid>.(jpg|webp|png) and '
              f'{folder}/labels_masks/<fid>_labels_semantic.png')
    base = root if (root / 'labels_masks').is_dir() else root / folder
    labels = sorted(require_dir(base / 'labels_masks', layout).glob('*_labels_semantic.png'))
    if not labels:
        raise DatasetError(f'no *_labels_semantic.png under {base / "labels_masks"}: expected '
                           f'{layout} (test-set labels are not public)')
    frames = []
    for label in labels:
        fid = label.name[:-len('_labels_semantic.png')]
        if fid.startswith(tuple(exclude)):
            continue
        candidates = [base / 'images' / f'{fid}{ext}' for ext in ('.jpg', '.webp', '.png')]
        image = first_existing(candidates)
        if image is None:
            raise DatasetError(f'label {label} has no image: expected one of '
                               f'{", ".join(map(str, candidates))}')
        frames.append(Frame(fid, image, label))
    return FileDataset(kind, root, frames, SMIYC_LUT)


def open_smiyc_anomaly(root: str | Path) -> FileDataset:
    """
    Open the labelled frames of SegmentMeIfYouCan RoadAnomaly21 (10 ``validation*`` frames).

    Images without a label (the hidden test set) are skipped.

    :param root: ``dataset_AnomalyTrack`` or its parent.
    :return: the dataset; names are the frame ids.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    return _open_smiyc('smiyc_anomaly', Path(root), 'dataset_AnomalyTrack', ())


def open_smiyc_obstacle(root: str | Path,
                        exclude: Sequence[str] = SMIYC_OBSTACLE_EXCLUDED) -> FileDataset:
    """
    Open the labelled frames of SegmentMeIfYouCan RoadObstacle21 (30 validation frames).

    :param root: ``dataset_ObstacleTrack`` or its parent.
    :param exclude: frame-id prefixes to leave out; the default is SMIYC's
        ``ObstacleTrack-validation`` selection, ``()`` keeps every labelled frame.
    :return: the dataset; names are the frame ids.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    return _open_smiyc('smiyc_obstacle', Path(root), 'dataset_ObstacleTrack', exclude)
