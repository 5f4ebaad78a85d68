# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Semantic colours, heatmap and overlay."""

import subprocess
import sys
import tracemalloc

import numpy as np
from pixel_anomaly_ros.visualisation import (
    CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, colour_train_ids, heatmap_bgr, overlay_bgr,
    palette_lut, quantise_score)
import pytest

# matplotlib's inferno at 0, 128/255 and 1, as RGB
INFERNO_RGB = {0: (0, 0, 4), 128: (188, 55, 84), 255: (252, 255, 164)}


def _image(h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def test_palette_is_the_official_cityscapes_one():
    assert CITYSCAPES_PALETTE.shape == (19, 3) and CITYSCAPES_PALETTE.dtype == np.uint8
    assert len(CITYSCAPES_CLASSES) == 19
    named = dict(zip(CITYSCAPES_CLASSES, map(tuple, CITYSCAPES_PALETTE.tolist())))
    assert named['road'] == (128, 64, 128) and named['sky'] == (70, 130, 180)
    assert named['car'] == (0, 0, 142) and named['bicycle'] == (119, 11, 32)
    assert not CITYSCAPES_PALETTE.flags.writeable


def test_colour_train_ids_uses_the_palette_and_black_for_void():
    ids = np.array([np.arange(20), [255] * 20], np.uint8)
    colours = colour_train_ids(ids)
    assert colours.shape == (2, 20, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(colours[0, :19], CITYSCAPES_PALETTE)
    np.testing.assert_array_equal(colours[0, 19], 0)
    np.testing.assert_array_equal(colours[1], 0)
    # other integer types are cast: -1 wraps to 255 (void)
    np.testing.assert_array_equal(colour_train_ids(np.array([[13, -1]])),
                                  [[CITYSCAPES_PALETTE[13], (0, 0, 0)]])


def test_custom_palette():
    lut = palette_lut(np.array([(1, 2, 3), (4, 5, 6)]))
    np.testing.assert_array_equal(colour_train_ids(np.array([[1, 0, 2]], np.uint8), lut=lut),
                                  [[(4, 5, 6), (1, 2, 3), (0, 0, 0)]])
    with pytest.raises(ValueError, match='palette'):
        palette_lut(np.zeros((3, 4)))


def test_quantise_score_rounds_and_clips():
    score = np.array([[0.0, 0.5, 1.0, 1 / 255, -0.3, 1.7, np.nan]], np.float32)
    np.testing.assert_array_equal(quantise_score(score), [[0, 128, 255, 1, 0, 255, 0]])


def test_heatmap_lut_matches_inferno():
    score = np.array([[0.0, 128 / 255, 1.0]], np.float32)
    heat = heatmap_bgr(score)
    assert heat.shape == (1, 3, 3) and heat.dtype == np.uint8
    for column, level in enumerate((0, 128, 255)):
        np.testing.assert_allclose(heat[0, column, ::-1], INFERNO_RGB[level], atol=2)


def test_overlay_blends_only_inside_the_mask():
    image = _image()
    score = np.full((6, 8), 1.0, np.float32)
    mask = np.zeros((6, 8), bool)
    mask[2:4, 3:6] = True
    overlay = overlay_bgr(image, score, mask, alpha=0.5)
    bgr = image[..., ::-1]
    np.testing.assert_array_equal(overlay[~mask], bgr[~mask])
    heat = heatmap_bgr(score)
    expected = 0.5 * bgr.astype(float) + 0.5 * heat.astype(float)
    np.testing.assert_allclose(overlay[mask], expected[mask], atol=1)
    np.testing.assert_array_equal(overlay_bgr(image, score, mask.view(np.uint8) * 255, 1.0)[mask],
                                  heat[mask])


def test_overlay_without_mask_is_weighted_by_score():
    image = _image()
    score = np.zeros((6, 8), np.float32)
    score[:, 4:] = 1.0
    overlay = overlay_bgr(image, score, None, alpha=1.0)
    np.testing.assert_array_equal(overlay[:, :4], image[:, :4, ::-1])
    np.testing.assert_array_equal(overlay[:, 4:], heatmap_bgr(score)[:, 4:])


def test_overlay_needs_one_resolution():
    with pytest.raises(ValueError, match='share'):
        overlay_bgr(_image(), np.zeros((3, 4), np.float32), None)


def test_out_arrays_are_reused():
    ids = np.random.default_rng(0).integers(0, 19, (256, 512), np.uint8)
    score = np.random.default_rng(0).random((256, 512), dtype=np.float32)
    mask = score > 0.7
    image = _image(256, 512)
    out = np.empty((256, 512, 3), np.uint8)
    levels = np.empty((256, 512), np.uint8)
    assert colour_train_ids(ids, out=out) is out
    np.testing.assert_array_equal(out, colour_train_ids(ids))
    assert quantise_score(score, out=levels) is levels
    assert heatmap_bgr(score, out=out) is out
    np.testing.assert_array_equal(out, heatmap_bgr(score))
    assert overlay_bgr(image, score, mask, out=out) is out
    np.testing.assert_array_equal(out, overlay_bgr(image, score, mask))
    assert overlay_bgr(image, score, None, out=out) is out


def _peak_numpy_bytes(call):
    call()
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_out_arrays_avoid_allocations():
    ids = np.zeros((256, 512), np.uint8)
    score = np.full((256, 512), 0.5, np.float32)
    out = np.empty((256, 512, 3), np.uint8)
    levels = np.empty((256, 512), np.uint8)
    assert _peak_numpy_bytes(lambda: colour_train_ids(ids, out=out)) < 10_000
    assert _peak_numpy_bytes(lambda: quantise_score(score, out=levels)) < 10_000
    # only the (H, W) uint8 levels are allocated, a third of the output
    assert _peak_numpy_bytes(lambda: heatmap_bgr(score, out=out)) < ids.size + 10_000


def test_module_does_not_import_ros():
    script = ('import sys\n'
              'for name in ("rclpy", "sensor_msgs", "std_msgs"):\n'
              '    sys.modules[name] = None\n'
              'import pixel_anomaly_ros.visualisation\n')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_colour_bar_runs_from_one_at_the_top_to_zero_and_marks_the_threshold():
    from pixel_anomaly_ros.visualisation import colour_bar_bgr
    bar = colour_bar_bgr(200, 56)
    assert bar.shape == (200, 56, 3) and bar.dtype == np.uint8
    column = bar[:, 6]
    top, bottom = heatmap_bgr(np.ones((1, 1), np.float32))[0, 0], \
        heatmap_bgr(np.zeros((1, 1), np.float32))[0, 0]
    np.testing.assert_array_equal(column[8], top)
    np.testing.assert_array_equal(column[191], bottom)
    marked = colour_bar_bgr(200, 56, threshold=0.25)
    rows = np.flatnonzero((marked[:, 1] == (255, 255, 0)).all(axis=1))
    assert rows.size and abs(rows.mean() - (8 + 0.75 * 183)) <= 2


def test_draw_outline_marks_the_border_of_each_region_only():
    from pixel_anomaly_ros.visualisation import draw_outline
    image = np.zeros((40, 60, 3), np.uint8)
    mask = np.zeros((40, 60), bool)
    mask[10:30, 20:40] = True
    out = draw_outline(image, mask, (0, 0, 255), 1)
    assert out is image
    drawn = image[..., 2] > 100  # anti-aliased line
    assert not image[..., :2].any()
    assert drawn[10, 25] and drawn[29, 30] and drawn[20, 20] and drawn[20, 39]
    assert not drawn[20, 30] and not drawn[2, 2]
