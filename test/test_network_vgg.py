# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of SynBoost's VGG19 perceptual difference re-implementation."""

from conftest import read_key_manifest, state_dict_shapes
from pixel_anomaly_ros.networks.vgg import vgg19_difference, vgg19_difference_tiny
import torch


def test_full_size_keys_match_manifest():
    with torch.device('meta'):
        net = vgg19_difference()
    assert state_dict_shapes(net) == read_key_manifest('vgg19_features_keys.txt')


def test_tiny_keys_follow_torchvision_indices():
    names = set(vgg19_difference_tiny().state_dict())
    assert names == set(read_key_manifest('vgg19_features_keys.txt'))


def test_identical_inputs_give_zero():
    torch.manual_seed(1)
    net = vgg19_difference_tiny().eval()
    a = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        assert torch.equal(net(a, a.clone()), torch.zeros(2, 1, 32, 64))


def test_batch_equals_single_calls():
    torch.manual_seed(2)
    net = vgg19_difference_tiny().eval()
    a, b = torch.randn(2, 3, 32, 64), torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        batched = net(a, b)
        single = torch.cat([net(a[i:i + 1], b[i:i + 1]) for i in range(2)])
    assert batched.shape == (2, 1, 32, 64)
    assert torch.allclose(batched, single, atol=1e-6)
