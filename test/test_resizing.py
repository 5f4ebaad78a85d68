# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The two resize conventions: pixel-centre nearest (as the graphs) and bilinear."""

import cv2
import numpy as np
from pixel_anomaly_ros.resizing import resize_linear, resize_nearest
import pytest


def test_nearest_keeps_identity_and_writes_into_out():
    ids = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert resize_nearest(ids, (3, 4)) is ids
    np.testing.assert_array_equal(resize_nearest(ids, (6, 8)), ids.repeat(2, 0).repeat(2, 1))
    mask = ids % 2 == 0
    big = resize_nearest(mask, (6, 8))
    assert big.dtype == np.bool_ and big.sum() == 4 * mask.sum()
    out = np.empty((6, 8), bool)
    assert resize_nearest(mask, (6, 8), out=out) is out
    np.testing.assert_array_equal(out, big)
    same = np.empty((3, 4), np.uint8)
    assert resize_nearest(ids, (3, 4), out=same) is same
    np.testing.assert_array_equal(same, ids)


def test_nearest_samples_pixel_centres():
    # 5 -> 3 pixels: centres 0.5, 1.5, 2.5 of the output map to 0.83, 2.5, 4.17 of the input
    row = np.arange(5, dtype=np.uint8)[None]
    np.testing.assert_array_equal(resize_nearest(row, (1, 3)), [[0, 2, 4]])
    # OpenCV's INTER_NEAREST samples top-left corners instead: 0, 1, 3
    assert cv2.resize(row, (3, 1), interpolation=cv2.INTER_NEAREST).tolist() == [[0, 1, 3]]
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert resize_nearest(image, (4, 2)).shape == (4, 2, 3)


@pytest.mark.parametrize('size_in, size_out', [((7, 13), (20, 9)), ((256, 512), (1024, 2048)),
                                               ((1024, 2048), (256, 512)), ((19, 23), (5, 3))])
def test_nearest_matches_the_graphs_nearest_exact(size_in, size_out):
    torch = pytest.importorskip('torch')
    from pixel_anomaly_ros.stages.graphs import resize_nearest_exact
    ids = np.random.default_rng(0).integers(0, 19, size_in, dtype=np.uint8)
    expected = resize_nearest_exact(torch.from_numpy(ids)[None, None].float(), size_out)
    np.testing.assert_array_equal(resize_nearest(ids, size_out),
                                  expected[0, 0].to(torch.uint8).numpy())


@pytest.mark.parametrize('size_out', [(12, 18), (8, 12), (3, 36), (24, 12), (10, 15), (48, 72)])
def test_whole_factor_reductions_are_the_interpolation(size_out):
    torch = pytest.importorskip('torch')
    from pixel_anomaly_ros.stages.graphs import resize_nearest_exact
    x = torch.randn(2, 3, 24, 36)
    expected = torch.nn.functional.interpolate(x, size=size_out, mode='nearest-exact')
    assert torch.equal(resize_nearest_exact(x, size_out), expected)


def test_linear():
    score = np.full((3, 4), 0.25, np.float32)
    resized = resize_linear(score, (30, 40))
    assert resized.shape == (30, 40) and np.allclose(resized, 0.25)
    image = np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)
    assert resize_linear(image, (6, 8)) is image
    out = np.empty((12, 16, 3), np.uint8)
    assert resize_linear(image, (12, 16), out=out) is out
    np.testing.assert_array_equal(out, cv2.resize(image, (16, 12)))
