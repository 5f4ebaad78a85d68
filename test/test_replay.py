# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Replay a generated bag through a live detector_node and compare with offline evaluation."""

import json

from conftest import make_random_bundle
import pytest
from test_evaluate import TABLE_HEADER, write_folder_dataset

pytestmark = pytest.mark.ros

IMAGE_TOPIC = '/camera/image'
LABEL_TOPIC = '/camera/anomaly_label'


@pytest.fixture(scope='module')
def bag_and_bundle(tmp_path_factory):
    """Give an 8-frame 96x160 bag at 5 Hz (written by the CLI) and a tiny Light bundle."""
    from pixel_anomaly_ros import cli
    root = tmp_path_factory.mktemp('replay')
    data = write_folder_dataset(root / 'data', frames=8, seed=3)
    bag = root / 'bag'
    assert cli.main(['dataset-to-bag', '--dataset', 'folder', '--root', str(data), '--out',
                     str(bag), '--rate', '5']) == 0
    bundle = make_random_bundle('light_tiny', root / 'bundle', input_size=(64, 128))
    return bag, bundle


def test_replay_matches_offline_evaluation(bag_and_bundle, ros_env, tmp_path):
    from pixel_anomaly_ros.evaluation.evaluate import evaluate
    from pixel_anomaly_ros.ros.replay import replay
    bag, bundle = bag_and_bundle
    out = tmp_path / 'replay'
    result = replay(bag, IMAGE_TOPIC, LABEL_TOPIC, bundle=bundle.path, out=out,
                    domain_id=int(ros_env['ROS_DOMAIN_ID']), progress=False)
    figures, node_counters = result.replay, result.replay['node_counters']
    # At the recorded 5 Hz a machine busy with other jobs can hold the node back past the next
    # frame: its keep-last-1 reader then loses one before the callback, or its newest-wins slot
    # drops one. Every frame sent is answered or accounted for by exactly one of those.
    assert figures['frames_sent'] == 8
    answered = figures['frames_answered']
    assert answered >= 1 and answered + figures['frames_unanswered'] == 8, figures
    assert node_counters['frames_processed'] == answered, figures
    assert figures['frames_unanswered'] == (figures['frames_lost_before_node']
                                            + node_counters['frames_dropped']), figures
    assert node_counters['frames_rejected'] == node_counters['frames_failed'] == 0
    assert figures['end_to_end_ms_p50'] > 0
    assert result.frames == answered and result.latency_ms['end_to_end'].size == answered

    offline = evaluate(bundle, 'bag', bag, {'image_topic': IMAGE_TOPIC,
                                            'label_topic': LABEL_TOPIC},
                       frames=result.names, examples=0, progress=False)
    assert offline.names == result.names
    node, here = result.pixel['bundle'], offline.pixel['bundle']
    assert (node.positives, node.negatives) == (here.positives, here.negatives)
    # Same images, bundle and code; CPU BLAS rounding may differ between the two processes
    # by about 1e-5 on the scores, which moves the metrics by far less than 1e-4.
    for key in ('ap', 'auroc', 'fpr95', 'best_f1', 'best_f1_threshold'):
        assert getattr(node, key) == pytest.approx(getattr(here, key), abs=1e-4), key
    assert result.components.gt_components == offline.components.gt_components >= answered
    assert result.components.siou == pytest.approx(offline.components.siou, abs=1e-3)

    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['replay']['frames_answered'] == answered
    assert metrics['latency_ms']['end_to_end']['count'] == answered
    report = (out / 'report.md').read_text().splitlines()
    assert report[2] == TABLE_HEADER and report[4].startswith('| bundle |')
    assert '## Replay' in report and (out / 'latency_histogram.png').is_file()


def test_replay_of_a_compressed_bag_matches_evaluate_on_it(bag_and_bundle, ros_env, tmp_path):
    from pixel_anomaly_ros import cli
    from pixel_anomaly_ros.evaluation.bags import list_topics
    from pixel_anomaly_ros.evaluation.evaluate import evaluate
    from pixel_anomaly_ros.ros.replay import replay
    _, bundle = bag_and_bundle
    data = write_folder_dataset(tmp_path / 'data', frames=6, seed=5)
    bag = tmp_path / 'jpeg_bag'
    assert cli.main(['dataset-to-bag', '--dataset', 'folder', '--root', str(data), '--out',
                     str(bag), '--rate', '4', '--compressed', 'jpeg']) == 0
    assert list_topics(bag)[IMAGE_TOPIC] == 'sensor_msgs/msg/CompressedImage'
    # Lockstep: each frame waits for the answer to the one before, so none is lost or dropped
    # however the machine stalls.
    result = replay(bag, IMAGE_TOPIC, LABEL_TOPIC, bundle=bundle.path, out=tmp_path / 'replay',
                    domain_id=int(ros_env['ROS_DOMAIN_ID']), progress=False, lockstep=True)
    figures = result.replay
    assert figures['frames_sent'] == 6 and figures['frames_answered'] == 6, figures
    assert figures['node_counters']['frames_received'] == 6, figures
    assert figures['node_counters']['frames_dropped'] == 0
    assert result.info['rate'].startswith('lockstep')
    assert figures['node_counters']['frames_rejected'] == 0
    assert result.info['image_topic'] == f'{IMAGE_TOPIC} (compressed)'
    offline = evaluate(bundle, 'bag', bag, {'image_topic': IMAGE_TOPIC,
                                            'label_topic': LABEL_TOPIC},
                       frames=result.names, examples=0, progress=False)
    assert offline.names == result.names and len(result.names) == 6
    node, here = result.pixel['bundle'], offline.pixel['bundle']
    assert (node.positives, node.negatives) == (here.positives, here.negatives)
    for key in ('ap', 'auroc', 'fpr95', 'best_f1', 'best_f1_threshold'):
        assert getattr(node, key) == pytest.approx(getattr(here, key), abs=1e-4), key
    assert result.operating_point['tpr'] == pytest.approx(offline.operating_point['tpr'],
                                                          abs=1e-4)
    assert result.operating_point['fpr'] == pytest.approx(offline.operating_point['fpr'],
                                                          abs=1e-4)


def test_replay_errors_before_starting_the_node(bag_and_bundle, ros_env, tmp_path, capsys):
    from pixel_anomaly_ros import cli
    bag, bundle = bag_and_bundle
    for args, message in (([str(tmp_path / 'missing.mcap')], 'does not exist'),
                          ([str(bag), '--rate', '0'], 'rate must be positive'),
                          ([str(bag), '--rate', '5', '--lockstep'], 'not allowed with'),
                          ([str(bag), '--label-topic', '/nope'], "no topic '/nope'")):
        try:
            status = cli.main(['replay', *args, '--image-topic', IMAGE_TOPIC, '--bundle',
                               str(bundle.path), '--out', str(tmp_path / 'out')])
        except SystemExit as exit_info:  # argparse
            status = exit_info.code
        err = capsys.readouterr().err.strip()
        assert status == 2 and '\n' not in err and message in err, err
    status = cli.main(['replay', str(bag), '--image-topic', '/camera/nothing', '--bundle',
                       str(bundle.path)])
    assert status == 2 and 'no sensor_msgs/msg/Image or CompressedImage topic' in \
        capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
    from pixel_anomaly_ros.ros.replay import replay
    with pytest.raises(ValueError, match='does not apply in lockstep'):
        replay(bag, IMAGE_TOPIC, rate=5.0, lockstep=True, bundle=bundle.path)


def test_drain_stops_when_the_node_is_idle_without_every_frame(tmp_path):
    import time
    from types import SimpleNamespace

    from pixel_anomaly_ros.ros.detector_session import DetectorSession
    from pixel_anomaly_ros.ros.replay import _figures
    session = DetectorSession({'bundle': tmp_path}, domain_id=0, timeout_s=30.0)
    session._proc = SimpleNamespace(poll=lambda: None)
    session.warmup_sent = 1
    session._warmup_stamps = {1}
    session.sent = {10: 100, 20: 200, 30: 300}
    session.arrivals = {1: {'anomaly/score': 5}, 10: {'anomaly/score': 15},
                        30: {'anomaly/score': 35}}
    # The node received 3 of the 4 frames (one lost before it) and answered all of them.
    session.diagnostics = {'frames_received': '3', 'frames_processed': '3',
                           'frames_dropped': '0', 'frames_rejected': '0', 'frames_failed': '0'}
    start = time.monotonic()
    session.drain(quiet_s=0.2)
    assert time.monotonic() - start < 5.0
    figures = _figures(session, 1.0, semantic=False)
    assert figures['frames_answered'] == 2 and figures['frames_unanswered'] == 1
    assert figures['frames_lost_before_node'] == 1
    assert figures['node_counters']['frames_received'] == 2
    assert figures['node_counters']['frames_processed'] == 2


def test_lockstep_waits_until_the_node_answers_or_settles_the_frame(tmp_path):
    import time
    from types import SimpleNamespace

    from pixel_anomaly_ros.ros.detector_session import DetectorSession
    session = DetectorSession({'bundle': tmp_path}, domain_id=0, timeout_s=0.5)
    session._proc = SimpleNamespace(poll=lambda: None)
    session.sent = {10: 100, 20: 200}
    session.arrivals = {10: {'anomaly/score': 15}}
    # The node has not received frame 20 yet: the wait lasts until the timeout.
    session.diagnostics = {'frames_received': '1', 'frames_processed': '1',
                           'frames_dropped': '0', 'frames_rejected': '0', 'frames_failed': '0'}
    assert session.wait_for_frame(10)
    start = time.monotonic()
    assert not session.wait_for_frame(20)
    assert time.monotonic() - start >= 0.5
    # It rejected frame 20: its counters settle every frame sent, and the wait ends at once.
    session.timeout_s = 30.0
    session.diagnostics = {**session.diagnostics, 'frames_received': '2',
                           'frames_rejected': '1'}
    start = time.monotonic()
    assert not session.wait_for_frame(20)
    assert time.monotonic() - start < 5.0
