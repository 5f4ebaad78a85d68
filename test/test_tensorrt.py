# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The TensorRT executor on a real GPU: engines, cache reuse, corrupt plans, precisions.

Every test is marked ``gpu`` and skips without CUDA and TensorRT >= 10. The cache logic itself
is tested without a GPU in ``test_engine_cache.py``.
"""

from conftest import assert_raw_tracks, assert_varies, make_random_bundle
import numpy as np
from pixel_anomaly_ros.export.onnx_export import export_bundle
from pixel_anomaly_ros.export.quantization import quantize_bundle
from pixel_anomaly_ros.export.tensorrt import build_tensorrt_engines
from pixel_anomaly_ros.pipelines import create_pipeline, pipeline_for
from pixel_anomaly_ros.runtime import BackendError
from pixel_anomaly_ros.runtime.engine_cache import EngineCache
from pixel_anomaly_ros.runtime.tensorrt_engines import tensorrt_available
from pixel_anomaly_ros.runtime.tensorrt_executor import TensorRTExecutor
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
        got = engine(_image(seed), return_maps=True)
        expected = reference(_image(seed), return_maps=True)
        assert_varies(expected.maps['raw_score'], expected.score)
        # TensorRT builds fp32 engines with TF32 convolutions (10-bit mantissa inputs), as
        # cuDNN does by default: compare like a reduced precision, but tighter than fp16.
        assert_raw_tracks(got.maps['raw_score'], expected.maps['raw_score'], rel_mean=1e-2,
                          min_correlation=0.99)
        assert np.mean(got.train_ids != expected.train_ids) < 1e-3
        assert set(got.timings_ms) == set(expected.timings_ms)
    device_ms = engine.executor.device_timings_ms()
    assert set(device_ms) == set(bundle.spec.stage_inputs())
    assert all(ms > 0 for ms in device_ms.values())


@pytest.mark.parametrize('preset', PRESETS)
def test_fp16_engines_are_close(exported, preset):
    bundle = exported[preset]
    got = create_pipeline(bundle, 'tensorrt', 'cuda', 'fp16')(_image(), return_maps=True)
    expected = create_pipeline(bundle, 'torch', 'cuda', 'fp32')(_image(), return_maps=True)
    # Measured with CPU fp16 autocast: mean difference 0.6-1.2 % of the raw magnitude and
    # correlation 0.991-0.997 for Light (argmax flips change the synthesis), far closer for
    # PEBAL.
    assert_raw_tracks(got.maps['raw_score'], expected.maps['raw_score'], rel_mean=3e-2,
                      min_correlation=0.97)


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


def test_build_only_then_int8_from_the_quantised_graphs(exported):
    bundle = exported['pebal_icnet_tiny']
    assert build_tensorrt_engines(bundle, 'fp16', verify=False) == {}
    images = [_image(seed) for seed in range(8)]
    quantize_bundle(bundle, images, progress=False)
    executor = TensorRTExecutor(bundle, 'cuda', 'int8')
    result = pipeline_for(bundle, executor)(_image(9), return_maps=True)
    assert result.score.shape == (128, 256) and np.isfinite(result.score).all()
    assert_varies(result.maps['raw_score'], result.score)
    executor.close()
