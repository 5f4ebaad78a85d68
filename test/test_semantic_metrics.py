# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Semantic mIoU: hand-computed confusion, a random check against per-class IoU, merging."""

import math

import numpy as np
from pixel_anomaly_ros.evaluation.semantic_metrics import SemanticConfusion
import pytest


def test_semantic_confusion_hand_computed():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 1]], np.uint8)
    prediction = np.array([[0, 1, 1, 1], [2, 0, 1, 1]], np.uint8)
    acc = SemanticConfusion(num_classes=4)
    acc.update(prediction, target)
    m = acc.compute()
    # Class 0: tp 1, target 2, predicted 2 -> 1 / 3. Class 1: tp 3, target 3, predicted 4
    # (the ignored pixel does not count) -> 3 / 4. Class 2: tp 1, target 2, predicted 1 -> 1/2.
    # Class 3 appears nowhere: NaN and left out of the mean.
    assert m.iou[:3] == pytest.approx((1 / 3, 3 / 4, 1 / 2)) and math.isnan(m.iou[3])
    assert m.miou == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert (m.pixel_accuracy, m.pixels) == (pytest.approx(5 / 7), 7)
    with pytest.raises(ValueError):
        acc.update(np.full((2, 4), 4, np.uint8), target)


def test_semantic_confusion_random_and_merge():
    rng = np.random.default_rng(13)
    preds = [rng.integers(0, 19, (40, 50)) for _ in range(4)]
    targets = [np.where(rng.random((40, 50)) < 0.1, 255, rng.integers(0, 19, (40, 50)))
               for _ in range(4)]
    one, parts = SemanticConfusion(), [SemanticConfusion(), SemanticConfusion()]
    for i, (p, t) in enumerate(zip(preds, targets)):
        one.update(p, t)
        parts[i % 2].update(p, t)
    parts[0].merge(parts[1])
    assert np.array_equal(parts[0].matrix, one.matrix) and parts[0].compute() == one.compute()
    p, t = np.concatenate([x.ravel() for x in preds]), np.concatenate([x.ravel() for x in targets])
    p, t = p[t != 255], t[t != 255]
    iou = [np.sum((p == c) & (t == c)) / np.sum((p == c) | (t == c)) for c in range(19)]
    assert one.compute().iou == pytest.approx(tuple(iou))
