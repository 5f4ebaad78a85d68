# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Model bundle: round trip, validation errors that name the file, atomic writes."""

from conftest import make_random_bundle
from pixel_anomaly_ros.bundle import BundleError, load_bundle
from pixel_anomaly_ros.bundle_writer import write_bundle
from pixel_anomaly_ros.presets import list_presets, preset_spec
from pixel_anomaly_ros.stages.graphs import build_networks
import pytest
import torch
import yaml


def test_round_trip(tmp_path):
    written = make_random_bundle('light_tiny', tmp_path / 'b', score_hi=0.8)
    loaded = load_bundle(tmp_path / 'b' / 'bundle.yaml')
    assert loaded.spec == written.spec
    assert loaded.spec.score_hi == 0.8
    parts = loaded.component_state_dicts()
    assert sorted(parts) == ['dissimilarity', 'perceptual', 'segmentation', 'synthesis']
    doc = yaml.safe_load((tmp_path / 'b' / 'bundle.yaml').read_text())
    assert doc['stages']['run'] == ['preprocess', 'segmentation', 'synthesis',
                                    'dissimilarity', 'postprocess']
    assert doc['stages']['graph_inputs']['segmentation']['image'] == [1, 3, 128, 256]
    assert len(doc['provenance']['weights_sha256']) == 64
    # Spectral norm is folded in bundles: plain conv weights, no weight_orig/u/v triplets.
    assert not any('weight_orig' in k for k in parts['synthesis'])
    assert 'smoothing' not in doc['score'] and loaded.spec.smoothing == 0.0  # none: not written


def test_score_smoothing_round_trip(tmp_path):
    written = make_random_bundle('pebal_tiny', tmp_path / 'b', smoothing=2.5)
    doc = yaml.safe_load((tmp_path / 'b' / 'bundle.yaml').read_text())
    assert doc['score']['smoothing'] == 2.5
    assert load_bundle(tmp_path / 'b').spec == written.spec
    assert written.spec.describe_score_mapping().startswith('Gaussian smoothing sigma 2.5 px, ')


def test_every_preset_is_valid():
    for name in list_presets():
        preset_spec(name).validate()


@pytest.mark.parametrize('change, message', [
    (lambda d: d.update(variant='nope'), 'unknown variant'),
    (lambda d: d['networks']['segmentation'].update(builder='resnet'), 'not a known network'),
    (lambda d: d['input'].update(size=[100, 256]), 'multiples of 8'),
    (lambda d: d['score'].update(lo=2.0), 'must be greater than'),
    (lambda d: d['score'].update(threshold=1.5), 'threshold'),
    (lambda d: d['score'].update(smoothing=-1.0), 'score.smoothing is a Gaussian sigma'),
    (lambda d: d['score'].update(smoothing=float('nan')), 'score.smoothing is a Gaussian sigma'),
    (lambda d: d['score'].update(smoothing=100.0), r'0 \(none\) to 16'),
    (lambda d: d.pop('networks'), 'missing or malformed'),
    (lambda d: d.update(format_version=99), 'format_version'),
    (lambda d: d.update(scroe=d.pop('score')), r'unknown key scroe \(did you mean score\?\)'),
    (lambda d: d['score'].update(treshold=d['score'].pop('threshold')),
     r'unknown key score.treshold \(did you mean threshold\?\); score holds lo, hi, threshold'),
    (lambda d: d['networks']['segmentation'].update(arg={}),
     'unknown key networks.segmentation.arg'),
    (lambda d: d['ensemble'].update(p_anomali=1.0), 'unknown key ensemble.p_anomali'),
])
def test_invalid_yaml_is_refused_with_the_file_name(tmp_path, change, message):
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'b')
    doc = yaml.safe_load((bundle.path / 'bundle.yaml').read_text())
    change(doc)
    (bundle.path / 'bundle.yaml').write_text(yaml.safe_dump(doc))
    with pytest.raises(BundleError, match=message) as info:
        load_bundle(bundle.path)
    assert 'bundle.yaml' in str(info.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(BundleError, match='not found'):
        load_bundle(tmp_path / 'nowhere')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BundleError, match='missing'):
        load_bundle(tmp_path / 'empty')
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'b')
    (bundle.path / 'weights.safetensors').write_bytes(b'\x00garbage')
    with pytest.raises(BundleError, match='weights.safetensors'):
        load_bundle(bundle.path).component_state_dicts()
    (bundle.path / 'bundle.yaml').write_text('name: [unclosed')
    with pytest.raises(BundleError, match='invalid YAML'):
        load_bundle(bundle.path)


def test_weights_that_do_not_fit_are_reported(tmp_path):
    from pixel_anomaly_ros.runtime import create_executor
    light = make_random_bundle('light_tiny', tmp_path / 'light')
    spec = preset_spec('pebal_tiny')
    # ICNet weights under a PEBAL (WideResNet) spec: same component, wrong network.
    wrong = {'segmentation': light.component_state_dicts()['segmentation']}
    bundle = write_bundle(spec, wrong, tmp_path / 'wrong')
    with pytest.raises(BundleError, match="weights of 'segmentation' do not fit") as info:
        create_executor(load_bundle(bundle.path))
    assert 'weights.safetensors' in str(info.value)


def test_write_is_atomic_and_refuses_to_overwrite(tmp_path, monkeypatch):
    import safetensors.torch
    spec = preset_spec('pebal_tiny')
    make_random_bundle('pebal_tiny', tmp_path / 'b')
    with pytest.raises(BundleError, match='already exists'):
        write_bundle(spec, {'segmentation': {}}, tmp_path / 'b')

    def half_written(tensors, filename):
        with open(filename, 'wb') as f:
            f.write(b'partial')
        raise KeyboardInterrupt

    # An interrupt while writing leaves neither the target nor a temporary directory behind.
    monkeypatch.setattr(safetensors.torch, 'save_file', half_written)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(spec, {'segmentation': {'w': torch.zeros(3)}}, tmp_path / 'c')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['b']


def test_builder_args_a_network_refuses_are_a_bundle_error():
    spec = preset_spec('light_tiny_v2')
    spec.networks['dissimilarity'].args['width'] = 'four'
    with pytest.raises(BundleError, match=r"networks\.dissimilarity: dissim_prior_tiny .*'four'"):
        build_networks(spec)
