# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training losses against values worked out by hand on tiny tensors."""

import math

from pixel_anomaly_ros.training import losses
import pytest
import torch


def test_synboost_class_weights():
    # p = (3/4, 1/4) -> w = 1 / ln(1.02 + p)
    w = losses.synboost_class_weights(torch.tensor([3.0, 1.0]))
    assert w.tolist() == pytest.approx([1 / math.log(1.77), 1 / math.log(1.27)], rel=1e-6)
    # SynBoost's hard-coded weights for ~4.2 % anomalous pixels
    w = losses.synboost_class_weights(torch.tensor([0.958, 0.042]))
    assert w.tolist() == pytest.approx([1.4649, 16.52], rel=1e-2)


def test_dissimilarity_loss_weighted_and_ignore():
    # both pixels: logits (0, ln 3) -> p = (1/4, 3/4)
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1).repeat(1, 1, 1, 3)
    target = torch.tensor([[[0, 1, 255]]])
    # (1 * ln 4 + 3 * ln(4/3)) / (1 + 3); the 255 pixel does not count
    expected = (math.log(4.0) + 3 * math.log(4.0 / 3.0)) / 4.0
    loss = losses.dissimilarity_loss(logits, target, torch.tensor([1.0, 3.0]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # unweighted mean of ln 4 and ln(4/3)
    loss = losses.dissimilarity_loss(logits, target)
    assert loss.item() == pytest.approx((math.log(4.0) + math.log(4.0 / 3.0)) / 2, rel=1e-6)


def test_free_energy():
    # 19 zero logits: -logsumexp = -ln 19; the abstention channel is not used
    logits = torch.zeros(1, 20, 1, 1)
    logits[:, 19] = 100.0
    assert losses.free_energy(logits).item() == pytest.approx(-math.log(19.0), rel=1e-6)


def test_energy_hinge_loss():
    energy = torch.tensor([[[-13.0, -10.0, -5.0, -7.0, 100.0]]])
    target = torch.tensor([[[0, 1, 254, 254, 255]]])
    # inliers: relu(-13 + 12)^2 = 0, relu(-10 + 12)^2 = 4 -> mean 2
    # outliers: relu(-6 + 5)^2 = 0, relu(-6 + 7)^2 = 1 -> mean 0.5; void ignored
    # 0.5 * (2 + 0.5) = 1.25
    assert losses.energy_hinge_loss(energy, target).item() == pytest.approx(1.25)
    # no outliers: only the inlier mean (2), not halved
    target = torch.tensor([[[0, 1, 255, 255, 255]]])
    assert losses.energy_hinge_loss(energy, target).item() == pytest.approx(2.0)


def test_sparsity_and_smoothness():
    energy = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])
    target = torch.tensor([[[254, 254], [0, 255]]])
    # 5e-4 * ||(3, 4)||_2 = 5e-4 * 5
    assert losses.sparsity_loss(energy, target).item() == pytest.approx(2.5e-3)
    assert losses.sparsity_loss(energy, torch.zeros_like(target)).item() == 0.0
    energy = torch.tensor([[[0.0, 1.0], [3.0, 5.0]]])
    # vertical 3, 4 -> 25; horizontal 1, 2 -> 5; 3e-6 * 0.5 * 30
    assert losses.smoothness_loss(energy).item() == pytest.approx(4.5e-5)


def test_pal_loss_uniform_logits():
    # 2 inlier classes + abstention, all logits 0: p = 1/3 each, reward = (ln 2)^2 everywhere
    # (a constant map stays constant under the Gaussian blur)
    logits = torch.zeros(1, 3, 4, 4)
    v = math.log(1 / 3 + (1 / 3) / math.log(2.0) ** 2)  # log(p_y + a / r)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 255
    assert losses.pal_loss(logits, target, num_inlier=2).item() == pytest.approx(-v, rel=1e-5)
    # an outlier pixel adds 0.1 * mean over classes of the same log -> -(v + 0.1 v)
    target[0, 1, 1] = 254
    assert losses.pal_loss(logits, target, num_inlier=2).item() == \
        pytest.approx(-1.1 * v, rel=1e-5)


def test_pebal_loss_total_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 20, 8, 8, requires_grad=True)
    target = torch.randint(0, 19, (2, 8, 8))
    target[0, :2] = 254
    target[1, -1] = 255
    parts = losses.pebal_loss(logits, target)
    expected = parts['pal'] + 0.1 * (parts['hinge'] + parts['sparsity'] + parts['smoothness'])
    assert parts['loss'].item() == pytest.approx(expected.item())
    parts['loss'].backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    # void pixels get no gradient from any term but the smoothness (and blurred reward)
    logits.grad = None
    losses.energy_hinge_loss(losses.free_energy(logits), target).backward()
    assert logits.grad[1, :, -1].abs().sum() == 0


def test_inlier_cross_entropy_leaves_out_outliers_void_and_the_abstention_logit():
    torch.manual_seed(0)
    logits = torch.randn(1, 20, 4, 4, requires_grad=True)
    target = torch.randint(0, 19, (1, 4, 4))
    target[0, 0] = 254
    target[0, 1, :2] = 255
    loss = losses.inlier_cross_entropy(logits, target)
    # the mean of -log softmax over the 19 inlier logits at the 10 inlier pixels
    log_p = torch.log_softmax(logits[0, :19].detach(), dim=0)
    inlier = target[0] < 19
    expected = -log_p.gather(0, target[0].clamp(max=18)[None])[0][inlier].mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert logits.grad[0, 19].abs().sum() == 0  # the abstention logit
    assert logits.grad[0, :, 0].abs().sum() == 0 and logits.grad[0, :, 1, :2].abs().sum() == 0
    assert logits.grad[0, :, 2:].abs().sum() > 0
    # no inlier pixel at all: zero, still differentiable
    empty = losses.inlier_cross_entropy(logits, torch.full((1, 4, 4), 254))
    assert empty.item() == 0 and empty.requires_grad


def test_dissimilarity_loss_gradient_ignores_void():
    logits = torch.randn(1, 2, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 1], [255, 255]]])
    losses.dissimilarity_loss(logits, target, torch.tensor([1.0, 5.0])).backward()
    assert logits.grad[0, :, 1].abs().sum() == 0
    assert logits.grad[0, :, 0].abs().sum() > 0


def test_uniform_outlier_loss():
    target = torch.tensor([[[254, 3]]])
    # Uniform logits over C classes: -mean_c log(1/C) = ln C, the loss's minimum.
    uniform = torch.zeros(1, 4, 1, 2)
    assert losses.uniform_outlier_loss(uniform, target).item() == pytest.approx(math.log(4))
    # One confident pixel, p = (e^2, 1, 1, 1) / (e^2 + 3): -(2 - 4 ln(e^2 + 3)) / 4.
    logits = torch.zeros(1, 4, 1, 2, requires_grad=True)
    with torch.no_grad():
        logits[0, 0, 0, 0] = 2.0
        logits[0, 1, 0, 1] = 9.0  # an inlier pixel: does not count
    loss = losses.uniform_outlier_loss(logits, target)
    assert loss.item() == pytest.approx(-(2.0 - 4 * math.log(math.e ** 2 + 3)) / 4, rel=1e-6)
    loss.backward()
    # The gradient lowers the confident logit and leaves the inlier pixel alone.
    assert logits.grad[0, 0, 0, 0] > 0 and logits.grad[0, :, 0, 1].abs().sum() == 0
    assert losses.uniform_outlier_loss(logits, torch.tensor([[[1, 3]]])).item() == 0.0
