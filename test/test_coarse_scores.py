# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Scores from the coarse logits (``coarse_scores``): same train ids, maps without a lattice.

Entropy, softmax distance and energy are nonlinear; taken on bilinearly up-sampled logits they
vary with the position inside each up-sampling cell, the same on every frame (issue 15's
lattice). ``coarse_scores`` takes them on ICNet's 1/8 logits and resizes the maps.
"""

from pathlib import Path

import cv2
from pixel_anomaly_ros import scoring
from pixel_anomaly_ros.bundle import BundleError, BundleSpec
from pixel_anomaly_ros.coarse_resize import COARSE_RESIZES
from pixel_anomaly_ros.evaluation.periodicity import MAX_RATIO, MeanMap
from pixel_anomaly_ros.networks import create_network
from pixel_anomaly_ros.presets import preset_spec
from pixel_anomaly_ros.stages.graphs import (EnergyGraph, InputNormaliser,
                                             SegmentationGraph)
from pixel_anomaly_ros.synthetic.writer import generate
import pytest
import torch
from torch.nn import functional as F

NORMALISER = InputNormaliser([123.7, 116.3, 103.5], [58.4, 57.1, 57.4], bgr=False)


def _icnet(num_classes: int = 19) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_network('icnet_tiny', num_classes=num_classes, align_corners=False).eval()


def test_full_logits_are_the_resized_coarse_logits():
    net = _icnet()
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        full, coarse = net.forward_coarse(x)
        assert coarse.shape[-2:] == (8, 16)
        torch.testing.assert_close(full, net(x), rtol=0, atol=0)
        # the 1x1 classifier commutes with the bilinear resizes: full = resize(coarse)
        resized = F.interpolate(F.interpolate(coarse, scale_factor=2, mode='bilinear'),
                                scale_factor=4, mode='bilinear')
        torch.testing.assert_close(full, resized, rtol=1e-4, atol=1e-4)


def test_segmentation_maps_come_from_the_coarse_logits_and_ids_stay():
    net = _icnet()
    image = torch.rand(1, 3, 64, 128) * 255
    with torch.no_grad():
        ids, entropy, distance = SegmentationGraph(net, NORMALISER, coarse_scores=True)(image)
        plain_ids, plain_entropy, _ = SegmentationGraph(net, NORMALISER)(image)
        _, coarse = net.forward_coarse(NORMALISER(image))
        _, coarse_entropy, coarse_distance = scoring.uncertainty_maps(coarse)
    torch.testing.assert_close(ids, plain_ids, rtol=0, atol=0)
    for mine, small in ((entropy, coarse_entropy), (distance, coarse_distance)):
        expected = F.interpolate(small, size=(64, 128), mode='bilinear', align_corners=False)
        torch.testing.assert_close(mine, expected)
    assert not torch.allclose(entropy, plain_entropy)


@pytest.mark.parametrize('resize', ['bilinear', 'smooth'])
def test_energy_comes_from_the_coarse_logits_before_the_blur(resize):
    net = _icnet(num_classes=20)
    image = torch.rand(1, 3, 64, 128) * 255
    graph = EnergyGraph(net, NORMALISER, 19, coarse_scores=True, coarse_resize=resize)
    with torch.no_grad():
        energy, ids = graph(image)
        _, plain_ids = EnergyGraph(net, NORMALISER, 19)(image)
        _, coarse = net.forward_coarse(NORMALISER(image))
        expected = scoring.gaussian_blur(COARSE_RESIZES[resize](
            scoring.free_energy(coarse, 19), (64, 128), False), graph.kernel)
    if resize == 'bilinear':  # the resize as it always was
        torch.testing.assert_close(expected, scoring.gaussian_blur(F.interpolate(
            scoring.free_energy(coarse, 19), size=(64, 128), mode='bilinear'), graph.kernel))
    torch.testing.assert_close(energy, expected)
    torch.testing.assert_close(ids, plain_ids, rtol=0, atol=0)


def test_a_network_without_coarse_logits_is_refused():
    with pytest.raises(BundleError, match='coarse_scores: DeepWV3Plus'):
        SegmentationGraph(create_network('deepwv3plus_tiny'), NORMALISER, coarse_scores=True)


def test_an_unknown_coarse_resize_is_refused():
    with pytest.raises(BundleError, match="coarse_resize: 'bicubic' is not one of"):
        EnergyGraph(_icnet(20), NORMALISER, 19, coarse_scores=True, coarse_resize='bicubic')


def test_the_flag_travels_through_bundle_yaml():
    spec = preset_spec('light_tiny_v2')
    assert spec.coarse_scores
    doc = spec.to_yaml_dict()
    assert doc['coarse_scores'] is True
    assert BundleSpec.from_yaml_dict(doc).coarse_scores
    assert 'coarse_scores' not in preset_spec('light_tiny').to_yaml_dict()  # off: as before


@pytest.fixture(scope='module')
def street_images(tmp_path_factory):
    world = generate(tmp_path_factory.mktemp('coarse') / 'world', seed=1, train=0, val=0,
                     anomalies=6, size=(256, 512), progress=False, workers=1)
    paths = sorted((Path(world['paths']['anomaly']) / 'images').glob('*.png'))
    return [torch.from_numpy(cv2.imread(str(p))[:, :, ::-1].copy()).permute(2, 0, 1)[None]
            .float() for p in paths]


@pytest.mark.parametrize('graph_class, output', [(SegmentationGraph, 1), (EnergyGraph, 0)])
def test_coarse_scores_carry_no_lattice(street_images, graph_class, output):
    """Half-pixel ICNet-tiny: the mean map of six street frames, with and without the flag."""
    net = _icnet(num_classes=19 if graph_class is SegmentationGraph else 20)
    ratios = {}
    for coarse in (False, True):
        graph, mean = graph_class(net, NORMALISER, 19, coarse_scores=coarse).eval(), MeanMap()
        with torch.no_grad():
            for image in street_images:
                mean.add(graph(image)[output][0, 0].numpy())
        ratios[coarse] = mean.periodicity().ratio
    assert ratios[True] < MAX_RATIO < ratios[False]
