# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the SynBoost dissimilarity network (DissimNetPrior)."""

from conftest import read_key_manifest, state_dict_shapes
from pixel_anomaly_ros.networks.dissimilarity import (
    dissim_prior, dissim_prior_tiny, pointwise_correlation, SPADEInstanceNorm)
import pytest
import torch
import torch.nn.functional as F

MANIFEST = 'synboost_dissimnetprior_keys.txt'


def _inputs(batch: int = 2, height: int = 64, width: int = 128, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    original = torch.randn(batch, 3, height, width, generator=gen)
    synthesis = torch.randn(batch, 3, height, width, generator=gen)
    labels = torch.randint(0, 20, (batch, height, width), generator=gen)
    semantic = F.one_hot(labels, 20)[..., :19].permute(0, 3, 1, 2).float()  # 19 = ignore
    priors = [torch.rand(batch, 1, height, width, generator=gen) for _ in range(3)]
    return (original, synthesis, semantic, *priors)


def _randomize(net: torch.nn.Module, seed: int = 1) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {k: 0.1 * torch.randn(v.shape, generator=gen) for k, v in net.state_dict().items()}


def test_full_size_keys_match_manifest():
    manifest = read_key_manifest(MANIFEST)
    assert len(manifest) == 116
    with torch.device('meta'):
        net = dissim_prior()
    assert state_dict_shapes(net) == manifest
    assert not list(net.buffers())


def test_tiny_keys_are_a_same_named_subset():
    manifest = read_key_manifest(MANIFEST)
    net = dissim_prior_tiny()
    assert set(net.state_dict()) == set(manifest)


def test_wider_tiny_variant_keeps_the_keys_and_the_output_shape():
    narrow = dissim_prior_tiny(upsampling='resize')
    wide = dissim_prior_tiny(upsampling='resize', width=4)
    assert set(wide.state_dict()) == set(narrow.state_dict())
    shapes = {k: v.shape for k, v in narrow.state_dict().items()}
    assert wide.state_dict()['conv10.weight'].shape[1] == 4 * shapes['conv10.weight'][1]
    with torch.no_grad():
        out = wide.eval()(*_inputs(batch=1))
    assert out.shape == (1, 2, 64, 128)


def test_strict_round_trip():
    src = dissim_prior_tiny()
    sd = _randomize(src)
    src.load_state_dict(sd, strict=True)
    dst = dissim_prior_tiny()
    dst.load_state_dict(src.state_dict(), strict=True)
    src.eval()
    dst.eval()
    inputs = _inputs(batch=1)
    with torch.no_grad():
        assert torch.equal(src(*inputs), dst(*inputs))
    with pytest.raises(RuntimeError):
        bad = dict(sd)
        bad['conv2.norm1.mlp_shared.0.weight'] = bad.pop('conv2.norm1.shared.0.weight')
        dst.load_state_dict(bad, strict=True)


def test_spade_resizes_semantic_map_nearest():
    torch.manual_seed(0)
    spade = SPADEInstanceNorm(norm_nc=6, label_nc=19, hidden=8).eval()
    feats = torch.randn(2, 6, 8, 16)
    semantic = _inputs(height=64, width=128)[2]
    small = F.interpolate(semantic, size=(8, 16), mode='nearest')
    with torch.no_grad():
        out = spade(feats, semantic)
        ref = spade(feats, small)
    assert out.shape == feats.shape
    assert torch.equal(out, ref)
    # nearest keeps the map one-hot (bilinear would blend labels)
    assert set(small.unique().tolist()) <= {0.0, 1.0}


def test_correlation_channel_precedes_gated_features():
    torch.manual_seed(0)
    net = dissim_prior_tiny().eval()
    net.load_state_dict(_randomize(net))
    vgg_out = []
    dec_in = {}
    net.vgg_encoder.register_forward_hook(lambda m, i, o: vgg_out.append(o))
    for name in ('conv1', 'conv12', 'conv3', 'conv5'):
        getattr(net, name).register_forward_pre_hook(
            lambda m, i, name=name: dec_in.__setitem__(name, i[0]))
    with torch.no_grad():
        net(*_inputs())
    og, syn = vgg_out
    d0, d1, d2 = net.tconv1.out_channels, net.tconv3.out_channels, net.tconv2.out_channels
    # channel of the correlation in each decoder input: skip tensors are [corr, gated]
    expected = {'conv1': (3, 0), 'conv12': (2, d0), 'conv3': (1, d1), 'conv5': (0, d2)}
    for name, (scale, channel) in expected.items():
        corr = pointwise_correlation(og[scale], syn[scale])
        assert (og[scale] >= 0).all()  # raw post-ReLU VGG features
        assert torch.allclose(dec_in[name][:, channel:channel + 1], corr, atol=1e-5)
        # symmetric in (original, synthesis)
        assert torch.equal(corr, pointwise_correlation(syn[scale], og[scale]))


def test_prior_gates_fused_features():
    torch.manual_seed(0)
    net = dissim_prior_tiny().eval()
    net.load_state_dict(_randomize(net))
    original, synthesis, semantic, *_ = _inputs(batch=1)
    zeros = torch.zeros(1, 3, 64, 128)
    with torch.no_grad():
        for layer in net.prior_encoder.hidden_layers:
            layer[0].bias.fill_(-1.0)
        skips = net.encode(original, synthesis, semantic, zeros)
    # an all-zero prior with negative biases gives zero prior features -> only corr remains
    for skip in skips:
        assert torch.count_nonzero(skip[:, 1:]) == 0
        assert torch.count_nonzero(skip[:, :1]) > 0


def _mean_p_anomaly(net, frames: int = 4, size=(128, 256)):
    """Return the mean P(anomaly) of ``net`` over a few smooth random inputs."""
    gen = torch.Generator().manual_seed(1)
    total = 0
    with torch.no_grad():
        for _ in range(frames):
            smooth = F.interpolate(torch.randn(1, 8, 4, 8, generator=gen), size=size,
                                   mode='bilinear', align_corners=False)
            labels = smooth[:, 6:7].mul(4).floor().clamp(0, 18).long()[:, 0]
            semantic = F.one_hot(labels, 19).permute(0, 3, 1, 2).float()
            priors = smooth[:, 3:6].sigmoid()
            logits = net(smooth[:, :3], smooth[:, 3:6], semantic, priors[:, :1], priors[:, 1:2],
                         priors[:, 2:3])
            total = total + F.softmax(logits, dim=1)[0, 1].numpy()
    return total / frames


def test_resize_upsampling_has_no_lattice_and_its_own_keys():
    from pixel_anomaly_ros.evaluation.periodicity import MAX_RATIO, spectrum_periodicity
    torch.manual_seed(0)
    transposed = dissim_prior_tiny().eval()
    torch.manual_seed(0)
    resize = dissim_prior_tiny(upsampling='resize').eval()
    assert 'tconv1.weight' in transposed.state_dict()
    assert 'tconv1.conv.weight' in resize.state_dict()
    # 2x2 stride-2 transposed convolutions stamp a lattice of period 2, 4 and 8 pixels
    assert spectrum_periodicity(_mean_p_anomaly(transposed), 2.0, 32.0).ratio > MAX_RATIO
    assert spectrum_periodicity(_mean_p_anomaly(resize), 2.0, 32.0).ratio < MAX_RATIO
    with pytest.raises(ValueError, match='unknown upsampling'):
        dissim_prior_tiny(upsampling='pixel_shuffle')
