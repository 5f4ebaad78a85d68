# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The GPU path's logic, checked on the CPU.

fp16-safe scoring, TensorRT-safe casts, device indices, cache-first INT8 engines, ONNX Runtime
providers, the image upload path and ``make gpu-check`` without a GPU.

What only a GPU can show is in ``test_cuda.py`` and ``test_tensorrt.py`` (marked ``gpu``).
"""

import os
from pathlib import Path
import subprocess
import sys

from conftest import make_random_bundle
import numpy as np
import onnx
from pixel_anomaly_ros import scoring
from pixel_anomaly_ros.export.onnx_export import export_bundle
from pixel_anomaly_ros.runtime import create_executor
from pixel_anomaly_ros.runtime.base import BackendError, parse_device
from pixel_anomaly_ros.runtime.engine_cache import EngineCache, EngineKey
from pixel_anomaly_ros.runtime.onnxruntime_executor import execution_providers
from pixel_anomaly_ros.runtime.stage_timing import StageTimer
from pixel_anomaly_ros.runtime.tensorrt_engines import engine_graph
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_normalisations_are_finite_on_flat_maps_in_half_precision():
    flat = torch.full((1, 1, 8, 8), 0.25, dtype=torch.float16)
    for normalise in (scoring.normalise_like_synboost, scoring.min_max_normalise):
        assert torch.isfinite(normalise(flat)).all(), normalise.__name__
        assert torch.isfinite(normalise(torch.zeros_like(flat))).all(), normalise.__name__
    # 1e-12, the epsilon before, is 0 in half precision: 0 / 0 = NaN on a flat map.
    assert torch.tensor(1e-12, dtype=torch.float16) == 0
    assert torch.tensor(scoring.NORMALISE_EPS, dtype=torch.float16) > 0


def test_uncertainty_maps_are_finite_on_flat_logits_in_half_precision():
    logits = torch.zeros((1, 19, 8, 8), dtype=torch.float16)
    winner, entropy, distance = scoring.uncertainty_maps(logits)
    assert torch.isfinite(entropy).all() and torch.isfinite(distance).all()
    assert winner.dtype == torch.int64


def test_fp32_results_keep_their_values_with_the_fp16_safe_epsilon():
    x = torch.rand((2, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    expected = (x - x.amin(dim=(1, 2, 3), keepdim=True)) / x.amax(dim=(1, 2, 3), keepdim=True)
    assert torch.equal(scoring.normalise_like_synboost(x), expected)


@pytest.mark.parametrize('preset, stage', [('light_tiny', 'segmentation'),
                                           ('pebal_tiny', 'energy')])
def test_exported_graphs_cast_to_uint8_only_from_float(tmp_path, preset, stage):
    bundle = make_random_bundle(preset, tmp_path / preset)
    export_bundle(bundle, stages=[stage], progress=False)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(bundle.onnx_path(stage))))
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type
             for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
    to_uint8 = [node for node in graph.node if node.op_type == 'Cast' and any(
        a.name == 'to' and a.i == onnx.TensorProto.UINT8 for a in node.attribute)]
    assert to_uint8, 'the train ids are no longer cast to uint8 at all'
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    for node in to_uint8:
        assert types.get(node.input[0]) in floats, \
            f'{node.name} casts {onnx.TensorProto.DataType.Name(types.get(node.input[0], 0))} ' \
            f'to uint8; TensorRT casts to uint8 from float only'
    outputs = {o.name: o.type.tensor_type.elem_type for o in graph.output}
    assert outputs['train_ids'] == onnx.TensorProto.UINT8


def test_parse_device():
    assert parse_device('cpu') == ('cpu', None)
    assert parse_device('cuda') == ('cuda', None)
    assert parse_device('cuda:1') == ('cuda', 1)
    for bad in ('gpu', 'cuda:x', 'cpu:0', 'cuda:'):
        with pytest.raises(BackendError, match='cpu, cuda, cuda:N'):
            parse_device(bad)


def test_int8_engine_comes_from_the_cache_without_calibration(tmp_path):
    graph = tmp_path / 'bundle' / 'energy.onnx'
    graph.parent.mkdir()
    graph.write_bytes(b'graph')
    key = EngineKey.for_graph(graph, '10.13.0', 'NVIDIA H200', 'int8')
    cache = EngineCache(graph.parent)
    cache.store(key, 'energy', b'plan built by export --tensorrt --precision int8')

    def build_needs_calibration():
        raise BackendError('needs calibration')

    assert cache.get(key, 'energy', build_needs_calibration) == \
        b'plan built by export --tensorrt --precision int8'
    (graph.parent / 'engines').rename(tmp_path / 'elsewhere')
    with pytest.raises(BackendError, match='needs calibration'):
        cache.get(key, 'energy', build_needs_calibration)


def test_int8_engines_need_the_quantised_graphs_and_say_how(tmp_path):
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'pebal')
    with pytest.raises(BackendError, match='energy.onnx: missing; export the graphs'):
        engine_graph(bundle, 'energy', 'fp16')
    export_bundle(bundle, progress=False)
    assert engine_graph(bundle, 'energy', 'fp16') == bundle.onnx_path('energy')
    with pytest.raises(BackendError, match='tensorrt-int8.onnx: missing; run `pixel-anomaly '
                                           'export --bundle .* --int8 --calibration'):
        engine_graph(bundle, 'energy', 'int8')


def test_onnxruntime_cuda_providers_name_the_device_and_skip_tensorrt():
    available = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert execution_providers('cuda:1', available) == [
        ('CUDAExecutionProvider', {'device_id': '1'}), ('CPUExecutionProvider', {})]
    assert execution_providers('cuda', available)[0] == \
        ('CUDAExecutionProvider', {'device_id': '0'})
    assert execution_providers('cpu', available) == [('CPUExecutionProvider', {})]
    with pytest.raises(BackendError, match='onnxruntime-gpu'):
        execution_providers('cuda', ['CPUExecutionProvider'])


def test_default_image_input_is_the_float_chw_buffer(tiny_bundles):
    executor = create_executor(tiny_bundles['pebal'])
    image = np.random.default_rng(0).integers(0, 256, (128, 256, 3), dtype=np.uint8)
    value = executor.image_input(image)
    assert value.dtype == torch.float32 and tuple(value.shape) == (1, 3, 128, 256)
    np.testing.assert_array_equal(value[0].numpy(), image.transpose(2, 0, 1))
    again = executor.image_input(image[::-1].copy())
    assert again.data_ptr() == value.data_ptr()  # one buffer, reused frame after frame
    assert isinstance(executor.stage_timer(), StageTimer)


def test_cuda_only_options_are_refused_on_the_cpu(tiny_bundles):
    with pytest.raises(BackendError, match='cuda_graphs needs a CUDA device'):
        create_executor(tiny_bundles['pebal'], 'torch', 'cpu', cuda_graphs=True)
    with pytest.raises(BackendError, match='cuda_graphs applies to the torch backend only'):
        create_executor(tiny_bundles['pebal'], 'onnxruntime', 'cpu', cuda_graphs=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the machine without a GPU')
def test_gpu_check_without_cuda_prints_one_line_and_succeeds():
    done = subprocess.run([sys.executable, '-m', 'pixel_anomaly_ros.bench.gpu_check'],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and 'no CUDA GPU' in lines[0], done.stdout
