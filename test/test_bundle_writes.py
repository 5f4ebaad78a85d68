# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bundle writers never lose a file: calibrate, train and convert --force on an exported bundle.

Every file but ``bundle.yaml`` (and the weights, for writers that train or convert) stays byte
for byte; a writer killed at any point leaves the previous bundle loadable; a directory that is
not a bundle is refused and left alone; permissions are those of any file the user creates.
"""

import hashlib
import os
from pathlib import Path
import signal
import stat
import subprocess
import sys
import textwrap
import time

from conftest import make_random_bundle
import numpy as np
from pixel_anomaly_ros.bundle import BundleError, load_bundle
from pixel_anomaly_ros.bundle_writer import write_bundle, write_bundle_spec
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.export.onnx_export import export_bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.synthetic.writer import generate
import pytest

#: Files a user or other tools put into a bundle, next to what export writes.
EXTRA_FILES = {'segmentation.int8.onnx': b'int8 graph bytes', 'NOTES.md': b'my notes\n',
               'engines/trt10_gpu_fp16_abc/energy.plan': b'plan bytes'}


def _digests(directory: Path) -> dict:
    """Return ``{relative path: sha256}`` of every file under a directory (hidden ones too)."""
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """Generate a tiny synthetic world: Cityscapes layout for training, an anomaly folder."""
    out = tmp_path_factory.mktemp('world') / 'w'
    generate(out, seed=0, train=2, val=1, anomalies=2, size=(64, 128), progress=False)
    return out


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Write a PEBAL-on-ICNet bundle and export its graph (once; tests copy it)."""
    bundle = make_random_bundle('pebal_icnet_tiny', tmp_path_factory.mktemp('b') / 'source',
                                input_size=(64, 128))
    export_bundle(bundle)
    return bundle.path


@pytest.fixture
def bundle_with_extras(exported, tmp_path):
    """Copy the exported bundle and add :data:`EXTRA_FILES`."""
    path = tmp_path / 'bundle'
    path.mkdir()
    for source in exported.iterdir():
        (path / source.name).write_bytes(source.read_bytes())
    for name, content in EXTRA_FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(content)
    assert {'energy.onnx', 'bundle.yaml', 'weights.safetensors'} <= set(_digests(path))
    return path


def _assert_kept(before: dict, path: Path, changed: set) -> None:
    after = _digests(path)
    assert set(after) == set(before), 'files appeared or disappeared'
    assert {name for name in before if before[name] != after[name]} == changed


def test_calibrate_rewrites_bundle_yaml_only(bundle_with_extras, world, capsys):
    before = _digests(bundle_with_extras)
    assert main(['calibrate', '--bundle', str(bundle_with_extras), '--data', str(world),
                 '--quiet']) == 0, capsys.readouterr().err
    _assert_kept(before, bundle_with_extras, {'bundle.yaml'})
    bundle = load_bundle(bundle_with_extras)
    assert 'calibration' in bundle.spec.provenance
    assert bundle.has_onnx()  # backend auto still finds the exported graph


def test_train_replaces_weights_and_bundle_yaml_only(bundle_with_extras, world, caplog):
    before = _digests(bundle_with_extras)
    assert main(['train', 'segmentation', '--data', str(world), '--out',
                 str(bundle_with_extras), '--steps', '1',
                 '--work', str(bundle_with_extras.parent / 'work'), '--quiet']) == 0
    _assert_kept(before, bundle_with_extras, {'bundle.yaml', 'weights.safetensors'})
    assert 'energy.onnx' in caplog.text  # told that the kept export is now stale


def test_convert_force_replaces_weights_and_bundle_yaml_only(bundle_with_extras, tmp_path,
                                                             capsys):
    from test_convert import _write_pebal_file
    _write_pebal_file(tmp_path / 'ckpt.pth', tiny=True, layout='pebal')
    before = _digests(bundle_with_extras)
    assert main(['convert', 'pebal', '--checkpoint', str(tmp_path / 'ckpt.pth'), '--tiny',
                 '--out', str(bundle_with_extras), '--force']) == 0, capsys.readouterr().err
    _assert_kept(before, bundle_with_extras, {'bundle.yaml', 'weights.safetensors'})
    assert load_bundle(bundle_with_extras).spec.networks['segmentation'].builder == \
        'pebal_wrn38_tiny'


@pytest.mark.parametrize('command', ['calibrate', 'train', 'convert'])
def test_out_at_a_directory_that_is_not_a_bundle_is_refused(command, exported, world,
                                                            tmp_path, capsys):
    data = tmp_path / 'my_data'
    (data / 'images').mkdir(parents=True)
    (data / 'images' / 'a.png').write_bytes(b'precious')
    before = _digests(data)
    argv = {'calibrate': ['calibrate', '--bundle', str(exported), '--data', str(world)],
            'train': ['train', 'segmentation', '--data', str(world), '--steps', '1'],
            'convert': ['convert', 'pebal', '--checkpoint', str(tmp_path / 'ckpt.pth'),
                        '--tiny', '--force']}[command]
    if command == 'convert':
        from test_convert import _write_pebal_file
        _write_pebal_file(tmp_path / 'ckpt.pth', tiny=True, layout='pebal')
    assert main(argv + ['--out', str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and str(data) in err and 'not a model bundle' in err
    assert _digests(data) == before and sorted(p.name for p in data.iterdir()) == ['images']
    assert not Path(str(data) + '.train').exists()


def test_write_bundle_keeps_the_callers_spec_and_uses_normal_permissions(exported, tmp_path):
    source = load_bundle(exported)
    provenance = dict(source.spec.provenance)
    old_umask = os.umask(0o022)
    try:
        written = write_bundle(source.spec, source.component_state_dicts(), tmp_path / 'new')
        updated = write_bundle_spec(written.spec, written.path)
    finally:
        os.umask(old_umask)
    assert source.spec.provenance == provenance  # not mutated
    assert written.spec.provenance['weights_sha256'] == updated.spec.provenance['weights_sha256']
    assert stat.S_IMODE((tmp_path / 'new').stat().st_mode) == 0o755
    for name in ('bundle.yaml', 'weights.safetensors'):
        assert stat.S_IMODE((tmp_path / 'new' / name).stat().st_mode) == 0o644, name
    # An existing file keeps its mode when replaced.
    (tmp_path / 'new' / 'bundle.yaml').chmod(0o600)
    write_bundle_spec(written.spec, written.path)
    assert stat.S_IMODE((tmp_path / 'new' / 'bundle.yaml').stat().st_mode) == 0o600
    names = sorted(p.name for p in (tmp_path / 'new').iterdir())
    assert names == ['bundle.yaml', 'weights.safetensors']


def test_write_bundle_spec_refuses_other_networks(exported, tmp_path):
    spec = load_bundle(exported).spec
    spec.networks['segmentation'].builder = 'icnet_tiny'
    with pytest.raises(BundleError, match='weights would not fit'):
        write_bundle_spec(spec, exported)


#: A writer that stops at a chosen point and waits to be killed (written as its marker says).
KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import safetensors.torch
    from pixel_anomaly_ros import atomic_files
    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros.bundle_writer import write_bundle, write_bundle_spec
    bundle_dir, point, marker = sys.argv[1:]

    def wait_to_be_killed():
        Path(marker).touch()
        time.sleep(600)

    if point == 'weights':  # half the weights file written
        def save_file(tensors, filename, metadata=None):
            with open(filename, 'wb') as f:
                f.write(b'partial')
            wait_to_be_killed()
        safetensors.torch.save_file = save_file
    else:  # 'spec': bundle.yaml complete but not renamed; 'between': weights renamed, yaml not
        commit = atomic_files.commit_file
        calls = []

        def commit_file(tmp, path):
            calls.append(path)
            if point == 'spec' or len(calls) == 2:
                wait_to_be_killed()
            commit(tmp, path)
        atomic_files.commit_file = commit_file
    bundle = load_bundle(bundle_dir)
    spec = bundle.spec
    spec.score_hi = spec.score_hi + 1.0
    if point == 'spec':
        write_bundle_spec(spec, bundle.path)
    else:
        states = bundle.component_state_dicts()
        states = {c: {k: v + 1 if v.is_floating_point() else v for k, v in sd.items()}
                  for c, sd in states.items()}
        write_bundle(spec, states, bundle.path, overwrite=True)
""")


@pytest.mark.parametrize('point', ['weights', 'spec', 'between'])
def test_a_writer_killed_at_any_point_leaves_a_loadable_bundle(point, bundle_with_extras,
                                                               tmp_path):
    before = _digests(bundle_with_extras)
    reference = create_pipeline(load_bundle(bundle_with_extras))
    marker = tmp_path / 'writing'
    proc = subprocess.Popen([sys.executable, '-c', KILLED_WRITER, str(bundle_with_extras),
                             point, str(marker)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, 'the writer never reached the kill point'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    bundle = load_bundle(bundle_with_extras)
    image = np.random.default_rng(0).integers(0, 256, (64, 128, 3), np.uint8)
    result = create_pipeline(bundle)(image)  # reads the weights, runs the networks
    after = _digests(bundle_with_extras)
    kept = {name: digest for name, digest in after.items() if not name.startswith('.')}
    if point == 'between':  # new weights, previous description: both fit the same networks
        assert {n for n in before if before[n] != kept[n]} == {'weights.safetensors'}
    else:
        assert kept == before
        np.testing.assert_array_equal(result.score, reference(image).score)
    # The next write clears what the killed one left behind.
    write_bundle_spec(bundle.spec, bundle.path)
    assert not [name for name in _digests(bundle_with_extras) if name.startswith('.')]
