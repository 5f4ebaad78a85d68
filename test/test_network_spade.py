# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the NVlabs SPADE Cityscapes generator re-implementation."""

import copy

from conftest import read_key_manifest, state_dict_shapes
from pixel_anomaly_ros.networks.spade import (
    fold_spectral_norm, label_map_to_spade_input, resize_nearest_floor, spade_cityscapes,
    spade_tiny, SpectralNormConv2d)
import pytest
import torch
from torch import nn


def _randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and buffer random values (positive variances)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith('num_batches_tracked'):
                tensor.fill_(7)
            elif name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith('weight_u') or name.endswith('weight_v'):
                tensor.copy_(torch.nn.functional.normalize(
                    torch.randn(tensor.shape, generator=gen), dim=0))
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
    return net


def test_full_size_keys_match_manifest():
    with torch.device('meta'):
        net = spade_cityscapes()
    assert state_dict_shapes(net) == read_key_manifest('spade_cityscapes_G_keys.txt')


def test_folded_full_size_keys():
    with torch.device('meta'):
        net = spade_cityscapes(spectral_norm=False)
    manifest = read_key_manifest('spade_cityscapes_G_keys.txt')
    expected = {}
    for key, shape in manifest.items():
        if key.endswith('.weight_orig'):
            expected[key[:-len('_orig')]] = shape
        elif not (key.endswith('.weight_u') or key.endswith('.weight_v')):
            expected[key] = shape
    assert state_dict_shapes(net) == expected


def test_spectral_norm_conv_matches_torch():
    torch.manual_seed(0)
    for kernel, bias in ((3, True), (1, False)):
        ref = nn.utils.spectral_norm(nn.Conv2d(6, 5, kernel, padding=kernel // 2, bias=bias))
        ref.train()
        ref(torch.randn(1, 6, 4, 4))  # one power iteration updates u and v
        with torch.no_grad():
            ref.weight_orig.add_(0.3 * torch.randn_like(ref.weight_orig))  # u, v now stale
        ref.eval()
        mine = SpectralNormConv2d(6, 5, kernel, padding=kernel // 2, bias=bias)
        mine.load_state_dict(ref.state_dict(), strict=True)
        mine.eval()
        x = torch.randn(2, 6, 7, 9)
        with torch.no_grad():
            expected = ref(x)
            assert torch.allclose(mine(x), expected, atol=1e-6)
            assert torch.allclose(mine.to_conv2d()(x), expected, atol=1e-6)


def test_spectral_norm_conv_legacy_state_dict():
    torch.manual_seed(1)
    ref = nn.utils.spectral_norm(nn.Conv2d(4, 3, 3, padding=1))
    ref.train()
    ref(torch.randn(1, 4, 5, 5))
    ref.eval()
    legacy = {k: v for k, v in ref.state_dict().items() if k != 'weight_v'}
    legacy['weight'] = ref.weight.detach().clone()  # pre torch 1.0 layout
    mine = SpectralNormConv2d(4, 3, 3, padding=1)
    mine.load_state_dict(legacy, strict=True)
    mine.eval()
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(mine(x), ref(x), atol=1e-5)


def test_fold_spectral_norm_equivalence():
    torch.manual_seed(0)
    net = _randomize(spade_tiny()).eval()
    folded = fold_spectral_norm(copy.deepcopy(net)).eval()
    keys = folded.state_dict().keys()
    assert 'head_0.conv_0.weight' in keys and 'up_0.conv_s.weight' in keys
    assert not any(k.endswith(('weight_orig', 'weight_u', 'weight_v')) for k in keys)
    assert not any(isinstance(m, SpectralNormConv2d) for m in folded.modules())
    assert set(keys) == set(spade_tiny(spectral_norm=False).state_dict().keys())
    labels = torch.randint(0, 35, (2, 1, 64, 128))
    seg = label_map_to_spade_input(labels)
    with torch.no_grad():
        assert (net(seg) - folded(seg)).abs().max().item() <= 1e-5
    plain = spade_tiny(spectral_norm=False).eval()
    plain.load_state_dict(folded.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(plain(seg), folded(seg))


def test_label_map_to_spade_input():
    labels = torch.tensor([[7, 7, 8, 8],
                           [7, 7, 8, 8],
                           [7, 7, 7, 7],
                           [255, 7, 7, 7]]).view(1, 1, 4, 4)
    out = label_map_to_spade_input(labels)
    assert out.shape == (1, 36, 4, 4) and out.dtype == torch.float32
    one_hot = out[:, :35]
    assert torch.equal(one_hot[0, 7], (labels[0, 0] == 7).float())
    assert torch.equal(one_hot[0, 8], (labels[0, 0] == 8).float())
    assert one_hot[0, :, 3, 0].sum() == 0  # 255 -> all zero
    assert one_hot.sum() == 15
    expected_edge = torch.tensor([[0, 1, 1, 0],
                                  [0, 1, 1, 1],
                                  [1, 0, 1, 1],
                                  [1, 1, 0, 0]], dtype=torch.float32)
    assert torch.equal(out[0, 35], expected_edge)
    # (B, H, W) input and a uniform map (no edges).
    flat = label_map_to_spade_input(torch.full((2, 3, 5), 26))
    assert flat.shape == (2, 36, 3, 5)
    assert flat[:, 35].sum() == 0 and torch.equal(flat[:, 26], torch.ones(2, 3, 5))


def test_tiny_forward_shape_and_range():
    torch.manual_seed(0)
    net = spade_tiny().eval()
    seg = label_map_to_spade_input(torch.randint(0, 35, (1, 1, 64, 128)))
    with torch.no_grad():
        out = net(seg)
    assert out.shape == (1, 3, 64, 128) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.min() >= -1 and out.max() <= 1
    with pytest.raises(ValueError):
        net(seg[:, :, :48])


def test_narrower_tiny_generator_keeps_the_keys_and_the_output_shape():
    wide, narrow = spade_tiny(spectral_norm=False), spade_tiny(spectral_norm=False, ngf=6)
    assert set(narrow.state_dict()) == set(wide.state_dict())
    assert narrow.fc.weight.shape[0] * 8 == wide.fc.weight.shape[0] * 6
    seg = label_map_to_spade_input(torch.randint(0, 35, (1, 1, 64, 128)))
    with torch.no_grad():
        assert narrow.eval()(seg).shape == wide.eval()(seg).shape == (1, 3, 64, 128)


@pytest.mark.parametrize('size', [(64, 128), (16, 32), (4, 8), (1, 2), (48, 96), (40, 100)])
def test_segmap_resize_is_pytorch_nearest_and_a_view_for_whole_factors(size):
    segmap = torch.randn(2, 3, 64, 128)
    resized = resize_nearest_floor(segmap, size)
    assert torch.equal(resized, torch.nn.functional.interpolate(segmap, size=size,
                                                                mode='nearest'))
    whole = 64 % size[0] == 0 and 128 % size[1] == 0
    assert (resized.untyped_storage().data_ptr() == segmap.untyped_storage().data_ptr()) == whole
