# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``evaluate --ray`` on a real local Ray cluster (2 CPUs): exactly the serial binned result.

One cluster serves the module and is shut down at the end. The fleet holds labelled MCAP and
sqlite3 bags, a bare MCAP file, an unlabelled bag, a bag that fails at its fourth frame and a
corrupt file; shards of two frames cut the long bags into frame ranges.
"""

import json
import os
import signal

from conftest import make_random_bundle
from fleet_helpers import FRAMES, SEMANTIC, write_fleet
from pixel_anomaly_ros import cli
from pixel_anomaly_ros.evaluation.evaluate import evaluate
import pytest

ray = pytest.importorskip('ray')

#: metrics.json entries that must be equal (info and latency are facts of the run).
EXACT = ('frames', 'pixel', 'components', 'semantic', 'notes', 'frame_names', 'bags')


@pytest.fixture(scope='module')
def cluster():
    """Start a local Ray cluster with 2 CPUs for the module."""
    ray.init(address='local', num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level='WARNING')
    yield
    ray.shutdown()


@pytest.fixture(scope='module')
def setup(tmp_path_factory, cluster):
    """Give a bundle, the fleet and its serial binned result (metrics.json content)."""
    import torch
    root = tmp_path_factory.mktemp('distributed')
    # seed 2: a finite pixel best-F1 threshold, so the component pass has real components
    bundle = make_random_bundle('light_tiny', root / 'bundle', seed=2, input_size=(64, 128))
    fleet = write_fleet(root / 'bags')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker: the same arithmetic, bit for bit
    try:
        serial = evaluate(bundle.path, 'bag', fleet, {'semantic_topic': SEMANTIC}, binned=True,
                          progress=False).to_dict()
    finally:
        torch.set_num_threads(threads)
    return bundle, fleet, serial


def _exact(metrics):
    return {key: metrics[key] for key in EXACT}


def test_serial_reference_is_not_trivial(setup):
    _, _, serial = setup
    pixel = serial['pixel']['bundle']
    assert pixel['positives'] > 0 and pixel['negatives'] > 0 and 0 < pixel['ap'] < 1
    assert serial['components']['gt_components'] > 0 and serial['semantic']['pixels'] > 0
    assert 0 < serial['components']['score_threshold'] < 1
    assert serial['components']['mean_f1'] > 0 and serial['components']['pred_components'] > 0
    assert {k: b['frames'] for k, b in serial['bags'].items()} == FRAMES


def test_ray_equals_serial_binned_and_reports_bad_bags(setup, tmp_path, capsys):
    bundle, fleet, serial = setup
    out = tmp_path / 'report'
    assert cli.main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'bag', '--root',
                     str(fleet), '--option', f'semantic_topic={SEMANTIC}', '--binned', '--ray',
                     '--workers', '2', '--shard-frames', '2', '--out', str(out),
                     '--no-progress']) == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert _exact(metrics) == _exact(serial)
    ray_info = metrics['info']['ray']
    assert ray_info['workers'] == 2 and ray_info['shards'] == 13  # 3+2+2+2+3+1
    assert metrics['bags']['broken.mcap']['status'] == 'failed'
    assert 'broken.mcap' in metrics['bags']['broken.mcap']['error']
    assert metrics['bags']['day2/e']['frames'] == 3  # failed at its fourth frame
    report = (out / 'report.md').read_text()
    assert '`broken.mcap`' in report and '`day2/e`' in report
    assert 'wrote' in capsys.readouterr().out


def test_killed_worker_is_retried_and_the_result_stays_exact(setup, tmp_path):
    from pixel_anomaly_ros.evaluation.distributed import evaluate_on_ray
    bundle, fleet, serial = setup
    killed = []

    def kill_first_worker(result):
        if not killed:
            killed.append(result.worker['pid'])
            os.kill(result.worker['pid'], signal.SIGKILL)

    result = evaluate_on_ray(bundle.path, fleet, {'semantic_topic': SEMANTIC}, workers=2,
                             shard_frames=2, progress=False, on_shard=kill_first_worker,
                             spool_dir=tmp_path)  # the killed worker leaves its spool here
    assert killed and result.info['ray']['worker_restarts'] >= 1
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    assert _exact(result.to_dict()) == _exact(serial)


def test_ray_refuses_other_datasets_and_limit(setup, capsys):
    bundle, fleet, _ = setup
    assert cli.main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'bag', '--root',
                     str(fleet), '--ray', '--limit', '3']) == 2
    assert '--ray evaluates bags' in capsys.readouterr().err


def test_a_worker_that_cannot_start_gives_one_line(setup, capsys):
    bundle, fleet, _ = setup
    assert cli.main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'bag', '--root',
                     str(fleet), '--ray', '--workers', '1', '--backend', 'onnxruntime',
                     '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'segmentation.onnx: missing' in err
