# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``synth --realism camera``: a camera model over the same scenes, off by default."""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from pixel_anomaly_ros.cli import synth as synth_cli
from pixel_anomaly_ros.synthetic.camera import apply_camera, CameraLook, REALISM, sample_camera
from pixel_anomaly_ros.synthetic.writer import generate
import pytest

ARGS = {'seed': 2, 'train': 2, 'val': 1, 'anomalies': 2, 'size': (64, 128), 'bag': False}


def read(path: Path) -> np.ndarray:
    """Read a PNG keeping its raw values."""
    with Image.open(path) as image:
        return np.asarray(image)


def pngs(root: Path, part: str) -> dict:
    """Return ``{relative path: array}`` of the PNGs under ``root`` whose path holds ``part``."""
    return {p.relative_to(root).as_posix(): read(p) for p in sorted(root.rglob('*.png'))
            if part in p.as_posix()}


@pytest.fixture(scope='module')
def worlds(tmp_path_factory):
    """Generate the same tiny world without and with the camera model."""
    root = tmp_path_factory.mktemp('camera')
    plain = Path(generate(root / 'plain', progress=False, **ARGS)['out_dir'])
    camera = Path(generate(root / 'camera', progress=False, realism='camera',
                           **ARGS)['out_dir'])
    return plain, camera


def test_labels_stay_and_images_change(worlds):
    plain, camera = worlds
    for part in ('gtFine', 'anomaly/labels', 'anomaly/semantic'):
        a, b = pngs(plain, part), pngs(camera, part)
        assert a and a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a), part
    a, b = pngs(plain, 'leftImg8bit'), pngs(camera, 'leftImg8bit')
    a.update(pngs(plain, 'anomaly/images'))
    b.update(pngs(camera, 'anomaly/images'))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype == np.uint8
        diff = np.abs(a[k].astype(int) - b[k].astype(int)).mean()
        assert diff > 1.0, k


def test_manifest_records_realism_only_when_on(worlds):
    plain, camera = worlds
    assert 'realism' not in json.loads((plain / 'manifest.json').read_text())['arguments']
    assert json.loads((camera / 'manifest.json').read_text())['arguments']['realism'] == 'camera'


def test_same_seed_same_bytes(worlds, tmp_path):
    again = Path(generate(tmp_path / 'again', progress=False, realism='camera',
                          **ARGS)['out_dir'])
    _, camera = worlds
    first = {p.relative_to(camera): p.read_bytes() for p in camera.rglob('*') if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob('*') if p.is_file()}
    assert first == second


def test_other_realism_is_not_reused_and_unknown_is_refused(worlds, tmp_path):
    plain, _ = worlds
    with pytest.raises(FileExistsError):
        generate(plain, progress=False, realism='camera', **ARGS)
    with pytest.raises(ValueError, match='unknown realism'):
        generate(tmp_path / 'x', progress=False, realism='film', **ARGS)
    assert not (tmp_path / 'x').exists()


def test_camera_effects_are_what_they_say():
    image = np.full((64, 128, 3), 128, np.uint8)
    image[:, 64:] = 40
    base = {'exposure': 0.0, 'white_balance': (1.0, 1.0, 1.0), 'vignette': 0.0,
            'aberration': 0.0, 'defocus': 0.0, 'motion_length': 0.0, 'motion_angle': 0.0,
            'shot_noise': 0.0, 'read_noise': 0.0, 'jpeg_quality': 95, 'seed': 0}
    plain = apply_camera(image, CameraLook(**base)).astype(float)
    bright = apply_camera(image, CameraLook(**{**base, 'exposure': 1.0})).astype(float)
    warm = apply_camera(image, CameraLook(**{**base, 'white_balance': (1.2, 1.0, 0.8)}))
    dark_corners = apply_camera(image, CameraLook(**{**base, 'vignette': 0.6})).astype(float)
    noisy = apply_camera(image, CameraLook(**{**base, 'read_noise': 4.0})).astype(float)
    blurred = apply_camera(image, CameraLook(**{**base, 'motion_length': 7.0})).astype(float)
    assert bright.mean() > plain.mean() + 20
    assert warm[..., 0].mean() > warm[..., 2].mean() + 10
    assert dark_corners[0, 0].mean() < plain[0, 0].mean() - 5
    assert dark_corners[32, 60].mean() == pytest.approx(plain[32, 60].mean(), abs=3)
    assert noisy[:, :60].std() > plain[:, :60].std() + 1
    edge = np.abs(np.diff(plain[32, 58:70, 1])).max()
    assert np.abs(np.diff(blurred[32, 58:70, 1])).max() < edge


def test_sampled_looks_vary_and_cli_option():
    looks = [sample_camera(np.random.default_rng(i), 512) for i in range(20)]
    assert len({round(look.exposure, 3) for look in looks}) == 20
    assert any(look.motion_length > 0 for look in looks)
    assert all(30 <= look.jpeg_quality <= 95 for look in looks)
    parser = argparse.ArgumentParser()
    synth_cli.add_parser(parser.add_subparsers())
    assert parser.parse_args(['synth', '--out', 'x']).realism == 'none'
    assert parser.parse_args(['synth', '--out', 'x', '--realism', 'camera']).realism == 'camera'
    # the CLI lists its choices without importing OpenCV; they must be the library's
    synth_parser = parser._subparsers._group_actions[0].choices['synth']
    realism = next(a for a in synth_parser._actions if a.dest == 'realism')
    assert tuple(realism.choices) == REALISM
