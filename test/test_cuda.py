# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The torch-CUDA fast path on a real GPU.

fp32, fp16, channels-last, CUDA graphs, the uint8 upload, event timing, ONNX Runtime on CUDA
and an unindexed TensorRT device.

Every test is marked ``gpu`` and skips without CUDA (``make gpu-check`` runs them on a lent
GPU). Comparisons use the raw score, which varies on the random test bundles.
"""

from conftest import assert_raw_close, assert_raw_tracks, assert_varies
import numpy as np
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.runtime import create_executor
from pixel_anomaly_ros.runtime.stage_timing import CudaStageTimer
import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')]

NAMES = ('light', 'pebal', 'pebal_icnet')


def _image(seed=0, height=128, width=256):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _raw(pipeline, image):
    result = pipeline(image, return_maps=True)
    return result, result.maps['raw_score']


@pytest.fixture(autouse=True)
def _no_tf32():
    """fp32 means fp32: cuDNN and cuBLAS would otherwise round to TF32."""
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        yield
        torch.backends.cuda.matmul.allow_tf32 = previous


@pytest.mark.parametrize('name', NAMES)
def test_cuda_graphs_replay_what_eager_computes(tiny_bundles, name):
    eager = create_pipeline(tiny_bundles[name], 'torch', 'cuda')
    graphed = create_pipeline(tiny_bundles[name], 'torch', 'cuda', cuda_graphs=True)
    for seed in range(3):  # the first call captures, the next ones replay
        expected, expected_raw = _raw(eager, _image(seed))
        got, got_raw = _raw(graphed, _image(seed))
        assert_raw_close(got_raw, expected_raw, rel=1e-5)
        np.testing.assert_array_equal(got.train_ids, expected.train_ids)


@pytest.mark.parametrize('name', NAMES)
def test_fp16_cuda_graphs_track_fp32(tiny_bundles, name):
    _, reference = _raw(create_pipeline(tiny_bundles[name], 'torch', 'cuda'), _image())
    half = create_pipeline(tiny_bundles[name], 'torch', 'cuda', 'fp16', cuda_graphs=True)
    _, raw = _raw(half, _image())
    assert_raw_tracks(raw, reference, rel_mean=3e-2, min_correlation=0.97)


@pytest.mark.parametrize('name', NAMES)
def test_channels_last_matches_the_default_layout(tiny_bundles, name):
    _, expected = _raw(create_pipeline(tiny_bundles[name], 'torch', 'cuda',
                                       channels_last=False), _image())
    _, got = _raw(create_pipeline(tiny_bundles[name], 'torch', 'cuda', channels_last=True),
                  _image())
    assert_raw_close(got, expected, rel=1e-4)


def test_uint8_upload_gives_the_cpu_preprocessing(tiny_bundles):
    executor = create_executor(tiny_bundles['pebal'], 'torch', 'cuda')
    image = _image(3)
    value = executor.image_input(image)
    assert value.is_cuda and value.dtype == torch.float32 and value.shape == (1, 3, 128, 256)
    np.testing.assert_array_equal(value[0].cpu().numpy(), image.transpose(2, 0, 1))
    assert executor.image_input(_image(4)).data_ptr() == value.data_ptr()


def test_stage_timings_come_from_cuda_events(tiny_bundles):
    pipeline = create_pipeline(tiny_bundles['light'], 'torch', 'cuda')
    assert isinstance(pipeline.executor.stage_timer(), CudaStageTimer)
    result = pipeline(_image())
    assert list(result.timings_ms) == ['preprocess', 'segmentation', 'synthesis',
                                       'dissimilarity', 'postprocess']
    assert all(ms > 0 for ms in result.timings_ms.values())


def test_frames_do_not_allocate_device_memory_after_warm_up(tiny_bundles):
    pipeline = create_pipeline(tiny_bundles['pebal'], 'torch', 'cuda', cuda_graphs=True)
    for seed in range(3):
        pipeline(_image(seed))
    torch.cuda.synchronize()
    before = torch.cuda.memory_stats()['allocation.all.allocated']
    for seed in range(5):
        pipeline(_image(seed))
    torch.cuda.synchronize()
    assert torch.cuda.memory_stats()['allocation.all.allocated'] == before


def test_compile_max_autotune_matches_eager(tiny_bundles):
    bundle = tiny_bundles['pebal']
    _, expected = _raw(create_pipeline(bundle, 'torch', 'cuda'), _image())
    compiled = create_pipeline(bundle, 'torch', 'cuda', compile_mode='max-autotune')
    _, got = _raw(compiled, _image())
    assert_raw_close(got, expected, rel=1e-3)


def test_onnxruntime_on_cuda_keeps_stage_values_on_the_device(tiny_bundles, tmp_path):
    import onnxruntime
    if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
        pytest.skip('onnxruntime has no CUDA execution provider here')
    import shutil

    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros.export.onnx_export import export_bundle
    bundle = load_bundle(shutil.copytree(tiny_bundles['light'].path, tmp_path / 'light'))
    export_bundle(bundle, progress=False)
    _, expected = _raw(create_pipeline(bundle), _image())
    pipeline = create_pipeline(bundle, 'onnxruntime', 'cuda')
    value = pipeline.executor.from_numpy(np.zeros((1, 3, 128, 256), np.float32))
    assert isinstance(value, onnxruntime.OrtValue) and value.device_name() == 'cuda'
    _, got = _raw(pipeline, _image())
    assert_raw_close(got, expected, rel=1e-3)


def test_tensorrt_accepts_an_unindexed_cuda_device(tiny_bundles, tmp_path):
    from pixel_anomaly_ros.runtime.tensorrt_engines import tensorrt_available
    if not tensorrt_available():
        pytest.skip('needs TensorRT')
    import shutil

    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros.export.onnx_export import export_bundle
    bundle = load_bundle(shutil.copytree(tiny_bundles['pebal'].path, tmp_path / 'pebal'))
    export_bundle(bundle, progress=False)
    pipeline = create_pipeline(bundle, 'tensorrt', 'cuda', 'fp32')
    assert pipeline.executor.device == f'cuda:{torch.cuda.current_device()}'
    result = pipeline(_image(), return_maps=True)
    assert_varies(result.maps['raw_score'], result.score)
