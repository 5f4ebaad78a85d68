# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The lattice-free presets of issue 15 (``light_tiny_v2``, ``pebal_icnet_tiny_v2``)."""

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


@pytest.mark.parametrize('preset', ['light_tiny_v2', 'pebal_icnet_tiny_v2'])
def test_v2_bundles_export_and_match_pytorch(tmp_path, preset):
    written = write_random_bundle(preset, tmp_path / preset, seed=1, calibration_images=1,
                                  input_size=(64, 128))
    results = export_bundle(load_bundle(written.path), progress=False)
    assert results and all(r.path.is_file() for r in results)  # parity checked inside
