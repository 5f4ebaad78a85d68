# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``coarse_resize``: how a score taken on ICNet's 1/8 logits reaches the full size.

``smooth`` must keep what a coarse map says (constants, ramps) and leave out the two things of
the coarse grid that a bilinear resize lets through: a pattern at the coarse grid's Nyquist
frequency, and images of the map's smooth structure near the 8-pixel grid frequency.
"""

from pixel_anomaly_ros.bundle import BundleError, BundleSpec
from pixel_anomaly_ros.coarse_resize import (_spline_resize, COARSE_RESIZES, resize_bilinear,
                                             resize_smooth)
from pixel_anomaly_ros.presets import preset_spec
import pytest
import torch

SIZE = (128, 256)  # x8 of the (16, 32) coarse maps below


def _interior(x: torch.Tensor, margin: int = 24) -> torch.Tensor:
    """Return the full-size map away from the borders, where replicate padding plays no part."""
    return x[0, 0, margin:-margin, margin:-margin]


@pytest.mark.parametrize('align_corners', [False, True])
def test_smooth_keeps_a_constant_map(align_corners):
    coarse = torch.full((2, 3, 16, 32), -4.25)
    out = resize_smooth(coarse, SIZE, align_corners)
    assert out.shape == (2, 3) + SIZE
    assert torch.allclose(out, coarse.new_full(out.shape, -4.25), atol=1e-5)


def test_smooth_keeps_a_ramp_where_the_borders_play_no_part():
    rows = torch.arange(16, dtype=torch.float64)[:, None].expand(16, 32)
    out = resize_smooth(rows[None, None].clone(), SIZE, False)
    expected = resize_bilinear(rows[None, None].clone(), SIZE, False)  # a ramp stays a ramp
    assert torch.allclose(_interior(out), _interior(expected), atol=1e-9)


def test_smooth_removes_a_pattern_at_the_coarse_nyquist_frequency():
    """Remove the pattern ICNet's 1/16 branch leaves in the 1/8 grid (about two cells)."""
    columns = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(16)
    coarse = (2.0 + columns)[None, :].expand(16, 32)[None, None].clone()
    smooth = _interior(resize_smooth(coarse, SIZE, False))
    bilinear = _interior(resize_bilinear(coarse, SIZE, False))
    assert float(bilinear.max() - bilinear.min()) > 1.0
    assert torch.allclose(smooth, torch.full_like(smooth, 2.0), atol=1e-9)


def _grid_band_power(full: torch.Tensor, factor: int = 8) -> float:
    """Fraction of a map's power (mean removed) in the rows of the spectrum near 1 / factor."""
    column = full[0, 0].mean(dim=1)
    column = (column - column.mean()) * torch.hann_window(column.numel(), dtype=column.dtype)
    power = torch.fft.rfft(column).abs() ** 2
    grid = column.numel() // factor
    return float(power[grid - 3:grid + 4].sum() / power.sum())


def test_smooth_leaves_no_image_of_smooth_structure_at_the_grid_frequency():
    """A horizon-like profile: bilinear puts a ripple of period 8 on it, smooth next to none."""
    rows = torch.arange(16, dtype=torch.float64)
    profile = torch.tanh((rows - 6.3) / 1.5) + 0.1 * (rows - 8.0) ** 2 / 8
    coarse = profile[:, None].expand(16, 32)[None, None].clone()
    bilinear = _grid_band_power(resize_bilinear(coarse, SIZE, False))
    smooth = _grid_band_power(resize_smooth(coarse, SIZE, False))
    assert bilinear > 1e-7
    assert smooth < bilinear / 100


@pytest.mark.parametrize('coarse, size', [((32, 64), (256, 512)), ((1, 1), (8, 8)),
                                          ((3, 5), (12, 10)), ((4, 4), (4, 4))])
def test_the_transposed_convolution_is_the_b_spline_resize(coarse, size):
    """Integer factors take a stride-k transposed convolution; it must equal the general path."""
    torch.manual_seed(0)
    maps = torch.randn((2, 3) + coarse, dtype=torch.float64)
    general = _spline_resize(resize_smooth(maps, coarse, False), size, False)  # [1 2 1] only
    torch.testing.assert_close(resize_smooth(maps, size, False), general, rtol=0, atol=1e-12)


def test_the_registry_holds_both_resizes():
    assert COARSE_RESIZES == {'bilinear': resize_bilinear, 'smooth': resize_smooth}


def test_coarse_resize_travels_through_bundle_yaml():
    spec = preset_spec('pebal_icnet_tiny_v3')
    assert spec.coarse_resize == 'smooth'
    doc = spec.to_yaml_dict()
    assert doc['coarse_resize'] == 'smooth'
    assert BundleSpec.from_yaml_dict(doc).coarse_resize == 'smooth'
    light = preset_spec('light_tiny_v3').to_yaml_dict()  # bilinear: the default, not written
    assert 'coarse_resize' not in light
    assert BundleSpec.from_yaml_dict(light).coarse_resize == 'bilinear'


def test_an_unknown_coarse_resize_is_named_with_the_choices():
    doc = preset_spec('pebal_icnet_tiny_v3').to_yaml_dict()
    doc['coarse_resize'] = 'bicubic'
    with pytest.raises(BundleError, match="coarse_resize 'bicubic' is not one of bilinear, "
                                          'smooth'):
        BundleSpec.from_yaml_dict(doc)


def test_coarse_resize_needs_coarse_scores():
    doc = preset_spec('pebal_icnet_tiny_v3').to_yaml_dict()
    del doc['coarse_scores']
    with pytest.raises(BundleError, match='add "coarse_scores: true" or remove coarse_resize'):
        BundleSpec.from_yaml_dict(doc)
