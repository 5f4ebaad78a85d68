# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SegmentMeIfYouCan component metrics (sIoU, PPV, mean F1) on hand-built masks."""

import math

import numpy as np
from pixel_anomaly_ros.evaluation.components import ComponentEvaluator
from pixel_anomaly_ros.evaluation.components import frame_components
from pixel_anomaly_ros.evaluation.components import SIOU_THRESHOLDS
import pytest
from scipy import ndimage


def _scene():
    """
    Return a 10x12 label map with 4 ground-truth and a prediction with 3 components.

    Ground truth: A rows 1-3 x cols 1-3 (9 px), B rows 1-2 x cols 7-8 (4 px),
    C rows 7-8 x cols 9-11 (6 px), D rows 6-8 x cols 5-7 (9 px).
    Prediction: P1 rows 1-3 x cols 2-9 (24 px, covers 6 px of A and all of B),
    P2 rows 7-8 x cols 0-1 (4 px, on background), P3 rows 6-8 x cols 5-6 (6 px, inside D).
    """
    label = np.zeros((10, 12), np.uint8)
    label[1:4, 1:4] = 1
    label[1:3, 7:9] = 1
    label[7:9, 9:12] = 1
    label[6:9, 5:8] = 1
    pred = np.zeros((10, 12), bool)
    pred[1:4, 2:10] = True
    pred[7:9, 0:2] = True
    pred[6:9, 5:7] = True
    return pred, label


def test_hand_built_scene():
    pred, label = _scene()
    frame = frame_components(pred, label, min_pred_size=0, min_gt_size=0)
    # sIoU(k) = |k & K| / (|K| + |k| - |k & K| - |K on other GT components|), K = touching preds.
    # A: K = P1: 6 / (24 + 9 - 6 - 4) = 6/23 (the 4 px of B under P1 leave the union).
    # B: K = P1: 4 / (24 + 4 - 4 - 6) = 4/18 (the 6 px of A under P1 leave the union).
    # D: K = P3: 6 / (6 + 9 - 6) = 6/9.  C: no prediction touches it: 0.
    # Components are numbered in raster order: A (row 1), B (row 1), D (row 6), C (row 7).
    assert frame.siou_gt == pytest.approx([6 / 23, 4 / 18, 6 / 9, 0.0])
    # PPV(j) = |j & GT| / |j|: P1 (6 + 4) / 24, P3 6/6, P2 0/4 (raster order P1, P3, P2).
    assert frame.ppv == pytest.approx([10 / 24, 1.0, 0.0])
    # sIoU of a prediction, symmetric: P1: 10 / (24 + 9 + 4 - 10) = 10/27; P3: 6 / 9; P2: 0.
    assert frame.siou_pred == pytest.approx([10 / 27, 6 / 9, 0.0])

    evaluator = ComponentEvaluator(min_pred_size=0, min_gt_size=0)
    evaluator.update(pred, label)
    m = evaluator.compute()
    # TP(tau) = #{sIoU >= tau} of (0.261, 0.222, 0.667, 0): 2 at 0.25, 1 for 0.30..0.65,
    # 0 at 0.70 and 0.75; FN = 4 - TP. FP(tau) = #{PPV < tau} of (0.417, 1, 0): 1 up to 0.40,
    # 2 from 0.45.
    assert m.tp == (2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0)
    assert m.fn == tuple(4 - t for t in m.tp)
    assert m.fp == (1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2)
    # F1 = 2TP / (2TP + FN + FP): 4/7 at 0.25; 2/6 at 0.30, 0.35, 0.40; 2/7 at 0.45..0.65
    # (5 values); 0 at 0.70, 0.75. Mean: (4/7 + 3 * 1/3 + 5 * 2/7) / 11 = 3/11.
    expected_f1 = [4 / 7] + [1 / 3] * 3 + [2 / 7] * 5 + [0.0] * 2
    assert m.f1 == pytest.approx(expected_f1)
    assert m.mean_f1 == pytest.approx(3 / 11)
    assert m.siou == pytest.approx((6 / 23 + 4 / 18 + 6 / 9) / 4)
    assert m.ppv == pytest.approx((10 / 24 + 1.0) / 3)
    assert (m.gt_components, m.pred_components) == (4, 3)
    assert m.thresholds == SIOU_THRESHOLDS and len(SIOU_THRESHOLDS) == 11
    assert SIOU_THRESHOLDS[0] == 0.25 and SIOU_THRESHOLDS[-1] == 0.75


def test_size_filters_void_and_connectivity():
    label = np.zeros((12, 12), np.uint8)
    label[1:6, 1:6] = 1       # G1: 25 px, kept with min_gt_size=5
    label[9, 9:11] = 1        # G2: 2 px, too small: becomes void
    label[:, 7] = 255         # a void column
    pred = np.zeros((12, 12), bool)
    pred[1:6, 1:6] = True     # exactly G1
    pred[8:10, 9:11] = True   # 4 px, 2 of them on G2 (void now): 2 inlier px remain
    pred[10, 1] = True        # diagonal neighbours: one 8-connected component of 2 px
    pred[11, 0] = True
    pred[11, 5:11] = True     # crosses the void column: pieces cols 5-6 (2 px), 8-10 (3 px)
    frame = frame_components(pred, label, min_pred_size=2, min_gt_size=5)
    # Only G1 is a ground-truth component, predicted exactly: sIoU 1.
    assert frame.siou_gt.tolist() == [1.0]
    # Predicted components in raster order: G1's (PPV 1), the block at (8, 9) (2 px left in
    # the ROI, both inlier: PPV 0), the diagonal pair, the two pieces of row 11 (PPV 0).
    assert frame.ppv.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    # With 4-connectivity the diagonal pair would be two 1 px components.
    assert ndimage.label(pred[10:12, 0:2])[1] == 2
    # Sizes are counted before the ROI restriction: the block keeps its 4 px; the 2 px pair and
    # the 2 px left piece go.
    frame = frame_components(pred, label, min_pred_size=3, min_gt_size=5)
    assert frame.ppv.tolist() == [1.0, 0.0, 0.0]
    assert frame_components(pred, label, min_pred_size=5, min_gt_size=5).ppv.tolist() == [1.0]
    # A prediction lying only on a too-small ground-truth component vanishes with it.
    only = np.zeros_like(pred)
    only[9, 9:11] = True
    assert frame_components(only, label, 0, 5).ppv.size == 0
    assert frame_components(only, label, 0, 2).ppv.tolist() == [1.0]


def test_scores_are_thresholded_inclusively_and_tracks():
    pred, label = _scene()
    score = np.where(pred, 0.7, 0.2).astype(np.float32)
    by_score = ComponentEvaluator(threshold=0.7, min_pred_size=0, min_gt_size=0)
    by_mask = ComponentEvaluator(min_pred_size=0, min_gt_size=0)
    by_score.update(score, label)
    by_mask.update(pred, label)
    assert by_score.compute().f1 == by_mask.compute().f1
    assert by_score.compute().score_threshold == 0.7
    with pytest.raises(ValueError):
        ComponentEvaluator().update(score, label)
    anomaly, obstacle = (ComponentEvaluator.for_track(t, 0.5) for t in ('anomaly', 'obstacle'))
    assert (anomaly.min_pred_size, anomaly.min_gt_size) == (500, 100)
    assert (obstacle.min_pred_size, obstacle.min_gt_size) == (50, 10)
    with pytest.raises(ValueError):
        ComponentEvaluator.for_track('road')
    # With the AnomalyTrack filters, every component of the small scene is filtered out.
    anomaly.update(score, label)
    m = anomaly.compute()
    assert (m.gt_components, m.pred_components) == (0, 0)
    assert math.isnan(m.siou) and math.isnan(m.mean_f1)


def _literal_reference(pred, label, min_pred_size, min_gt_size):
    """Per-component loops over boolean masks, straight from the definitions."""
    structure = np.ones((3, 3))
    valid = (label == 0) | (label == 1)
    p_ids, n_p = ndimage.label(pred & valid, structure)
    for j in range(1, n_p + 1):
        if np.sum(p_ids == j) < min_pred_size:
            p_ids[p_ids == j] = 0
    g_ids, n_g = ndimage.label(label == 1, structure)
    roi = valid.copy()
    for i in range(1, n_g + 1):
        if np.sum(g_ids == i) < min_gt_size:
            roi[g_ids == i] = False
            g_ids[g_ids == i] = 0
    g, p = g_ids[roi], p_ids[roi]
    siou_gt = []
    for i in np.unique(g[g > 0]):
        touching = np.unique(p[(g == i) & (p > 0)])
        union_pred = np.isin(p, touching)
        inter = np.sum((g == i) & union_pred)
        other = np.sum(union_pred & (g > 0) & (g != i))
        siou_gt.append(inter / (np.sum(union_pred) + np.sum(g == i) - inter - other))
    ppv = [np.sum((p == j) & (g > 0)) / np.sum(p == j) for j in np.unique(p[p > 0])]
    return np.array(siou_gt), np.array(ppv)


@pytest.mark.parametrize('seed', range(4))
def test_random_blobs_match_literal_definition(seed):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random((80, 100)), 2.0)
    label = (smooth > np.quantile(smooth, 0.85)).astype(np.uint8)
    label[rng.random(label.shape) < 0.02] = 255
    noisy = ndimage.gaussian_filter(rng.random((80, 100)), 1.5) + 0.05 * label
    pred = noisy > np.quantile(noisy, 0.8)
    siou, ppv = _literal_reference(pred, label, 6, 4)
    frame = frame_components(pred, label, min_pred_size=6, min_gt_size=4)
    assert siou.size > 3 and ppv.size > 3
    assert frame.siou_gt == pytest.approx(siou, abs=1e-12)
    assert frame.ppv == pytest.approx(ppv, abs=1e-12)


def test_merge_equals_one_pass():
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(5):
        smooth = ndimage.gaussian_filter(rng.random((40, 60)), 2.0)
        label = (smooth > np.quantile(smooth, 0.8)).astype(np.uint8)
        frames.append((smooth + 0.02 * rng.random(smooth.shape), label))
    one = ComponentEvaluator(threshold=float(np.quantile(frames[0][0], 0.75)), min_pred_size=3,
                             min_gt_size=3)
    parts = [ComponentEvaluator(one.threshold, 3, 3) for _ in range(2)]
    for i, frame in enumerate(frames):
        one.update(*frame)
        parts[i % 2].update(*frame)
    parts[0].merge(parts[1])
    a, b = parts[0].compute(), one.compute()
    assert (a.tp, a.fn, a.fp, a.f1, a.mean_f1) == (b.tp, b.fn, b.fp, b.f1, b.mean_f1)
    assert a.siou == pytest.approx(b.siou, abs=1e-15) and a.gt_components > 5
