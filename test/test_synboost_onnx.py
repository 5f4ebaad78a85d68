# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SynBoost around your own ONNX segmentation, and the official 8-bit round trips.

``convert synboost_light --segmentation-onnx``: a 19-class model (random weights, exported in
the test) replaces ICNet; synthesis, perceptual difference and dissimilarity (official-layout
tiny checkpoints) run on its predictions and uncertainty maps. Bundles converted from official
SynBoost checkpoints truncate the dissimilarity inputs to 8 bits as the official code does.
"""

import numpy as np
import onnx
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.presets import preset_spec
from pixel_anomaly_ros.runtime import BackendError
from pixel_anomaly_ros.stages.graphs import (build_networks, build_stage_graphs,
                                             DissimilarityGraph, resize_nearest_exact)
import pytest
import scorer_reference as reference
from test_convert import _write_light_files
from test_segmentation_onnx import export_model, raw_logits
import torch

SIZE = (64, 128)


@pytest.fixture(scope='module')
def light(tmp_path_factory):
    """Convert and export (CLI) a SynBoost bundle around a 19-class ONNX model."""
    root = tmp_path_factory.mktemp('synboost_onnx')
    _, files = _write_light_files(root, tiny=True)
    model = export_model(root / 'seg19.onnx', 19, 17, 1, False, seed=5)
    out = root / 'bundle'
    assert main(['convert', 'synboost_light', '--segmentation-onnx', str(model),
                 '--synthesis', str(files['synthesis']), '--perceptual', str(files['perceptual']),
                 '--dissimilarity', str(files['dissimilarity']), '--tiny', '--out',
                 str(out)]) == 0
    assert main(['export', '--bundle', str(out)]) == 0
    return load_bundle(out), model


def test_the_segmentation_outputs_are_the_onnx_models(light):
    bundle, model = light
    spec = bundle.spec
    assert spec.variant == 'synboost_light' and spec.external is not None
    assert sorted(spec.networks) == ['dissimilarity', 'perceptual', 'synthesis']
    assert spec.uint8_round_trips and spec.num_classes == 19
    assert sorted(p.name for p in bundle.path.iterdir()) == [
        'bundle.yaml', 'dissimilarity.onnx', 'network.onnx', 'segmentation.onnx',
        'synthesis.onnx', 'weights.safetensors']
    image = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    result = create_pipeline(bundle, 'auto')(image, return_maps=True)
    logits = raw_logits(spec, model, image)
    entropy, distance = reference.uncertainty_maps(logits)
    assert np.array_equal(result.train_ids, logits.argmax(axis=0))
    assert len(np.unique(result.train_ids)) >= 5
    assert np.abs(result.maps['entropy'] - entropy).max() <= 1e-5
    assert np.abs(result.maps['distance'] - distance).max() <= 1e-5
    assert list(result.timings_ms) == ['preprocess', 'segmentation', 'synthesis',
                                       'dissimilarity', 'postprocess']


def test_synthesis_and_dissimilarity_run_on_its_predictions(light):
    bundle, _ = light
    spec = bundle.spec
    image = np.random.default_rng(1).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    executor = create_pipeline(bundle, 'onnxruntime').executor
    x = image.transpose(2, 0, 1)[None].astype(np.float32)
    seg = executor.run('segmentation', {'image': x})
    syn = executor.run('synthesis', {'train_ids': seg['train_ids']})
    weights = np.asarray(spec.ensemble_weights(), np.float32)
    got = executor.run('dissimilarity', {'image': x, 'synthesis': syn['synthesis'],
                                         'train_ids': seg['train_ids'], 'entropy': seg['entropy'],
                                         'distance': seg['distance'], 'weights': weights})
    # The same torch stage graphs fed with the ONNX model's predictions and maps.
    graphs = build_stage_graphs(spec, build_networks(spec, bundle.component_state_dicts()))
    assert sorted(graphs) == ['dissimilarity', 'synthesis']
    with torch.inference_mode():
        synthesis = graphs['synthesis'](torch.from_numpy(seg['train_ids']))
        score = graphs['dissimilarity'](torch.from_numpy(x), torch.from_numpy(syn['synthesis']),
                                        torch.from_numpy(seg['train_ids']),
                                        torch.from_numpy(seg['entropy']),
                                        torch.from_numpy(seg['distance']),
                                        torch.from_numpy(weights))[0]
    np.testing.assert_allclose(syn['synthesis'], synthesis.numpy(), atol=1e-4)
    # The 8-bit round trips turn 1e-6 backend differences at a rounding edge into 1/255 steps
    # of a map: a few pixels move, the rest agree to 1e-4.
    differs = np.abs(got['score'] - score.numpy()) > 1e-4
    assert differs.mean() < 0.02, f'{differs.mean():.2%} of the scores differ'
    perceptual = got['perceptual'] * 255
    assert np.abs(perceptual - np.round(perceptual)).max() < 1e-3  # the 8-bit round trip
    ops = {n.op_type for n in onnx.load(str(bundle.onnx_path('dissimilarity'))).graph.node}
    assert 'Floor' in ops


def test_torch_is_refused_for_it(light):
    with pytest.raises(BackendError, match='segmentation is an ONNX model'):
        create_pipeline(light[0], 'torch')


def test_official_conversions_set_the_8_bit_flag_unless_told_not_to(tmp_path):
    _, files = _write_light_files(tmp_path, tiny=True)
    args = ['convert', 'synboost_light', '--tiny'] + [
        a for c in ('segmentation', 'synthesis', 'perceptual', 'dissimilarity')
        for a in (f'--{c}', str(files[c]))]
    assert main(args + ['--out', str(tmp_path / 'on')]) == 0
    assert main(args + ['--out', str(tmp_path / 'off'), '--no-uint8-round-trips']) == 0
    assert load_bundle(tmp_path / 'on').spec.uint8_round_trips
    assert not load_bundle(tmp_path / 'off').spec.uint8_round_trips
    assert 'uint8_round_trips' not in (tmp_path / 'off' / 'bundle.yaml').read_text()


def _dissimilarity_inputs(graph, flag):
    """Run a DissimilarityGraph and capture what its dissimilarity network reads."""
    captured = {}

    def hook(module, args):
        captured.update(zip(('original', 'synthesis', 'semantic', 'entropy', 'perceptual',
                             'distance'), args))
    handle = graph.dissimilarity.register_forward_pre_hook(hook)
    generator = torch.Generator().manual_seed(0)
    h, w = SIZE
    inputs = (torch.rand(1, 3, h, w, generator=generator) * 255,
              torch.rand(1, 3, h, w, generator=generator),
              torch.randint(0, 19, (1, 1, h, w), generator=generator, dtype=torch.uint8),
              torch.rand(1, 1, h, w, generator=generator),
              torch.rand(1, 1, h, w, generator=generator),
              torch.tensor([0.75, 0.25, 0.0, 0.0]))
    with torch.inference_mode():
        outputs = graph(*inputs)
    handle.remove()
    return inputs, captured, outputs


@pytest.mark.parametrize('flag', [False, True])
def test_uint8_round_trips_make_the_maps_multiples_of_1_255(flag):
    spec = preset_spec('light_tiny')
    spec.synthesis_size = SIZE
    networks = build_networks(spec)
    torch.manual_seed(0)
    graph = DissimilarityGraph(networks['dissimilarity'], networks['perceptual'], SIZE, 19,
                               uint8_round_trips=flag).eval()
    inputs, seen, (score, p_anomaly, perceptual) = _dissimilarity_inputs(graph, flag)
    _, synthesis, _, entropy, distance, _ = inputs
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    resynthesis = seen['synthesis'] * std + mean  # back to 0..255 units

    def eighths(x):  # how far x * 255 is from whole numbers
        return float((x * 255 - torch.round(x * 255)).abs().max())
    if flag:
        for name in ('entropy', 'distance', 'perceptual'):
            assert eighths(seen[name]) < 1e-4, name
        assert float((resynthesis - torch.round(resynthesis)).abs().max()) < 1e-3
        assert eighths(perceptual) < 1e-4
        np.testing.assert_array_equal(seen['entropy'], torch.floor(entropy * 255) / 255)
    else:
        # Unchanged: the maps reach the network exactly as they came in.
        assert torch.equal(seen['entropy'], resize_nearest_exact(entropy, SIZE))
        assert torch.equal(seen['distance'], resize_nearest_exact(distance, SIZE))
        assert eighths(seen['entropy']) > 0.1 and eighths(perceptual) > 0.1
        torch.testing.assert_close(resynthesis / 255, synthesis, atol=1e-5, rtol=0)
        default = DissimilarityGraph(networks['dissimilarity'], networks['perceptual'], SIZE,
                                     19).eval()
        assert torch.equal(_dissimilarity_inputs(default, flag)[2][0], score)


def test_synboost_refuses_a_model_without_the_19_classes(tmp_path, capsys):
    _, files = _write_light_files(tmp_path, tiny=True)
    model = export_model(tmp_path / 'seg7.onnx', 7, 17, 1, False)
    args = ['convert', 'synboost_light', '--synthesis', str(files['synthesis']),
            '--perceptual', str(files['perceptual']), '--dissimilarity',
            str(files['dissimilarity']), '--tiny', '--out', str(tmp_path / 'out')]
    assert main(args + ['--segmentation-onnx', str(model)]) == 2
    assert '7 classes, but the class count given is 19' in capsys.readouterr().err
    assert main(args + ['--segmentation-onnx', str(model), '--segmentation',
                        str(files['segmentation'])]) == 2
    assert 'not both' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
