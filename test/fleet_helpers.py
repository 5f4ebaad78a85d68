# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A small fleet of bags for the folder, distributed and compare tests."""

from pathlib import Path
import shutil

import numpy as np
from pixel_anomaly_ros.evaluation.bag_writer import BagWriter, dataset_to_bag
from pixel_anomaly_ros.evaluation.datasets.samples import Sample

H, W = 96, 160
SEMANTIC = '/camera/semantic'
#: Frames of every bag of :func:`write_fleet` (readable ones; ``day2/e`` fails at frame 3).
FRAMES = {'broken.mcap': 0, 'day1/a': 5, 'day1/b.mcap': 3, 'day2/c': 4, 'day2/d': 3,
          'day2/e': 3}
START_NS = 1_700_000_000 * 1_000_000_000


def samples(count: int, seed: int):
    """Return frames with one bright anomaly box each, void rows and random train ids."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        image = rng.integers(0, 200, (H, W, 3), np.uint8)
        label = np.zeros((H, W), np.uint8)
        y, x = int(rng.integers(8, H - 40)), int(rng.integers(8, W - 50))
        label[y:y + 30, x:x + 40] = 1
        label[:4] = 255
        image[label == 1] = (255, 0, 255)
        semantic = rng.integers(0, 19, (H, W)).astype(np.uint8)
        semantic[label == 1] = 255
        out.append(Sample(image, label, semantic, f'f{i}'))
    return out


def write_fleet(root: Path) -> Path:
    """
    Write a folder of bags, one of each kind a fleet folder may hold.

    Labelled MCAP and sqlite3 bags, a bare MCAP file, an unlabelled bag, a bag whose fourth
    label has the wrong size, a corrupt file and a hidden bag.

    :return: the folder.
    """
    dataset_to_bag(samples(5, 1), root / 'day1' / 'a', semantic_topic=SEMANTIC, progress=False)
    dataset_to_bag(samples(3, 2), root / 'tmp_b', semantic_topic=SEMANTIC, progress=False)
    shutil.move(root / 'tmp_b' / 'tmp_b.mcap', root / 'day1' / 'b.mcap')
    shutil.rmtree(root / 'tmp_b')
    dataset_to_bag(samples(4, 3), root / 'day2' / 'c', storage='sqlite3',
                   semantic_topic=SEMANTIC, progress=False)
    with BagWriter(root / 'day2' / 'd') as writer:
        for i, sample in enumerate(samples(3, 4)):
            writer.write('/camera/image', sample.image, START_NS + i * 10**8, 'rgb8')
    with BagWriter(root / 'day2' / 'e') as writer:
        for i, sample in enumerate(samples(5, 5)):
            stamp = START_NS + i * 10**8
            label = sample.anomaly if i != 3 else sample.anomaly[:H // 2]
            writer.write('/camera/image', sample.image, stamp, 'rgb8')
            writer.write('/camera/anomaly_label', label, stamp, 'mono8')
            writer.write(SEMANTIC, sample.semantic, stamp, 'mono8')
    (root / 'broken.mcap').write_bytes(b'\x89MCAP0\r\n' + bytes(range(256)) * 4)
    dataset_to_bag(samples(2, 6), root / '.hidden', progress=False)
    return root
