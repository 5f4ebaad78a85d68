# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Road Anomaly (Lis et al., ICCV 2019): 60 road scenes with unusual objects.

Labels: ``frames/<name>.labels/labels_semantic.png`` values >= 2 are anomaly, the rest inlier,
no void (the authors' ``labels_source >= 2``; the readme: background 0, anomaly 2).
"""

import json
from pathlib import Path

from pixel_anomaly_ros.evaluation.datasets.files import (check_pair, FileDataset, Frame,
                                                         IMAGE_SUFFIXES)
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError, label_lut

ROAD_ANOMALY_LUT = label_lut(anomaly=range(2, 65536))


def open_road_anomaly(root: str | Path) -> FileDataset:
    """
    Open Road Anomaly (Lis et al. 2019, 60 frames).

    :param root: ``RoadAnomaly_jpg`` (or ``RoadAnomaly``) or its parent; frames are listed by
        ``frame_list.json``, else every image in ``frames/``.
    :return: the dataset; names are the frame file stems.
    :raises DatasetError: for a missing layout or an image without its label.
    """
    root = Path(root)
    layout = ('the Road Anomaly layout RoadAnomaly_jpg/frame_list.json, frames/<name>.jpg and '
              'frames/<name>.labels/labels_semantic.png')
    base = next((d for d in (root, root / 'RoadAnomaly_jpg', root / 'RoadAnomaly')
                 if (d / 'frames').is_dir()), None)
    if base is None:
        raise DatasetError(f'no frames/ directory under {root}: expected {layout}')
    listing = base / 'frame_list.json'
    if listing.is_file():
        try:
            names = [str(n) for n in json.loads(listing.read_text())]
        except (ValueError, TypeError) as err:
            raise DatasetError(f'{listing} is not a JSON list of file names: {err}') from None
    else:
        names = sorted(p.name for p in (base / 'frames').iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise DatasetError(f'no images under {base / "frames"}: expected {layout}')
    frames = []
    for name in names:
        image = base / 'frames' / name
        label = base / 'frames' / f'{Path(name).stem}.labels' / 'labels_semantic.png'
        check_pair(image, label)
        frames.append(Frame(Path(name).stem, image, label))
    return FileDataset('road_anomaly', root, frames, ROAD_ANOMALY_LUT)
