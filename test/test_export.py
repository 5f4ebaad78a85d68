# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export of every stage graph and the ONNX Runtime executor against PyTorch."""

from pathlib import Path
import shutil
import subprocess
import sys

from conftest import assert_raw_close, assert_varies, make_random_bundle
import numpy as np
import onnx
import pixel_anomaly_ros
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.export.onnx_export import allowed_op_types, export_bundle, ExportError
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.runtime import BackendError, create_executor
import pytest

PACKAGE_DIR = str(Path(pixel_anomaly_ros.__file__).parent)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp('exported')
    bundles = {}
    for preset in ('light_tiny', 'pebal_tiny', 'pebal_icnet_tiny'):
        bundle = make_random_bundle(preset, root / preset, seed=3)
        bundles[preset] = (bundle, export_bundle(bundle, progress=False))
    return bundles


@pytest.mark.parametrize('preset', ['light_tiny', 'pebal_tiny', 'pebal_icnet_tiny'])
def test_every_stage_exports_checks_and_matches(exported, preset):
    bundle, results = exported[preset]
    assert [r.stage for r in results] == list(bundle.spec.stage_inputs())
    allowed = allowed_op_types()
    for result in results:
        model = onnx.load(str(result.path))
        onnx.checker.check_model(model)
        assert {n.op_type for n in model.graph.node} <= allowed
        # No exporter debugging metadata: stack traces would carry this checkout's paths.
        assert not [n.name for n in model.graph.node if n.metadata_props]
        assert PACKAGE_DIR.encode() not in result.path.read_bytes()
        assert not list(bundle.path.glob('*.onnx.data')), 'graphs must be self-contained'
        for name, diff in result.max_abs_diff.items():
            assert diff <= (1e-4 if name == 'score' else 1e-3), (result.stage, name)


@pytest.mark.parametrize('preset', ['light_tiny', 'pebal_tiny', 'pebal_icnet_tiny'])
def test_onnxruntime_pipeline_matches_torch(exported, preset):
    bundle = exported[preset][0]
    image = np.random.default_rng(1).integers(0, 256, (150, 310, 3), dtype=np.uint8)
    torch_result = create_pipeline(bundle)(image, return_maps=True)
    ort_pipeline = create_pipeline(bundle, backend='onnxruntime')
    ort_result = ort_pipeline(image, return_maps=True)
    assert list(ort_result.timings_ms) == list(torch_result.timings_ms)
    assert_varies(torch_result.maps['raw_score'], torch_result.score)
    # Measured: up to 8e-6 of the raw magnitude (Light), 4e-7 (PEBAL).
    assert_raw_close(ort_result.maps['raw_score'], torch_result.maps['raw_score'], rel=1e-4)
    assert np.mean(ort_result.train_ids != torch_result.train_ids) < 1e-3
    if preset == 'light_tiny':
        ort_pipeline.set_ensemble_weights([0, 1, 0, 0])  # weights are a graph input
        only_entropy = ort_pipeline(image, return_maps=True)
        assert_varies(only_entropy.maps['raw_score'])
        np.testing.assert_allclose(only_entropy.maps['raw_score'],
                                   only_entropy.maps['entropy'][1::2, 1::2], atol=1e-6)


def test_missing_or_corrupt_graph_says_what_to_do(exported, tmp_path):
    bundle = exported['pebal_tiny'][0]
    copy = tmp_path / 'copy'
    shutil.copytree(bundle.path, copy)
    (copy / 'energy.onnx').unlink()
    with pytest.raises(BackendError, match='pixel-anomaly export'):
        create_executor(load_bundle(copy), backend='onnxruntime')
    (copy / 'energy.onnx').write_bytes(b'\x08garbage')
    with pytest.raises(BackendError, match='cannot load it'):
        create_executor(load_bundle(copy), backend='onnxruntime')
    with pytest.raises(BackendError, match='fp32'):
        create_executor(bundle, backend='onnxruntime', precision='fp16')


def test_failed_export_leaves_previous_graph(tmp_path, monkeypatch):
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'b')
    export_bundle(bundle, progress=False)
    before = (bundle.path / 'energy.onnx').read_bytes()
    monkeypatch.setattr('pixel_anomaly_ros.export.onnx_export.allowed_op_types', lambda: {'Conv'})
    with pytest.raises(ExportError, match='not on the TensorRT allow-list'):
        export_bundle(bundle, progress=False)
    assert (bundle.path / 'energy.onnx').read_bytes() == before
    assert sorted(p.name for p in bundle.path.iterdir()) == [
        'bundle.yaml', 'energy.onnx', 'weights.safetensors']
    with pytest.raises(ExportError, match='opset'):
        export_bundle(bundle, opset=17, progress=False)


def test_cli_export(tmp_path, capsys):
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'b')
    # A fresh process: the exporter's registry warns about torchvision once per process.
    done = subprocess.run([sys.executable, '-m', 'pixel_anomaly_ros.cli', 'export', '--bundle',
                           str(bundle.path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'energy.onnx' in done.stdout
    assert done.stderr == '', 'export should print no warnings'
    assert main(['export', '--bundle', str(tmp_path / 'none')]) == 2
    assert 'bundle directory not found' in capsys.readouterr().err
