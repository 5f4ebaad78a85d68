# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the Fast_Seg-compatible ICNet (pixel_anomaly_ros.networks.icnet)."""

import math

from conftest import read_key_manifest, state_dict_shapes
from pixel_anomaly_ros.networks.icnet import (
    icnet_pebal, icnet_pebal_tiny, icnet_r50, icnet_tiny, PSPPool)
import pytest
import torch
from torch import nn

MANIFEST = 'icnet_fastseg_keys.txt'
CLASSIFIERS = ('head.conv_cls.weight', 'head.cff_12.conv_low_cls.weight',
               'head.cff_24.conv_low_cls.weight')


def _expected_sizes(h: int, w: int) -> list:
    """Compute the official output sizes (full, 1/4, 1/8, ~1/16) for an (h, w) input."""
    def one(n: int) -> tuple:
        sub1 = math.ceil(math.ceil(math.ceil(n / 2) / 2) / 2)
        half = n // 2
        stem = math.ceil(half / 2)
        pool = math.ceil((stem - 1) / 2) + 1
        if (pool - 1) * 2 >= stem + 1:
            pool -= 1
        sub2 = math.ceil(pool / 2)
        return 8 * sub1, 2 * sub1, sub1, sub2
    hs, ws = one(h), one(w)
    return [(a, b) for a, b in zip(hs, ws)]


def test_full_size_keys_match_manifest():
    with torch.device('meta'):
        net = icnet_r50()
    manifest = read_key_manifest(MANIFEST)
    assert len(manifest) == 417
    assert state_dict_shapes(net) == manifest


def test_pebal_keys_match_manifest_with_20_outputs():
    with torch.device('meta'):
        net = icnet_pebal()
    expected = read_key_manifest(MANIFEST)
    for key in CLASSIFIERS:
        assert expected[key][0] == 19
        expected[key] = (20,) + expected[key][1:]
    assert state_dict_shapes(net) == expected


@pytest.mark.parametrize('builder', [icnet_tiny, icnet_pebal_tiny])
def test_tiny_uses_official_key_names(builder):
    names = set(read_key_manifest(MANIFEST))
    keys = set(state_dict_shapes(builder()))
    assert keys <= names
    # every layer keeps its projection shortcut, the PSP head all four stages
    for layer in range(1, 5):
        assert f'backbone.layer{layer}.0.downsample.0.weight' in keys
    assert {k.split('.')[3] for k in keys if k.startswith('backbone.head.stages.')} == {
        '0', '1', '2', '3'}
    assert {k for k in names if not k.startswith('backbone.layer')} <= keys


@pytest.mark.parametrize('hw', [(64, 128), (72, 136)])
def test_tiny_forward_full_resolution(hw):
    torch.manual_seed(0)
    net = icnet_tiny().eval()
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 19, *hw)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('hw', [(64, 128), (72, 136), (100, 150)])
def test_tiny_forward_pyramid_resolutions(hw):
    torch.manual_seed(0)
    net = icnet_pebal_tiny().eval()
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        outs = net.forward_pyramid(x)
        full = net(x)
    assert len(outs) == 4
    sizes = [tuple(o.shape[2:]) for o in outs]
    assert sizes == _expected_sizes(*hw)
    assert all(o.shape[:2] == (1, 20) for o in outs)
    assert torch.equal(outs[0], full)
    # element 0 is the 1/4 logits upsampled x4 (bilinear, align_corners=True)
    up = nn.functional.interpolate(outs[1], scale_factor=4, mode='bilinear', align_corners=True)
    assert torch.allclose(up, outs[0])


def test_official_sizes_for_cityscapes_input():
    assert _expected_sizes(1024, 2048) == [(1024, 2048), (256, 512), (128, 256), (65, 129)]
    assert _expected_sizes(512, 1024)[3] == (33, 65)


def test_strict_load_rejects_wrong_class_count():
    state = icnet_tiny().state_dict()
    with pytest.raises(RuntimeError):
        icnet_pebal_tiny().load_state_dict(state, strict=True)


@pytest.mark.parametrize('size', [1, 2, 3, 6])
def test_psp_pool_matches_adaptive_avg_pool(size):
    x = torch.randn(2, 4, 9, 17)
    assert torch.equal(PSPPool(size)(x), nn.AdaptiveAvgPool2d(size)(x))


def test_cff_aux_classifier_sees_pre_sum_branch():
    torch.manual_seed(0)
    cff = icnet_tiny().head.cff_24.eval()
    low = torch.randn(1, 16, 3, 5)
    high = torch.randn(1, 16, 6, 9)
    with torch.no_grad():
        fused, cls = cff(low, high)
        up = nn.functional.interpolate(low, size=(6, 9), mode='bilinear', align_corners=True)
        proj = cff.conv_low(up)
        assert torch.allclose(cls, cff.conv_low_cls(proj))
        assert torch.allclose(fused, torch.relu(proj + cff.conv_high(high)))
    assert cls.shape == (1, 19, 6, 9)


def test_half_pixel_and_wider_tiny_variant():
    official = icnet_tiny()
    variant = icnet_tiny(align_corners=False, width=2)
    assert set(variant.state_dict()) == set(official.state_dict())  # same keys, wider
    assert variant.conv_sub1[0].conv.out_channels == 2 * official.conv_sub1[0].conv.out_channels
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        same_weights = icnet_tiny(align_corners=False).eval()
        same_weights.load_state_dict(official.state_dict())
        a, b = official.eval()(x), same_weights(x)
    assert a.shape == b.shape == (1, 19, 64, 128)
    assert not torch.allclose(a, b)  # the resize convention reaches the output
    assert icnet_pebal_tiny(align_corners=False, width=2).head.conv_cls.out_channels == 20
