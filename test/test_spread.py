# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""PartMetrics: the metrics of consecutive parts of a test set equal those of the parts alone."""

import numpy as np
from pixel_anomaly_ros.evaluation.metrics import pixel_metrics
from pixel_anomaly_ros.evaluation.spread import PartMetrics
import pytest


def _frames(count, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        label = (rng.random((16, 24)) < 0.1).astype(np.uint8)
        label[0, :3] = 255  # void pixels are ignored, as everywhere
        # each frame separates its anomalies to another degree
        score = rng.random(label.shape).astype(np.float32) + 0.3 * i * label
        frames.append((score, label))
    return frames


def test_each_full_part_has_the_metrics_of_its_frames_alone():
    frames = _frames(5)
    parts = PartMetrics(2)
    for score, label in frames:
        parts.add(score, label)
    measured = parts.parts()
    assert len(measured) == 2  # the fifth frame would start a third, short part: left out
    for i, part in enumerate(measured):
        alone = pixel_metrics(*zip(*frames[2 * i:2 * i + 2]))
        assert part.ap == pytest.approx(alone.ap, abs=1e-12)
        assert part.fpr95 == pytest.approx(alone.fpr95, abs=1e-12)
        assert part.positives == alone.positives and part.negatives == alone.negatives
    # the parts differ (later frames separate better), so they are not the whole set's figure
    assert measured[1].ap > measured[0].ap


def test_a_part_needs_at_least_one_frame():
    with pytest.raises(ValueError, match='at least 1'):
        PartMetrics(0)
