# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Backend selection (``auto``), torch.compile, INT8 calibration inputs and TensorRT errors."""

from conftest import assert_raw_close, make_random_bundle
import cv2
import numpy as np
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.export.int8_calibration import (CalibrationError, collect_stage_inputs,
                                                       load_calibration_images)
from pixel_anomaly_ros.export.onnx_export import export_bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.runtime import BackendError, choose_backend, create_executor
from pixel_anomaly_ros.runtime.tensorrt_engines import tensorrt_available
from pixel_anomaly_ros.stages.graph_io import GRAPH_IO
import pytest
import torch


@pytest.fixture(scope='module')
def light(tmp_path_factory):
    """Write a tiny Light bundle at 64x128, first without graphs."""
    return make_random_bundle('light_tiny', tmp_path_factory.mktemp('auto') / 'light',
                              input_size=(64, 128))


def _image(h=64, w=128, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only choices')
def test_auto_prefers_onnxruntime_once_graphs_exist(light, caplog):
    assert choose_backend(light)[:3] == ('torch', 'cpu', 'fp32')
    assert 'pixel-anomaly export' in choose_backend(light)[3]
    export_bundle(light, progress=False)
    try:
        assert choose_backend(light, 'auto', 'fp16')[:3] == ('onnxruntime', 'cpu', 'fp32')
        caplog.set_level('INFO', logger='pixel_anomaly_ros.runtime')
        executor = create_executor(light, 'auto', 'auto', 'fp16')
        assert executor.backend == 'onnxruntime'
        assert 'ONNX Runtime on the CPU' in executor.describe()['chosen_because']
        assert 'backend auto: onnxruntime on cpu fp32' in caplog.text
        # precision auto: fp32 on the CPU for every backend, int8 only when asked for.
        for backend in ('auto', 'onnxruntime', 'torch'):
            assert create_executor(light, backend, 'cpu', 'auto').precision == 'fp32', backend
        torch_result = create_pipeline(light)(_image(), return_maps=True)
        auto_result = create_pipeline(light, 'auto')(_image(), return_maps=True)
        assert_raw_close(auto_result.maps['raw_score'], torch_result.maps['raw_score'],
                         rel=1e-4)
    finally:
        for stage in light.spec.stage_inputs():
            light.onnx_path(stage).unlink()


def test_backend_errors_say_what_to_do(light):
    if not tensorrt_available():
        with pytest.raises(BackendError, match='onnxruntime or torch'):
            create_executor(light, 'tensorrt', 'cuda', 'fp16')
    with pytest.raises(BackendError, match='applies to the torch backend only'):
        create_executor(light, 'onnxruntime', compile_mode='inductor')
    with pytest.raises(BackendError, match='compile mode .* is unknown'):
        create_executor(light, 'torch', compile_mode='xla')
    with pytest.raises(BackendError, match='needs a CUDA device'):
        create_executor(light, 'torch', 'cpu', compile_mode='torch_tensorrt')
    with pytest.raises(BackendError, match='unknown backend'):
        create_executor(light, 'openvino')


def test_int8_calibration_records_every_stage_input(light):
    images = [_image(seed=s) for s in range(3)] + [_image(480, 640, seed=4)]
    recorded = collect_stage_inputs(light, images)
    shapes = light.spec.stage_inputs()
    assert list(recorded) == list(shapes)
    for stage, batches in recorded.items():
        assert len(batches) == len(images)
        for batch in batches:
            assert list(batch) == list(GRAPH_IO[stage][0])
            for name, value in batch.items():
                assert value.shape == tuple(shapes[stage][name]), (stage, name)
    ids = recorded['synthesis'][0]['train_ids']
    assert ids.dtype == np.uint8 and ids.max() < 19
    assert not np.array_equal(recorded['segmentation'][0]['image'],
                              recorded['segmentation'][1]['image'])


def test_calibration_images_from_folder_or_list(tmp_path):
    folder = tmp_path / 'calib'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'{i}.png'), np.full((8, 16, 3), (10 * i, 0, 255), np.uint8))
    images = load_calibration_images(folder)
    assert len(images) == 3 and images[0].shape == (8, 16, 3)
    assert images[0][0, 0].tolist() == [255, 0, 0]  # BGR on disk -> RGB
    listing = tmp_path / 'list.txt'
    listing.write_text(f'# two images\n{folder / "0.png"}\n{folder / "2.png"}\n')
    assert len(load_calibration_images(listing)) == 2
    with pytest.raises(CalibrationError, match='no such folder'):
        load_calibration_images(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(CalibrationError, match='no calibration images'):
        load_calibration_images(tmp_path / 'empty')
    (folder / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(CalibrationError, match='bad.png: cannot read'):
        load_calibration_images(folder)


def test_export_cli_tensorrt_errors_are_one_line(light, tmp_path, capsys):
    assert main(['export', '--bundle', str(light.path), '--build-only']) == 2
    assert '--build-only goes with --tensorrt or --int8' in capsys.readouterr().err
    if tensorrt_available():
        return
    code = main(['export', '--bundle', str(light.path), '--tensorrt', '--build-only'])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert 'TensorRT' in err or 'tensorrt' in err
    assert not (light.path / 'engines').exists()


@pytest.mark.slow
def test_torch_compile_matches_eager(tmp_path):
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'pebal', input_size=(64, 128))
    eager = create_pipeline(bundle)
    compiled = create_pipeline(bundle, compile_mode='inductor')
    assert compiled.executor.describe()['compile'] == 'inductor'
    assert all(isinstance(g, torch._dynamo.eval_frame.OptimizedModule)
               for g in compiled.executor._graphs.values())
    image = _image()
    expected, got = eager(image, return_maps=True), compiled(image, return_maps=True)
    assert_raw_close(got.maps['raw_score'], expected.maps['raw_score'], rel=1e-4)
    assert np.mean(got.train_ids != expected.train_ids) < 1e-3
