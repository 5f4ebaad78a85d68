# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the NVIDIA DeepWV3Plus / PEBAL network module."""

from conftest import read_key_manifest, state_dict_shapes
from pixel_anomaly_ros.networks.deepwv3 import (
    DeepWV3Plus, deepwv3plus, deepwv3plus_tiny, pebal_wrn38, pebal_wrn38_tiny, PebalNetwork)
import pytest
import torch
from torch import nn

MANIFEST = 'pebal_network_keys.txt'


def _random_state_dict(module: nn.Module, seed: int = 0) -> dict:
    """Return a random state_dict (BN running stats included) with the module's layout."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(3)
        elif key.endswith('running_var') or (value.dim() == 1 and key.endswith('weight')):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif value.dim() == 1:
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
        else:
            state[key] = torch.randn(value.shape, generator=gen) / value[0].numel() ** 0.5
    return state


def test_pebal_full_keys_match_manifest():
    with torch.device('meta'):
        net = pebal_wrn38()
    manifest = read_key_manifest(MANIFEST)
    assert len(manifest) == 268
    assert state_dict_shapes(net) == manifest
    assert list(net.state_dict()) == list(manifest)


def test_deepwv3plus_full_keys_match_nvidia_layout():
    with torch.device('meta'):
        net = deepwv3plus()
    expected = {key[len('branch1.'):]: shape for key, shape in read_key_manifest(MANIFEST).items()}
    expected['final.6.weight'] = (19, 256, 1, 1)
    assert state_dict_shapes(net) == expected


def test_full_strict_load_on_meta():
    manifest = read_key_manifest(MANIFEST)
    with torch.device('meta'):
        net = pebal_wrn38()
        state = {key: torch.empty(shape) for key, shape in manifest.items()}
    net.load_state_dict(state, strict=True, assign=True)
    state.pop('branch1.aspp.img_conv.1.running_var')
    with pytest.raises(RuntimeError):
        net.load_state_dict(state, strict=True, assign=True)


def test_tiny_keeps_key_names():
    with torch.device('meta'):
        full = set(pebal_wrn38().state_dict())
    tiny = set(pebal_wrn38_tiny().state_dict())
    assert tiny <= full
    prefixes = {key.split('.block')[0] for key in full}
    assert prefixes == {key.split('.block')[0] for key in tiny}
    assert 'branch1.mod4.block2.bn1.0.weight' in tiny  # identity-shortcut path is exercised
    assert 'branch1.mod6.block1.convs.conv3.weight' in tiny


@pytest.mark.parametrize('height,width', [(64, 128), (67, 131)])
def test_tiny_forward_shapes(height, width):
    torch.manual_seed(0)
    pebal = pebal_wrn38_tiny().eval()
    seg = deepwv3plus_tiny().eval()
    x = torch.randn(2, 3, height, width)
    with torch.no_grad():
        logits = pebal(x)
        seg_logits = seg(x)
    assert isinstance(pebal, PebalNetwork) and isinstance(seg, DeepWV3Plus)
    assert logits.shape == (2, 20, height, width) and logits.dtype == torch.float32
    assert seg_logits.shape == (2, 19, height, width)
    assert torch.isfinite(logits).all() and torch.isfinite(seg_logits).all()
    assert pebal.num_inlier_classes == 19


def test_eval_is_deterministic_and_train_uses_dropout():
    torch.manual_seed(0)
    net = pebal_wrn38_tiny()
    net.load_state_dict(_random_state_dict(net))
    dropouts = [m for m in net.modules() if isinstance(m, nn.Dropout2d)]
    assert [m.p for m in dropouts] == [0.3, 0.5]
    assert net.branch1.mod6.block1.convs[-2] is dropouts[0]
    x = torch.randn(1, 3, 64, 128)
    net.eval()
    with torch.no_grad():
        first = net(x)
        second = net(x)
    assert torch.equal(first, second)
    # BatchNorm in eval uses the running statistics: batch composition does not matter.
    with torch.no_grad():
        batched = net(torch.cat([x, torch.randn_like(x)]))
    assert torch.allclose(batched[:1], first, atol=1e-5)


def test_tiny_strict_round_trip():
    src = pebal_wrn38_tiny().eval()
    src.load_state_dict(_random_state_dict(src, seed=1), strict=True)
    dst = pebal_wrn38_tiny().eval()
    dst.load_state_dict(src.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))
    # The PEBAL branch loads into a bare DeepWV3Plus after stripping ``branch1.``.
    seg = deepwv3plus_tiny(num_classes=20).eval()
    seg.load_state_dict({k[len('branch1.'):]: v for k, v in src.state_dict().items()}, strict=True)
    with torch.no_grad():
        assert torch.equal(seg(x), src(x))


def test_upsampling_uses_align_corners():
    net = deepwv3plus_tiny().eval()
    captured = {}
    net.final.register_forward_hook(lambda mod, args, out: captured.update(dec=out))
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        out = net(x)
        m2, deep = net.forward_features(x)
    assert m2.shape[2:] == (32, 64) and deep.shape[2:] == (8, 16)
    dec = captured['dec']
    assert dec.shape[2:] == (32, 64)
    # align_corners=True maps corner pixels onto corner pixels exactly.
    for row, col in [(0, 0), (-1, -1), (0, -1), (-1, 0)]:
        assert torch.allclose(out[..., row, col], dec[..., row, col], atol=1e-6)


def test_rejects_non_batched_input():
    net = deepwv3plus_tiny().eval()
    with pytest.raises(ValueError):
        net(torch.randn(3, 64, 128))
