# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The presets of issue 15: lattice-free (``*_v2``) and wider (``*_v3``)."""

from pixel_anomaly_ros.bench.random_bundle import write_random_bundle
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.export.onnx_export import export_bundle
from pixel_anomaly_ros.presets import preset_spec
import pytest


def test_v2_presets_use_the_lattice_free_layers():
    light = preset_spec('light_tiny_v2')
    assert light.networks['segmentation'].args == {'align_corners': False, 'width': 2}
    assert light.networks['dissimilarity'].args == {'upsampling': 'resize'}
    pebal = preset_spec('pebal_icnet_tiny_v2')
    assert pebal.networks['segmentation'].builder == 'icnet_pebal_tiny'
    assert pebal.networks['segmentation'].args == {'align_corners': False, 'width': 2}
    # the shipped presets stay as they are
    assert preset_spec('light_tiny').networks['dissimilarity'].args == {}
    assert preset_spec('light_tiny').networks['segmentation'].args == {}


def test_v3_presets_widen_the_v2_networks_and_share_the_icnet():
    light = preset_spec('light_tiny_v3')
    assert light.networks['segmentation'].args == {'align_corners': False, 'width': 4}
    assert light.networks['synthesis'].args == {'spectral_norm': False, 'ngf': 6}
    assert light.networks['dissimilarity'].args == {'upsampling': 'resize', 'width': 4}
    assert light.coarse_scores
    pebal = preset_spec('pebal_icnet_tiny_v3')
    assert pebal.networks['segmentation'].args == light.networks['segmentation'].args
    # v3 is built on a fresh v2 spec, which it must not change
    assert preset_spec('light_tiny_v2').networks['dissimilarity'].args == {'upsampling': 'resize'}


@pytest.mark.parametrize('preset', ['light_tiny_v2', 'pebal_icnet_tiny_v2',
                                    'light_tiny_v3', 'pebal_icnet_tiny_v3'])
def test_v2_bundles_export_and_match_pytorch(tmp_path, preset):
    written = write_random_bundle(preset, tmp_path / preset, seed=1, calibration_images=1,
                                  input_size=(64, 128))
    results = export_bundle(load_bundle(written.path), progress=False)
    assert results and all(r.path.is_file() for r in results)  # parity checked inside
