# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The TensorRT executor on a real GPU: engines, cache reuse, corrupt plans, precisions.

Every test is marked ``gpu`` and skips without CUDA and TensorRT >= 10. The cache logic itself
is tested without a GPU in ``test_engine_cache.py``.
"""

from conftest import make_random_bundle
import numpy as np
from pixel_anomaly_ros.export import build_tensorrt_engines, export_bundle
from pixel_anomaly_ros.pipelines import create_pipeline, pipeline_for
from pixel_anomaly_ros.runtime import BackendError
from pixel_anomaly_ros.runtime.engine_cache import EngineCache
from pixel_anomaly_ros.runtime.tensorrt_executor import tensorrt_available, TensorRTExecutor
import pytest

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not tensorrt_available(), reason='needs CUDA and TensorRT')]

PRESETS = ('light_tiny', 'pebal_tiny', 'pebal_icnet_tiny')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp('trt')
    bundles = {}
    for preset in PRESETS:
        bundle = make_random_bundle(preset, root / preset, seed=5, input_size=(128, 256))
        export_bundle(bundle, progress=False)
        bundles[preset] = bundle
    return bundles


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (128, 256, 3), dtype=np.uint8)


@pytest.mark.parametrize('preset', PRESETS)
def test_fp32_engines_match_torch(exported, preset):
    bundle = exported[preset]
    engine = create_pipeline(bundle, 'tensorrt', 'cuda', 'fp32')
    reference = create_pipeline(bundle, 'torch', 'cuda', 'fp32')
    for seed in range(3):
        got, expected = engine(_image(seed)), reference(_image(seed))
        np.testing.assert_allclose(got.score, expected.score, atol=1e-3)
        assert np.mean(got.train_ids != expected.train_ids) < 1e-3
        assert set(got.timings_ms) == set(expected.timings_ms)
    device_ms = engine.executor.device_timings_ms()
    assert set(device_ms) == set(bundle.spec.stage_inputs())
    assert all(ms > 0 for ms in device_ms.values())


@pytest.mark.parametrize('preset', PRESETS)
def test_fp16_engines_are_close(exported, preset):
    bundle = exported[preset]
    got = create_pipeline(bundle, 'tensorrt', 'cuda', 'fp16')(_image())
    expected = create_pipeline(bundle, 'torch', 'cuda', 'fp32')(_image())
    assert np.abs(got.score - expected.score).mean() < 0.05


def test_cache_reuses_then_detects_corrupt_plans(exported):
    bundle = exported['pebal_tiny']
    messages = []
    TensorRTExecutor(bundle, 'cuda', 'fp32', log=messages.append).close()
    messages.clear()
    TensorRTExecutor(bundle, 'cuda', 'fp32', log=messages.append).close()
    assert not any('building' in m for m in messages)
    plans = sorted(EngineCache(bundle.path).root.rglob('*.plan'))
    assert plans
    for plan in plans:
        plan.write_bytes(plan.read_bytes()[:100])
    with pytest.raises(BackendError, match='corrupt'):
        TensorRTExecutor(bundle, 'cuda', 'fp32', rebuild=False)
    TensorRTExecutor(bundle, 'cuda', 'fp32', log=messages.append).close()
    assert any('corrupt' in m for m in messages)
    assert not list(bundle.path.rglob('*.tmp'))


def test_build_only_then_int8_with_calibration(exported):
    bundle = exported['pebal_icnet_tiny']
    assert build_tensorrt_engines(bundle, 'fp16', verify=False) == {}
    images = [_image(seed) for seed in range(8)]
    executor = TensorRTExecutor(bundle, 'cuda', 'int8', calibration_images=images)
    result = pipeline_for(bundle, executor)(_image(9))
    assert result.score.shape == (128, 256) and np.isfinite(result.score).all()
    executor.close()
