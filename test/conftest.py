# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures and helpers for the test suite."""

import os
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / 'data'


def read_key_manifest(name: str) -> dict:
    """
    Read an official state_dict manifest (one ``name (shape)`` per line).

    :param name: file name under ``test/data/keys``.
    :return: mapping of key name to shape tuple, in file order.
    """
    manifest = {}
    for line in (DATA_DIR / 'keys' / name).read_text().splitlines():
        if not line.strip():
            continue
        key, shape = line.split(' ', 1)
        manifest[key] = tuple(int(s) for s in shape.strip('()').split(',') if s.strip())
    return manifest


def state_dict_shapes(module) -> dict:
    """
    Return the key -> shape mapping of a module's state_dict (works on the meta device).

    :param module: a torch ``nn.Module``.
    :return: mapping of key name to shape tuple, in state_dict order.
    """
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(autouse=True, scope='session')
def _two_threads():
    """Keep torch to two threads so timings and CI load stay predictable."""
    import torch
    torch.set_num_threads(int(os.environ.get('PIXEL_ANOMALY_THREADS', '2')))
    yield


def make_random_bundle(preset: str, out_dir, seed: int = 0, **spec_changes):
    """
    Write a bundle of a preset architecture with random weights (for tests).

    BatchNorm running statistics are randomised too, so that strict loading is exercised on
    values that differ from the defaults.

    :param preset: architecture preset name, e.g. ``light_tiny``.
    :param out_dir: bundle directory to create.
    :param seed: torch seed.
    :param spec_changes: attributes of the spec to override.
    :return: the written :class:`Bundle`.
    """
    import torch

    from pixel_anomaly_ros.bundle import write_bundle
    from pixel_anomaly_ros.pipelines.graphs import build_networks
    from pixel_anomaly_ros.presets import preset_spec
    torch.manual_seed(seed)
    spec = preset_spec(preset)
    for key, value in spec_changes.items():
        setattr(spec, key, value)
    networks = build_networks(spec, None)
    for network in networks.values():
        randomise_batchnorm(network)
    return write_bundle(spec, {c: n.state_dict() for c, n in networks.items()}, out_dir)


def randomise_batchnorm(network) -> None:
    """Give every BatchNorm random running statistics and affine parameters."""
    import torch
    from torch import nn
    with torch.no_grad():
        for m in network.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                if m.affine:
                    m.weight.uniform_(0.8, 1.2)
                    m.bias.uniform_(-0.1, 0.1)


@pytest.fixture(scope='session')
def tiny_bundles(tmp_path_factory):
    """Random-weight tiny bundles of both variants: ``{'light': Bundle, 'pebal': Bundle}``."""
    root = tmp_path_factory.mktemp('bundles')
    return {'light': make_random_bundle('light_tiny', root / 'light'),
            'pebal': make_random_bundle('pebal_tiny', root / 'pebal'),
            'pebal_icnet': make_random_bundle('pebal_icnet_tiny', root / 'pebal_icnet')}


@pytest.fixture
def ros_env(monkeypatch):
    """Use a private ROS domain on localhost only; return the environment for children."""
    from ros_helpers import DOMAIN_ID
    monkeypatch.setenv('ROS_DOMAIN_ID', DOMAIN_ID)
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return dict(os.environ)


@pytest.fixture
def start_detector(ros_env):
    """Start detector_node processes (see ``ros_helpers.DetectorProcesses``); stop them after."""
    from ros_helpers import DetectorProcesses
    processes = DetectorProcesses(ros_env)
    yield processes
    processes.stop()


@pytest.fixture
def client(ros_env):
    """Give an rclpy node in this process to talk to the detector."""
    import rclpy
    rclpy.init()
    node = rclpy.create_node('detector_test_client')
    yield node
    node.destroy_node()
    rclpy.shutdown()
