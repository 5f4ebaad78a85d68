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
    Write a bundle of a preset architecture with random weights and a measured score range.

    See :func:`pixel_anomaly_ros.bench.random_bundle.write_random_bundle`: its calibrated
    scores spread over (0, 1) instead of saturating at the preset's trained range.

    :param preset: architecture preset name, e.g. ``light_tiny``.
    :param out_dir: bundle directory to create.
    :param seed: seed of the weights and of the calibration images.
    :param spec_changes: attributes of the spec to override.
    :return: the written :class:`Bundle`.
    """
    from pixel_anomaly_ros.bench.random_bundle import write_random_bundle
    return write_random_bundle(preset, out_dir, seed, **spec_changes)


def assert_varies(raw, score=None) -> None:
    """
    Fail unless a comparison would compare something: the values are not constant.

    :param raw: raw score map(s); their standard deviation must be positive.
    :param score: optional calibrated score map(s); not all 0 and not all 1.
    """
    import numpy as np
    raw = np.asarray(raw, dtype=np.float64)
    assert np.isfinite(raw).all(), 'raw score has non-finite values'
    assert raw.std() > 0, f'raw score is constant ({raw.flat[0]})'
    if score is not None:
        score = np.asarray(score)
        assert not np.all(score <= 0.0) and not np.all(score >= 1.0), \
            'calibrated score is saturated (all 0 or all 1)'
        assert score.std() > 0, 'calibrated score is constant'


def assert_raw_close(got, expected, rel: float) -> None:
    """
    Compare raw score maps elementwise with a tolerance relative to the raw magnitude.

    :param got: raw score of the backend or precision under test.
    :param expected: reference raw score; it must vary (see :func:`assert_varies`).
    :param rel: the largest allowed difference as a fraction of ``max(|expected|)``.
    """
    import numpy as np
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert_varies(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = np.abs(expected).max()
    worst = np.abs(got - expected).max()
    assert worst <= rel * scale, \
        f'raw scores differ by up to {worst:.3g} > {rel:g} x magnitude {scale:.3g}'


def assert_raw_tracks(got, expected, rel_mean: float, min_correlation: float = 0.99) -> None:
    """
    Compare lower-precision raw scores: small mean difference and the same spatial pattern.

    :param got: raw score of the lower precision (fp16, int8).
    :param expected: fp32 reference raw score; it must vary (see :func:`assert_varies`).
    :param rel_mean: the largest allowed mean absolute difference as a fraction of
        ``max(|expected|)``.
    :param min_correlation: smallest allowed Pearson correlation of the two maps.
    """
    import numpy as np
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert_varies(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert np.isfinite(got).all()
    scale = np.abs(expected).max()
    mean = np.abs(got - expected).mean()
    assert mean <= rel_mean * scale, \
        f'raw scores differ by {mean:.3g} on average > {rel_mean:g} x magnitude {scale:.3g}'
    correlation = np.corrcoef(got.ravel(), expected.ravel())[0, 1]
    assert correlation >= min_correlation, f'correlation {correlation:.4f} < {min_correlation}'


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
