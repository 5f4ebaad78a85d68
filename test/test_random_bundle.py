# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Random-weight bundles: their score range is measured, so calibrated scores do not saturate."""

from conftest import assert_varies
import numpy as np
from pixel_anomaly_ros.bench.random_bundle import (
    random_images, randomise_batchnorm, scale_to_unit_variance, SCORE_PERCENTILES, score_range,
    THRESHOLD_PERCENTILE, write_random_bundle)
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.presets import PRESETS
import pytest
import torch
from torch import nn

TINY = sorted(name for name in PRESETS if name.endswith('_tiny'))


@pytest.mark.parametrize('preset', TINY)
def test_score_range_is_measured_on_the_bundles_own_raw_scores(tmp_path, preset):
    written = write_random_bundle(preset, tmp_path / preset, seed=2, calibration_images=2,
                                  input_size=(64, 128))
    bundle = load_bundle(written.path)
    spec = bundle.spec
    assert spec.input_size == (64, 128)
    assert 0.0 < spec.threshold < 1.0 and spec.score_lo < spec.score_hi
    assert 'random weights' in spec.provenance['source']
    # The loaded bundle reproduces the measurement: same weights, same images.
    pipeline = create_pipeline(bundle)
    results = [pipeline(image, return_maps=True)
               for image in random_images((64, 128), 3, seed=2)[1:]]
    raw = np.concatenate([r.maps['raw_score'].ravel() for r in results])
    lo, hi, median = np.percentile(raw, [*SCORE_PERCENTILES, THRESHOLD_PERCENTILE])
    scale = float(np.abs(raw).max())
    assert spec.score_lo == pytest.approx(lo, abs=1e-5 * scale)
    assert spec.score_hi == pytest.approx(hi, abs=1e-5 * scale)
    assert spec.threshold == pytest.approx((median - lo) / (hi - lo), abs=1e-5)
    score = np.concatenate([r.score.ravel() for r in results])
    assert_varies(raw, score)
    # 1st/99th percentiles: about 2 % of these pixels are clipped to 0 or 1.
    assert np.mean((score > 0) & (score < 1)) > 0.95
    assert 0.4 < np.mean(score >= spec.threshold) < 0.6
    # An image the range was not measured on still spreads over (0, 1).
    other = pipeline(np.random.default_rng(99).integers(0, 256, (64, 128, 3), np.uint8))
    assert np.mean((other.score > 0) & (other.score < 1)) > 0.8
    assert 0.0 < other.mask.mean() < 1.0


def test_seed_decides_the_weights_and_changes_are_applied(tmp_path):
    a = write_random_bundle('pebal_tiny', tmp_path / 'a', seed=1, calibration_images=1)
    b = write_random_bundle('pebal_tiny', tmp_path / 'b', seed=1, calibration_images=1)
    c = write_random_bundle('pebal_tiny', tmp_path / 'c', seed=2, calibration_images=1)
    sha = [x.spec.provenance['weights_sha256'] for x in (a, b, c)]
    assert sha[0] == sha[1] != sha[2]
    assert a.spec.score_lo == b.spec.score_lo != c.spec.score_lo
    kept = write_random_bundle('pebal_tiny', tmp_path / 'kept', seed=1, calibration_images=1,
                               score_lo=-20.0, threshold=0.25)
    assert (kept.spec.score_lo, kept.spec.threshold) == (-20.0, 0.25)
    assert kept.spec.score_hi == a.spec.score_hi  # still measured
    with pytest.raises(ValueError, match='not a bundle spec attribute'):
        write_random_bundle('pebal_tiny', tmp_path / 'd', input_sise=(64, 128))
    with pytest.raises(ValueError, match='unknown preset'):
        write_random_bundle('pebal_huge', tmp_path / 'e')
    with pytest.raises(ValueError, match='at least 1'):
        write_random_bundle('pebal_tiny', tmp_path / 'f', calibration_images=0)
    assert not (tmp_path / 'd').exists() and not (tmp_path / 'f').exists()


def test_a_constant_score_cannot_be_calibrated():
    assert score_range(np.arange(101.0)) == pytest.approx((1.0, 99.0, 49 / 98))
    with pytest.raises(RuntimeError, match='constant raw score'):
        score_range(np.full((8, 8), -2.944))
    with pytest.raises(RuntimeError, match='non-finite'):
        score_range(np.array([0.0, np.nan, 1.0]))


def test_layers_are_scaled_to_unit_variance_and_batchnorm_randomised():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(8, 4, 1, bias=False)).eval()
    randomise_batchnorm(network)
    batchnorm = network[1]
    assert not torch.equal(batchnorm.running_var, torch.ones(8))
    assert not torch.equal(batchnorm.weight, torch.ones(8))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        before = network(x).std()
        scale_to_unit_variance([network], lambda: network(x))
        outputs = {}
        hooks = [network[i].register_forward_hook(
            lambda m, args, out, i=i: outputs.update({i: out.std().item()})) for i in (0, 3, 5)]
        network(x)
    for hook in hooks:
        hook.remove()
    assert before < 0.5  # default initialisation shrinks the activations
    assert outputs == pytest.approx({0: 1.0, 3: 1.0, 5: 1.0}, rel=1e-4)


def test_random_images_mix_noise_and_smooth_fields():
    images = random_images((32, 48), 4, seed=0)
    assert [i.shape for i in images] == [(32, 48, 3)] * 4
    assert all(i.dtype == np.uint8 for i in images)
    roughness = [np.abs(np.diff(i.astype(int), axis=1)).mean() for i in images]
    assert roughness[0] > 40 and roughness[2] > 40  # pixel noise
    assert roughness[1] < 10 and roughness[3] < 10  # smooth colour fields
    assert not np.array_equal(random_images((32, 48), 1, seed=1)[0], images[0])
