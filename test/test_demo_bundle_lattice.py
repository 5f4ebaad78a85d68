# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The shipped demo bundles on a few held-out frames: no periodic artefact in the mean score.

Issue 15's acceptance is measured by ``make demo`` over its 200 held-out scenes (the report's
"Segmentation and periodic artefacts" table); this test reads the same measurement on the
first 24 frames of that sequence, so a lattice stamped by a bundle's networks fails CI. A
stamped lattice is the same on every frame and survives the mean; the scene content does not,
but a few frames leave enough of it to read as a peak, the more so the smoother the score:
the v3 demo_pebal with the bilinear resize read 3.45x on the first six frames and 2.28x on
twelve; with the smooth resize (``coarse_resize``) today's reads 2.97x on twelve, 3.35x on 16,
2.29x on 24 and 2.30x on 40, and 1.7x over the 200 (demo_light: 2.05x on 24; the first
bundles: 13x and 46x). A ripple too faint to see, which only the mean of many frames brings out
of the scene content, can pass here: the bilinear demo_pebal read 2.09x on twelve frames and
4.3x over the 200 (models/README.md).
"""

from pathlib import Path

import cv2
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.demo import default_bundles, TEST_SEED
from pixel_anomaly_ros.evaluation.periodicity import MAX_RATIO, MeanMap
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.synthetic.writer import generate
import pytest

FRAMES = 24


@pytest.fixture(scope='module')
def held_out_images(tmp_path_factory):
    world = generate(tmp_path_factory.mktemp('held_out') / 'world', seed=TEST_SEED, train=0,
                     val=0, anomalies=FRAMES, size=(256, 512), progress=False, workers=1)
    paths = sorted((Path(world['paths']['anomaly']) / 'images').glob('*.png'))
    assert len(paths) == FRAMES
    return [cv2.imread(str(p), cv2.IMREAD_COLOR)[:, :, ::-1].copy() for p in paths]


@pytest.mark.parametrize('bundle_path', default_bundles(), ids=lambda p: p.name)
def test_mean_score_map_has_no_lattice(bundle_path, held_out_images):
    pipeline = create_pipeline(load_bundle(bundle_path), 'onnxruntime')
    mean = MeanMap()
    for image in held_out_images:
        mean.add(pipeline(image).score)
    result = mean.periodicity()
    assert result.ratio < MAX_RATIO, (
        f'{bundle_path.name}: spectral peak {result.ratio:.1f}x at {result.period:.1f} px')
