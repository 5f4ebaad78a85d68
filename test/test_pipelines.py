# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Both pipelines end to end on tiny bundles, on the CPU (and on CUDA when present)."""

from conftest import assert_raw_close, assert_raw_tracks, assert_varies, make_random_bundle
import cv2
import numpy as np
from pixel_anomaly_ros.pipelines import create_pipeline, PEBAL, SynBoostLight
from pixel_anomaly_ros.runtime import BackendError, create_executor
import pytest
import torch

STAGES = {
    'light': ['preprocess', 'segmentation', 'synthesis', 'dissimilarity', 'postprocess'],
    'pebal': ['preprocess', 'energy', 'postprocess'],
    'pebal_icnet': ['preprocess', 'energy', 'postprocess'],
}


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize('name', sorted(STAGES))
@pytest.mark.parametrize('size', [(128, 256), (97, 203), (480, 640)])
def test_end_to_end(tiny_bundles, name, size):
    pipeline = create_pipeline(tiny_bundles[name])
    assert isinstance(pipeline, SynBoostLight if name == 'light' else PEBAL)
    result = pipeline(_image(*size), return_maps=True)
    assert_varies(result.maps['raw_score'], result.score)
    assert list(result.timings_ms) == STAGES[name]
    assert all(ms > 0 for ms in result.timings_ms.values())
    assert result.score.shape == size and result.score.dtype == np.float32
    assert 0.0 <= result.score.min() and result.score.max() <= 1.0
    assert result.mask.dtype == bool
    np.testing.assert_array_equal(result.mask, result.score >= pipeline.threshold)
    assert result.train_ids.shape == size and result.train_ids.dtype == np.uint8
    assert result.train_ids.max() < 19
    assert result.total_ms == pytest.approx(sum(result.timings_ms.values()))


def test_output_size_maps_and_determinism(tiny_bundles):
    pipeline = create_pipeline(tiny_bundles['light'])
    image = _image(200, 300)
    a = pipeline(image, output_size=(64, 128), return_maps=True)
    b = pipeline(image, output_size=(64, 128))
    assert a.score.shape == (64, 128)
    assert_varies(a.maps['raw_score'], a.score)
    np.testing.assert_array_equal(a.score, b.score)
    assert {'raw_score', 'p_anomaly', 'entropy', 'distance', 'perceptual',
            'synthesis'} <= set(a.maps)
    assert a.maps['synthesis'].shape == (64, 128, 3)
    for key in ('p_anomaly', 'entropy', 'distance', 'perceptual'):
        assert 0.0 <= a.maps[key].min() and a.maps[key].max() <= 1.0 + 1e-6, key
    # Official ensemble: 0.75 P(anomaly) + 0.25 entropy, the entropy nearest-resized to the
    # dissimilarity resolution with pixel-centre sampling (PIL NEAREST): rows/cols 1, 3, ...
    np.testing.assert_allclose(a.maps['raw_score'],
                               0.75 * a.maps['p_anomaly'] + 0.25 * a.maps['entropy'][1::2, 1::2],
                               atol=1e-6)


def test_ensemble_weights_change_at_run_time(tiny_bundles):
    pipeline = create_pipeline(tiny_bundles['light'])
    image = _image(128, 256)
    pipeline.set_ensemble_weights([0.0, 1.0, 0.0, 0.0])
    only_entropy = pipeline(image, return_maps=True)
    np.testing.assert_allclose(only_entropy.maps['raw_score'],
                               only_entropy.maps['entropy'][1::2, 1::2], atol=1e-6)
    for bad in ([1, 2, 3], [0, 0, 0, 0], [-1, 1, 0, 0], [np.nan, 1, 0, 0]):
        with pytest.raises(ValueError):
            pipeline.set_ensemble_weights(bad)
    np.testing.assert_array_equal(pipeline.ensemble_weights, [0, 1, 0, 0])


@pytest.mark.parametrize('name', sorted(STAGES))
def test_score_is_the_calibrated_raw_score(tiny_bundles, name):
    pipeline = create_pipeline(tiny_bundles[name])
    result = pipeline(_image(128, 256), return_maps=True)
    raw = result.maps['raw_score']
    assert_varies(raw, result.score)
    lo, hi = pipeline.score_lo, pipeline.score_hi
    expected = cv2.resize(np.clip((raw - lo) / (hi - lo), 0, 1), (256, 128),
                          interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(result.score, expected, atol=1e-6)
    # The random bundles' range comes from their own raw scores: most pixels lie inside it.
    assert 0.5 < np.mean((result.score > 0) & (result.score < 1))


@pytest.mark.parametrize('name, preset', [('light', 'light_tiny'), ('pebal', 'pebal_tiny')])
def test_score_smoothing_comes_before_the_range(tiny_bundles, tmp_path, name, preset):
    smoothed = make_random_bundle(preset, tmp_path / 'smoothed', smoothing=1.5)
    pipeline = create_pipeline(smoothed)
    result = pipeline(_image(128, 256), return_maps=True)
    raw = result.maps['raw_score']  # what the graphs give, not yet smoothed
    assert_varies(raw, result.score)
    lo, hi = pipeline.score_lo, pipeline.score_hi
    blurred = cv2.GaussianBlur(raw, (0, 0), 1.5, borderType=cv2.BORDER_REFLECT_101)
    expected = cv2.resize(np.clip((blurred - lo) / (hi - lo), 0, 1), (256, 128),
                          interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(result.score, expected, atol=1e-6)
    plain = create_pipeline(tiny_bundles[name])(_image(128, 256), return_maps=True)
    np.testing.assert_array_equal(plain.maps['raw_score'], raw)  # same weights (seed 0)
    assert np.std(np.diff(blurred, axis=1)) < 0.8 * np.std(np.diff(raw, axis=1))


@pytest.mark.parametrize('bad', [
    np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
    np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8), 'image'])
def test_bad_images_are_rejected(tiny_bundles, bad):
    pipeline = create_pipeline(tiny_bundles['pebal'])
    with pytest.raises(ValueError, match='uint8 RGB'):
        pipeline(bad)


def test_unsupported_backend_combinations(tiny_bundles):
    bundle = tiny_bundles['pebal']
    with pytest.raises(BackendError, match='unknown backend'):
        create_executor(bundle, backend='tensorflow')
    with pytest.raises(BackendError, match='fp16 needs a CUDA'):
        create_executor(bundle, precision='fp16')
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match='CUDA is not available'):
            create_executor(bundle, device='cuda')


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('name', sorted(STAGES))
def test_cuda_matches_cpu(tiny_bundles, name):
    image = _image(128, 256)
    cpu = create_pipeline(tiny_bundles[name])(image, return_maps=True)
    assert_varies(cpu.maps['raw_score'], cpu.score)
    # fp32 means fp32 here: cuDNN would otherwise round convolution inputs to TF32.
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        gpu = create_pipeline(tiny_bundles[name], device='cuda')(image, return_maps=True)
    assert_raw_close(gpu.maps['raw_score'], cpu.maps['raw_score'], rel=1e-3)
    assert np.mean(gpu.train_ids != cpu.train_ids) < 1e-3
    # fp16: the segmentation argmax flips at near ties, which changes SynBoost's synthesis
    # locally; measured with CPU fp16 autocast: mean difference 0.6-1.2 % of the magnitude,
    # correlation 0.991-0.997 (Light), 0.02 % and 0.99998 (PEBAL).
    half = create_pipeline(tiny_bundles[name], device='cuda', precision='fp16')(
        image, return_maps=True)
    assert_raw_tracks(half.maps['raw_score'], cpu.maps['raw_score'], rel_mean=3e-2,
                      min_correlation=0.97)
