# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Scoring functions against hand-computed values and the official conventions."""

import math

from pixel_anomaly_ros import scoring
import pytest
import torch


def test_entropy_of_uniform_and_one_hot_logits():
    logits = torch.zeros(1, 19, 2, 2)
    logits[0, 3, 0, 0] = 100.0
    entropy = scoring.softmax_entropy(logits)
    assert entropy.shape == (1, 1, 2, 2)
    assert entropy[0, 0, 0, 0] == pytest.approx(0.0, abs=1e-6)
    assert entropy[0, 0, 1, 1] == pytest.approx(math.log(19), rel=1e-6)


def test_synboost_normalisation_divides_by_max_not_range():
    x = torch.tensor([2.0, 3.0, 4.0]).view(1, 1, 1, 3)
    # (x - min) / max, as the official inference code does: (0, 1, 2) / 4.
    assert scoring.normalise_like_synboost(x).flatten().tolist() == [0.0, 0.25, 0.5]
    assert scoring.min_max_normalise(x).flatten().tolist() == [0.0, 0.5, 1.0]


def test_normalisation_is_per_image():
    x = torch.stack([torch.tensor([1.0, 2.0]), torch.tensor([10.0, 30.0])]).view(2, 1, 1, 2)
    out = scoring.min_max_normalise(x)
    assert out.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


def test_distance_map_by_hand():
    # Pixel 0: p = (0.5, 0.5, 0) -> margin 0. Pixel 1: p = (1, 0, 0) -> margin 1.
    logits = torch.tensor([[0.0, 0.0, -1e4], [1e4, 0.0, 0.0]]).T.reshape(1, 3, 1, 2)
    d = scoring.distance_map(logits).flatten()
    # margins (0, 1): normalised (m - 0) / 1 -> (0, 1); distance = 1 - that.
    assert d.tolist() == pytest.approx([1.0, 0.0], abs=1e-6)


def test_uncertainty_maps_equal_the_textbook_softmax_formulas():
    logits = torch.randn(2, 19, 8, 9) * 4.0
    logits[0, 3, 0, 0] = logits[0, 5, 0, 0] = logits[0, :, 0, 0].max() + 1.0  # a tie for first
    p = torch.softmax(logits, dim=1)
    entropy = -(p * torch.log_softmax(logits, dim=1)).sum(dim=1, keepdim=True)
    top2 = torch.topk(p, k=2, dim=1).values
    winner, entropy_map, distance_map = scoring.uncertainty_maps(logits)
    assert torch.equal(winner, logits.argmax(dim=1, keepdim=True))
    torch.testing.assert_close(scoring.softmax_entropy(logits), entropy, atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy_map, scoring.normalise_like_synboost(entropy),
                               atol=1e-5, rtol=0)
    margin = scoring.normalise_like_synboost(top2[:, :1] - top2[:, 1:])
    torch.testing.assert_close(distance_map, 1.0 - margin, atol=1e-5, rtol=0)
    assert float(distance_map[0, 0, 0, 0]) == 1.0  # tie: margin 0 -> distance 1
    max_p = 1.0 - p.amax(dim=1, keepdim=True)
    torch.testing.assert_close(scoring.max_softmax_score(logits), max_p, atol=1e-6, rtol=0)


def test_free_energy_ignores_abstention_channel():
    logits = torch.randn(2, 20, 3, 4)
    expected = -torch.logsumexp(logits[:, :19], dim=1, keepdim=True)
    torch.testing.assert_close(scoring.free_energy(logits), expected)
    logits[:, 19] += 50.0
    torch.testing.assert_close(scoring.free_energy(logits), expected)


def test_gaussian_kernel_matches_torchvision_definition():
    kernel = scoring.gaussian_kernel(7, 1.0)
    assert kernel.shape == (1, 1, 7, 7)
    g = [math.exp(-0.5 * x * x) for x in range(-3, 4)]
    g = [v / sum(g) for v in g]
    assert kernel[0, 0, 3].tolist() == pytest.approx([g[3] * v for v in g], rel=1e-6)
    assert float(kernel.sum()) == pytest.approx(1.0, rel=1e-6)


def test_gaussian_blur_keeps_constants_and_reflects_at_borders():
    kernel = scoring.gaussian_kernel(7, 1.0)
    const = torch.full((1, 1, 9, 11), 3.5)
    torch.testing.assert_close(scoring.gaussian_blur(const, kernel), const)
    impulse = torch.zeros(1, 1, 9, 9)
    impulse[0, 0, 1, 4] = 1.0
    blurred = scoring.gaussian_blur(impulse, kernel)
    k = kernel[0, 0, :, 3]
    # Reflect padding mirrors row 1 into row -1 (the edge row is not repeated): output row 0
    # sees the impulse at distance 1 on both sides, row 1 at distance 0 and (mirrored) 2.
    assert blurred[0, 0, 0, 4] == pytest.approx(float(2 * k[2]), rel=1e-6)
    assert blurred[0, 0, 1, 4] == pytest.approx(float(k[3] + k[1]), rel=1e-6)


def test_baselines_rank_confident_pixels_lower():
    logits = torch.zeros(1, 19, 1, 2)
    logits[0, 0, 0, 0] = 10.0  # confident pixel
    for fn in (scoring.max_logit_score, scoring.max_softmax_score,
               scoring.normalised_entropy_score, scoring.free_energy):
        score = fn(logits).flatten()
        assert score[0] < score[1], fn.__name__
    assert float(scoring.normalised_entropy_score(logits).max()) == pytest.approx(1.0)


def test_one_hot_zeroes_ignore_pixels_and_label_lut():
    ids = torch.tensor([0, 18, 255, 5], dtype=torch.uint8).view(1, 1, 1, 4)
    one_hot = scoring.one_hot_train_ids(ids)
    assert one_hot.shape == (1, 19, 1, 4)
    assert one_hot.sum(dim=1).flatten().tolist() == [1.0, 1.0, 0.0, 1.0]
    assert one_hot[0, 18, 0, 1] == 1.0
    labels = scoring.train_ids_to_label_ids(ids).flatten().tolist()
    assert labels == [7, 33, 0, 17]


def test_train_ids_are_uint8_argmax_over_inliers():
    logits = torch.zeros(1, 20, 1, 1)
    logits[0, 19] = 9.0  # abstention channel never wins
    logits[0, 4] = 1.0
    ids = scoring.train_ids(logits)
    assert ids.dtype == torch.uint8 and int(ids) == 4


def test_ensemble_official_weights():
    p = torch.full((1, 1, 2, 2), 0.8)
    entropy = torch.full((1, 1, 2, 2), 0.4)
    zero = torch.zeros(1, 1, 2, 2)
    score = scoring.ensemble((p, entropy, zero, zero), torch.tensor([0.75, 0.25, 0.0, 0.0]))
    torch.testing.assert_close(score, torch.full((1, 1, 2, 2), 0.7))
