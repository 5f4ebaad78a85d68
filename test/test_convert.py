# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``convert``: official-layout checkpoints (random values) -> bundle -> identical networks.

The files are written the way the official projects write them (DataParallel ``module.``
prefixes, ``state_dict``/``model`` nesting, NVIDIA's criterion weight, spectral-norm triplets,
old files without ``num_batches_tracked``); the converted networks must compute exactly what
the same networks loaded directly from those files compute.
"""

import argparse

from conftest import assert_varies
import numpy as np
from pixel_anomaly_ros.bench.random_bundle import randomise_batchnorm
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.checkpoints import CheckpointError
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.convert import convert_pebal, convert_synboost_light
from pixel_anomaly_ros.networks import create_network
from pixel_anomaly_ros.pipelines import PIPELINES
from pixel_anomaly_ros.runtime.torch_executor import TorchExecutor
from pixel_anomaly_ros.stages.graphs import build_networks, build_stage_graphs
import pytest
import torch


def _official_network(builder, seed, **kwargs):
    torch.manual_seed(seed)
    network = create_network(builder, **kwargs)
    randomise_batchnorm(network)
    with torch.no_grad():
        for name, buffer in network.named_buffers():
            if name.endswith(('weight_u', 'weight_v')):
                buffer.normal_()  # stored power-iteration vectors, as in a trained file
    return network.eval()


def _write_light_files(tmp_path, tiny):
    suffix = '_tiny' if tiny else ''
    nets = {
        'segmentation': _official_network('icnet' + ('_tiny' if tiny else '_r50'), 1),
        'synthesis': _official_network('spade' + ('_tiny' if tiny else '_cityscapes'), 2,
                                       spectral_norm=True),
        'perceptual': _official_network('vgg19_difference' + suffix, 3),
        'dissimilarity': _official_network('dissim_prior' + suffix, 4),
    }
    files = {c: tmp_path / f'{c}.pth' for c in nets}
    icnet = {'module.' + k: v for k, v in nets['segmentation'].state_dict().items()}
    torch.save({'state_dict': icnet, 'epoch': 120}, files['segmentation'])
    spade = {k: v for k, v in nets['synthesis'].state_dict().items()
             if not k.endswith('num_batches_tracked')}  # a 2019 file
    torch.save(spade, files['synthesis'])
    vgg = dict(nets['perceptual'].state_dict())
    vgg['classifier.0.weight'] = torch.zeros(4, 4)  # torchvision's full VGG19
    torch.save(vgg, files['perceptual'])
    torch.save(nets['dissimilarity'].state_dict(), files['dissimilarity'])
    return nets, files


def _pipeline(spec, networks):
    return PIPELINES[spec.variant](spec, TorchExecutor(build_stage_graphs(spec, networks)))


def _assert_same_pipeline_output(bundle, direct_networks, size):
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    converted = _pipeline(bundle.spec, build_networks(bundle.spec,
                                                      bundle.component_state_dicts()))
    direct = _pipeline(bundle.spec, direct_networks)
    a, b = converted(image, return_maps=True), direct(image, return_maps=True)
    assert_varies(b.maps['raw_score'])
    np.testing.assert_allclose(a.maps['raw_score'], b.maps['raw_score'], atol=1e-5)
    np.testing.assert_array_equal(a.train_ids, b.train_ids)
    return a


def test_light_tiny_round_trip(tmp_path):
    nets, files = _write_light_files(tmp_path, tiny=True)
    bundle = convert_synboost_light(tmp_path / 'bundle', files['segmentation'],
                                    files['synthesis'], files['perceptual'],
                                    files['dissimilarity'], preset='light_tiny')
    bundle = load_bundle(bundle.path)
    assert [s['component'] for s in bundle.spec.provenance['sources']] == list(files)
    assert not any('weight_orig' in k for k in bundle.component_state_dicts()['synthesis'])
    # The direct synthesis network is un-folded: spectral norm computed on the fly.
    assert any('weight_orig' in k for k in nets['synthesis'].state_dict())
    result = _assert_same_pipeline_output(bundle, nets, (128, 256))
    assert result.maps['synthesis'].std() > 0


@pytest.mark.slow
def test_light_full_size_round_trip(tmp_path):
    nets, files = _write_light_files(tmp_path, tiny=False)
    bundle = convert_synboost_light(tmp_path / 'bundle', files['segmentation'],
                                    files['synthesis'], files['perceptual'],
                                    files['dissimilarity'], input_size=(128, 256))
    spec = bundle.spec
    spec.synthesis_size = (64, 128)  # small enough for a CPU test, same code path
    folded = build_networks(spec, bundle.component_state_dicts())
    x = torch.randn(1, 36, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(folded['synthesis'](x), nets['synthesis'](x),
                                   atol=2e-5, rtol=1e-4)
        image = torch.randn(1, 3, 128, 256)
        torch.testing.assert_close(folded['segmentation'](image),
                                   nets['segmentation'](image))


def _write_pebal_file(path, tiny, layout):
    builder = ('pebal_wrn38' if layout == 'pebal' else 'deepwv3plus') + ('_tiny' if tiny else '')
    network = _official_network(builder, 5)
    state = network.state_dict()
    if layout == 'pebal':
        torch.save({'model': state, 'optimizer': {}, 'epoch': 40}, path)
    else:
        state = {'module.' + k: v for k, v in state.items()}
        state['module.criterion.nll_loss.weight'] = torch.ones(19)
        torch.save({'state_dict': state, 'epoch': 175}, path)
    return network


@pytest.mark.parametrize('layout, builder', [('pebal', 'pebal_wrn38_tiny'),
                                             ('nvidia', 'deepwv3plus_tiny')])
def test_pebal_round_trip(tmp_path, layout, builder):
    network = _write_pebal_file(tmp_path / 'ckpt.pth', tiny=True, layout=layout)
    bundle = load_bundle(convert_pebal(tmp_path / 'b', tmp_path / 'ckpt.pth', tiny=True).path)
    assert bundle.spec.networks['segmentation'].builder == builder
    _assert_same_pipeline_output(bundle, {'segmentation': network}, (128, 256))


def test_pickles_need_explicit_trust(tmp_path):
    network = _official_network('pebal_wrn38_tiny', 6)
    path = tmp_path / 'with_args.pth'
    torch.save({'model': network.state_dict(), 'args': argparse.Namespace(lr=1e-5)}, path)
    with pytest.raises(CheckpointError, match='--trust-pickle') as info:
        convert_pebal(tmp_path / 'b', path, tiny=True)
    assert str(path) in str(info.value)
    assert not (tmp_path / 'b').exists()
    convert_pebal(tmp_path / 'b', path, tiny=True, trust_pickle=True)
    assert (tmp_path / 'b' / 'weights.safetensors').is_file()


def test_wrong_file_names_file_format_and_keys(tmp_path):
    nets, files = _write_light_files(tmp_path, tiny=True)
    with pytest.raises(CheckpointError) as info:
        convert_synboost_light(tmp_path / 'bundle', files['dissimilarity'],
                               files['synthesis'], files['perceptual'],
                               files['dissimilarity'], preset='light_tiny')
    message = str(info.value)
    assert str(files['dissimilarity']) in message
    assert 'Fast_Seg ICNet' in message
    assert 'missing: conv_sub1.0.conv.weight' in message and 'unexpected: vgg_encoder' in message
    assert not (tmp_path / 'bundle').exists()


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    rc = main(['convert', 'pebal', '--checkpoint', str(tmp_path / 'nope.pth'),
               '--out', str(tmp_path / 'b')])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count('\n') == 0
    assert 'nope.pth: file not found' in err
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    assert main(['convert', 'pebal', '--checkpoint', str(tmp_path / 'junk.pth'),
                 '--out', str(tmp_path / 'b')]) == 2
    assert 'not a readable PyTorch checkpoint' in capsys.readouterr().err


def test_cli_convert_writes_a_bundle(tmp_path, capsys):
    _write_pebal_file(tmp_path / 'ckpt.pth', tiny=True, layout='pebal')
    rc = main(['convert', 'pebal', '--checkpoint', str(tmp_path / 'ckpt.pth'), '--tiny',
               '--input-size', '256x128', '--out', str(tmp_path / 'b'), '--name', 'mine'])
    assert rc == 0, capsys.readouterr().err
    spec = load_bundle(tmp_path / 'b').spec
    assert spec.name == 'mine' and spec.input_size == (128, 256)
    assert spec.networks['segmentation'].builder == 'pebal_wrn38_tiny'
    assert spec.provenance['sources'][0]['file'] == 'ckpt.pth'
    assert 'wrote' in capsys.readouterr().out
