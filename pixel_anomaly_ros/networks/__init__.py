# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Network families, key-compatible with the official checkpoints, and their registry.

Each family lives in its own module; every builder has a ``*_tiny`` sibling with the same key
names and small widths, used by the tests and the demo.
"""

from typing import Callable, Dict

from pixel_anomaly_ros.networks import deepwv3, dissimilarity, icnet, spade, vgg
from torch import nn

NETWORKS: Dict[str, Callable[..., nn.Module]] = {
    'icnet_r50': icnet.icnet_r50,
    'icnet_tiny': icnet.icnet_tiny,
    'icnet_pebal': icnet.icnet_pebal,
    'icnet_pebal_tiny': icnet.icnet_pebal_tiny,
    'spade_cityscapes': spade.spade_cityscapes,
    'spade_tiny': spade.spade_tiny,
    'vgg19_difference': vgg.vgg19_difference,
    'vgg19_difference_tiny': vgg.vgg19_difference_tiny,
    'dissim_prior': dissimilarity.dissim_prior,
    'dissim_prior_tiny': dissimilarity.dissim_prior_tiny,
    'deepwv3plus': deepwv3.deepwv3plus,
    'deepwv3plus_tiny': deepwv3.deepwv3plus_tiny,
    'pebal_wrn38': deepwv3.pebal_wrn38,
    'pebal_wrn38_tiny': deepwv3.pebal_wrn38_tiny,
}


def create_network(name: str, **kwargs) -> nn.Module:
    """
    Build a registered network with random (default-initialised) weights.

    :param name: registry name, e.g. ``icnet_r50`` or ``spade_tiny``.
    :param kwargs: keyword arguments of the builder (e.g. ``spectral_norm=False``).
    :return: the network in training mode.
    :raises ValueError: for an unknown name.
    """
    if name not in NETWORKS:
        raise ValueError(f'unknown network {name!r}; known networks: {sorted(NETWORKS)}')
    return NETWORKS[name](**kwargs)
