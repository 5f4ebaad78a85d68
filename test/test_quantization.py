# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""INT8 graphs for ONNX Runtime on the CPU: what is quantised, staleness, atomicity, accuracy."""

from pathlib import Path
import shutil

from conftest import assert_raw_tracks, assert_varies, make_random_bundle
import cv2
import numpy as np
import onnx
from pixel_anomaly_ros.bundle import INT8_SOURCE_KEY, load_bundle, sha256_file
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.evaluation.evaluate import evaluate
from pixel_anomaly_ros.export import quantization
from pixel_anomaly_ros.export.int8_calibration import load_calibration_images
from pixel_anomaly_ros.export.onnx_export import export_bundle
from pixel_anomaly_ros.export.quantization import QuantizationError, quantize_bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.runtime import BackendError, choose_backend, create_executor
from pixel_anomaly_ros.synthetic.writer import generate
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _images(count, h=64, w=128):
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(scope='module')
def light(tmp_path_factory):
    """Return a tiny Light bundle at 64x128 with fp32 and int8 graphs."""
    bundle = make_random_bundle('light_tiny', tmp_path_factory.mktemp('q') / 'light',
                                input_size=(64, 128))
    export_bundle(bundle, progress=False)
    quantize_bundle(bundle, _images(3), progress=False)
    return bundle


@pytest.mark.parametrize('kind', ['int8', 'tensorrt-int8'])
def test_int8_graphs_quantise_the_convolutions_and_keep_the_scores_fp32(light, kind):
    for stage in light.spec.stage_inputs():
        model = onnx.load(str(light.onnx_path(stage, kind)))
        producers = {out: node.op_type for node in model.graph.node for out in node.output}
        convs = [n for n in model.graph.node if n.op_type == 'Conv']
        assert convs, stage
        # Every convolution reads dequantised int8 weights and activations.
        for conv in convs:
            assert producers.get(conv.input[0]) == 'DequantizeLinear', (stage, conv.name)
            assert producers.get(conv.input[1]) == 'DequantizeLinear', (stage, conv.name)
        # The graph outputs are not quantised: they come from fp32 operators.
        for output in model.graph.output:
            assert producers[output.name] not in ('DequantizeLinear', 'QuantizeLinear')
        metadata = {p.key: p.value for p in model.metadata_props}
        assert metadata[INT8_SOURCE_KEY] == sha256_file(light.onnx_path(stage))
    assert not list(light.path.glob('.quantize-*'))


def test_tensorrt_int8_graphs_are_symmetric_and_come_from_the_same_calibration(light):
    from onnx import numpy_helper

    from pixel_anomaly_ros.runtime.tensorrt_engines import engine_graph
    for stage in light.spec.stage_inputs():
        ranges = {}
        for kind in ('int8', 'tensorrt-int8'):
            model = onnx.load(str(light.onnx_path(stage, kind)))
            constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
            zero_points = [constants[n.input[2]] for n in model.graph.node
                           if n.op_type == 'QuantizeLinear' and len(n.input) > 2]
            ranges[kind] = zero_points
        # TensorRT's explicit quantisation needs int8 zero points of 0 on every tensor.
        assert ranges['tensorrt-int8'] and all(
            z.dtype == np.int8 and not z.any() for z in ranges['tensorrt-int8']), stage
        assert any(z.dtype == np.uint8 for z in ranges['int8']), stage
        assert engine_graph(light, stage, 'int8') == light.onnx_path(stage, 'tensorrt-int8')
        assert engine_graph(light, stage, 'fp16') == light.onnx_path(stage)


def test_int8_pipeline_runs_and_tracks_fp32(light):
    image = _images(1)[0]
    results = {}
    for precision in ('fp32', 'int8'):
        pipeline = create_pipeline(light, 'onnxruntime', 'cpu', precision)
        assert pipeline.executor.describe()['precision'] == precision
        results[precision] = pipeline(image, return_maps=True)
    assert_varies(results['fp32'].maps['raw_score'], results['fp32'].score)
    fp32, int8 = results['fp32'].maps['raw_score'], results['int8'].maps['raw_score']
    assert int8.shape == fp32.shape and np.isfinite(int8).all()
    assert not np.array_equal(int8, fp32)  # really the quantised graphs
    # Random weights: int8 noise flips about 2 % of the train ids, which changes the random
    # SPADE synthesis there; measured correlation 0.82-0.93 over seeds 0-2 (0.998 for PEBAL).
    assert_raw_tracks(int8, fp32, rel_mean=0.15, min_correlation=0.7)
    assert_raw_tracks(results['int8'].maps['entropy'], results['fp32'].maps['entropy'],
                      rel_mean=0.05, min_correlation=0.98)


def test_stale_missing_and_gpu_int8_graphs_are_refused(light, tmp_path):
    copy = load_bundle(shutil.copytree(light.path, tmp_path / 'copy'))
    with pytest.raises(BackendError, match='int8 on a GPU|tensorrt backend for fp16 or int8'):
        create_executor(copy, 'onnxruntime', 'cuda', 'int8')
    # Re-exporting the fp32 graph (here: a changed doc string) makes its int8 copy stale.
    path = copy.onnx_path('synthesis')
    model = onnx.load(str(path))
    model.doc_string = 're-exported'
    onnx.save(model, str(path))
    with pytest.raises(BackendError, match='quantised from a different synthesis.onnx.*--int8'):
        create_executor(copy, 'onnxruntime', 'cpu', 'int8')
    copy.onnx_path('segmentation', 'int8').unlink()
    with pytest.raises(BackendError,
                       match='segmentation.int8.onnx: missing; run `pixel-anomaly export'):
        create_executor(copy, 'onnxruntime', 'cpu', 'int8')
    if not torch.cuda.is_available():
        assert choose_backend(copy, 'cpu', 'int8')[:3] == ('onnxruntime', 'cpu', 'fp32')
        assert choose_backend(light, 'cpu', 'int8')[:3] == ('onnxruntime', 'cpu', 'int8')


def test_failed_quantisation_leaves_the_previous_graph(light, tmp_path, monkeypatch):
    copy = load_bundle(shutil.copytree(light.path, tmp_path / 'copy'))
    before = copy.onnx_path('segmentation', 'int8').read_bytes()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(quantization, 'compare_with_fp32', interrupted)
    with pytest.raises(KeyboardInterrupt):
        quantize_bundle(copy, _images(1), progress=False)
    assert copy.onnx_path('segmentation', 'int8').read_bytes() == before
    assert not list(copy.path.glob('.quantize-*'))
    with pytest.raises(QuantizationError, match='needs calibration images'):
        quantize_bundle(copy, [], progress=False)
    copy.onnx_path('synthesis').unlink()
    with pytest.raises(QuantizationError, match='synthesis.onnx: missing; export'):
        quantize_bundle(copy, _images(1), progress=False)


def test_export_cli_int8_options(light, tmp_path, capsys):
    assert main(['export', '--bundle', str(light.path), '--int8']) == 2
    assert 'need --calibration' in capsys.readouterr().err
    assert main(['export', '--bundle', str(light.path), '--calibration', str(tmp_path)]) == 2
    assert '--calibration goes with --int8' in capsys.readouterr().err
    copy = shutil.copytree(light.path, tmp_path / 'copy')
    for stage in light.spec.stage_inputs():
        (copy / f'{stage}.int8.onnx').unlink()
    folder = tmp_path / 'camera'
    folder.mkdir()
    for i, image in enumerate(_images(3, 48, 96)):
        cv2.imwrite(str(folder / f'{i}.png'), image)
    assert main(['export', '--bundle', str(copy), '--int8', '--build-only', '--calibration',
                 str(folder), '--calibration-limit', '2']) == 0
    out = capsys.readouterr().out
    assert 'on 2 calibration images' in out and 'segmentation.int8.onnx' in out
    assert all((copy / f'{s}.int8.onnx').is_file() for s in light.spec.stage_inputs())


def test_calibration_images_are_spread_over_the_list(tmp_path):
    for i in range(5):
        cv2.imwrite(str(tmp_path / f'{i}.png'), np.full((4, 4, 3), 10 * i, np.uint8))
    values = [int(image[0, 0, 0]) for image in load_calibration_images(tmp_path, limit=3)]
    assert values == [0, 20, 40]


@pytest.mark.parametrize('name', ['demo_pebal', 'demo_light'])
def test_int8_demo_bundle_finds_the_anomalies_as_well_as_fp32(name, tmp_path_factory):
    """Quantise a trained bundle on seed-0 streets, evaluate on held-out seed-1 scenes."""
    root = tmp_path_factory.getbasetemp() / 'int8_world'
    if not root.exists():
        generate(root / 'calibration', seed=0, train=8, val=0, anomalies=0, size=(256, 512),
                 progress=False)
        generate(root / 'test', seed=1, train=0, val=0, anomalies=8, size=(256, 512),
                 progress=False)
    bundle = load_bundle(shutil.copytree(ROOT / 'models' / name, tmp_path_factory.mktemp(name)
                                         / name))
    streets = root / 'calibration' / 'cityscapes' / 'leftImg8bit'
    quantize_bundle(bundle, load_calibration_images(streets), progress=False)
    metrics = {}
    for precision in ('fp32', 'int8'):
        result = evaluate(bundle, 'folder', root / 'test' / 'anomaly', backend='onnxruntime',
                          precision=precision, progress=False)
        metrics[precision] = result.pixel['bundle']
    fp32, int8 = metrics['fp32'], metrics['int8']
    assert int8.ap >= 0.8 * fp32.ap, (int8.ap, fp32.ap)
    assert int8.auroc >= fp32.auroc - 0.02, (int8.auroc, fp32.auroc)
    assert int8.auroc > 0.7
