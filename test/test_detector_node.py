# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""detector_node in its own process, talked to over DDS by real rclpy nodes in this one."""

import os
import signal
import subprocess
import sys
import time

from conftest import make_random_bundle
import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402, I100
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from pixel_anomaly_ros.ros.conversions import numpy_to_compressed  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from ros_helpers import (call, change_state_client, CONFIG, diagnostic_values,  # noqa: E402
                         RELIABLE, rgb_message, spin_until, stamp_ns, wait_for_subscriber)
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

OUTPUTS = {'anomaly/score': ('32FC1', 4), 'anomaly/heatmap': ('bgr8', 3),
           'anomaly/mask': ('mono8', 1), 'semantic/labels': ('mono8', 1),
           'semantic/color': ('rgb8', 3), 'anomaly/overlay': ('bgr8', 3)}


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    """Write a tiny Light bundle with a small network input (fast frames)."""
    return make_random_bundle('light_tiny', tmp_path_factory.mktemp('node') / 'light',
                              input_size=(64, 128))


def test_every_output_with_header_encoding_and_size(bundle, start_detector, client):
    proc = start_detector(bundle.path)
    received, diagnostics = {}, []
    for topic in OUTPUTS:
        client.create_subscription(Image, topic,
                                   lambda m, t=topic: received.setdefault(t, []).append(m),
                                   RELIABLE)
    client.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, RELIABLE)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    wait_for_subscriber(client, pub, proc)
    stamp = time.time_ns()
    sent = 0
    while len(received) < len(OUTPUTS) and sent < 100:
        sent += 1
        pub.publish(rgb_message(96, 160, stamp + sent, seed=sent))
        spin_until(client, lambda: len(received) == len(OUTPUTS), 1.0, proc)
    assert set(received) == set(OUTPUTS), f'got {sorted(received)} after {sent} frames'
    for topic, (encoding, bytes_per_pixel) in OUTPUTS.items():
        msg = received[topic][0]
        assert (msg.height, msg.width, msg.encoding) == (96, 160, encoding), topic
        assert msg.step == 160 * bytes_per_pixel and len(msg.data) == msg.step * 96, topic
        assert msg.header.frame_id == 'camera'
        assert stamp < stamp_ns(msg) <= stamp + sent
    score = np.frombuffer(received['anomaly/score'][0].data, np.float32)
    assert 0 <= score.min() and score.max() <= 1
    assert set(np.unique(np.frombuffer(received['anomaly/mask'][0].data, np.uint8))) <= {0, 255}
    assert np.frombuffer(received['semantic/labels'][0].data, np.uint8).max() < 19

    assert spin_until(client, lambda: any(
        diagnostic_values(d).get('frames_processed', '0') != '0' for d in diagnostics), 10)
    status = diagnostics[-1].status[0]
    assert status.hardware_id == '/detector_node'
    assert status.name == 'detector_node: anomaly detector'
    values = diagnostic_values(diagnostics[-1])
    for key in ('lifecycle_state', 'backend', 'device', 'precision', 'model', 'variant',
                'frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
                'frames_failed', 'input_rate_hz', 'output_rate_hz', 'last_error'):
        assert key in values, key
    for stage in ('decode', 'preprocess', 'segmentation', 'synthesis', 'dissimilarity',
                  'postprocess', 'publish', 'processing', 'latency'):
        for stat in ('p50', 'p95', 'max'):
            assert float(values[f'{stage}_ms_{stat}']) >= 0, (stage, stat)
    assert values['lifecycle_state'] == 'active' and values['backend'] == 'torch'
    assert values['model'] == bundle.spec.name
    assert int(values['frames_received']) >= int(values['frames_processed']) >= 1


def test_compressed_input_and_network_resolution(bundle, start_detector, client):
    proc = start_detector(bundle.path, 'input.compressed:=true', 'output.resolution:=network')
    received = []
    client.create_subscription(Image, 'anomaly/heatmap', received.append, RELIABLE)
    pub = client.create_publisher(CompressedImage, 'image/compressed', RELIABLE)
    wait_for_subscriber(client, pub, proc)
    pixels = np.random.default_rng(0).integers(0, 256, (120, 200, 3), np.uint8)
    msg = numpy_to_compressed(pixels, 'jpeg')
    msg.header.stamp.sec = int(time.time())
    msg.header.frame_id = 'camera'
    for _ in range(50):
        pub.publish(msg)
        if spin_until(client, lambda: received, 1.0, proc):
            break
    assert received, 'no heatmap for a JPEG frame'
    assert (received[0].height, received[0].width) == bundle.spec.input_size


def _set(node, service, name, value):
    if isinstance(value, list):
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=value)
    elif isinstance(value, float):
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    return call(node, service, SetParameters.Request(
        parameters=[Parameter(name=name, value=pv)])).results[0]


def test_lifecycle_transitions_and_parameters(bundle, start_detector, client):
    proc = start_detector(bundle.path, 'autostart:=false')
    change = change_state_client(client, '/detector_node')
    get = client.create_client(GetState, '/detector_node/get_state')
    params = client.create_client(SetParameters, '/detector_node/set_parameters')

    def state():
        return call(client, get, GetState.Request(), idempotent=True).current_state.id

    def transition(transition_id):
        return call(client, change, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    assert state() == State.PRIMARY_STATE_UNCONFIGURED
    assert transition(Transition.TRANSITION_CONFIGURE)
    assert state() == State.PRIMARY_STATE_INACTIVE
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert state() == State.PRIMARY_STATE_ACTIVE

    masks = []
    client.create_subscription(Image, 'anomaly/mask', masks.append, RELIABLE)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    wait_for_subscriber(client, pub, proc)

    def mask_values():
        return set(np.unique(_next_mask(client, pub, masks, proc)))

    assert _set(client, params, 'anomaly.threshold', 0.0).successful
    assert mask_values() == {255}  # every score >= 0
    refused = _set(client, params, 'anomaly.threshold', 1.5)
    assert not refused.successful and 'a number in [0, 1]' in refused.reason
    assert _set(client, params, 'anomaly.ensemble_weights', [1.0, 0.0, 0.0, 0.0]).successful
    refused = _set(client, params, 'anomaly.ensemble_weights', [1.0, 2.0])
    assert not refused.successful and 'four numbers in [0, 1000]' in refused.reason
    refused = _set(client, params, 'bundle', '/elsewhere')
    assert not refused.successful and 'takes effect at configure' in refused.reason
    refused = _set(client, params, 'output.resolution', 'half')
    assert not refused.successful

    assert transition(Transition.TRANSITION_DEACTIVATE)
    assert state() == State.PRIMARY_STATE_INACTIVE
    assert spin_until(client, lambda: pub.get_subscription_count() == 0, 10, proc)
    assert transition(Transition.TRANSITION_CLEANUP)
    assert _set(client, params, 'bundle', '/nonexistent/bundle').successful
    assert not transition(Transition.TRANSITION_CONFIGURE)
    assert state() == State.PRIMARY_STATE_UNCONFIGURED
    assert _set(client, params, 'bundle', str(bundle.path)).successful
    assert transition(Transition.TRANSITION_CONFIGURE)
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert mask_values() <= {0, 255}
    assert proc.poll() is None


def test_missing_bundle_fails_with_a_clear_message(ros_env):
    proc = subprocess.run(
        [sys.executable, '-m', 'pixel_anomaly_ros.ros.detector_node', '--ros-args',
         '--params-file', str(CONFIG), '-p', 'bundle:=/nonexistent/bundle'],
        env=ros_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert 'cannot start' in proc.stderr and '/nonexistent/bundle' in proc.stderr


def test_sigint_stops_cleanly(bundle, start_detector, client):
    proc = start_detector(bundle.path)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    wait_for_subscriber(client, pub, proc)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=20) == 0


def _status_level(msg: DiagnosticArray):
    return msg.status[0].level


def test_input_timeout_turns_diagnostics_to_error(bundle, start_detector, client):
    proc = start_detector(bundle.path, 'diagnostics.input_timeout_s:=1.0')
    diagnostics = []
    client.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, RELIABLE)
    assert spin_until(client, lambda: any(
        _status_level(d) == DiagnosticStatus.ERROR for d in diagnostics), 30, proc)
    error = next(d for d in diagnostics if _status_level(d) == DiagnosticStatus.ERROR)
    assert 'no input image' in error.status[0].message


def test_operating_point_parameter_sets_the_mask_and_shows_in_diagnostics(
        bundle, start_detector, client, tmp_path):
    import shutil

    import yaml
    path = tmp_path / 'with_points'
    shutil.copytree(bundle.path, path)
    doc = yaml.safe_load((path / 'bundle.yaml').read_text())
    doc['score'].update(threshold=1.0, default_operating_point='fpr1', operating_points={
        'tpr95': {'threshold': 0.0, 'tpr': 1.0, 'fpr': 1.0},
        'fpr1': {'threshold': 1.0, 'tpr': 0.0, 'fpr': 0.01}})
    (path / 'bundle.yaml').write_text(yaml.safe_dump(doc))
    proc = start_detector(path, 'anomaly.operating_point:=tpr95')
    params = client.create_client(SetParameters, '/detector_node/set_parameters')
    masks, diagnostics = [], []
    client.create_subscription(Image, 'anomaly/mask', masks.append, RELIABLE)
    client.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, RELIABLE)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    wait_for_subscriber(client, pub, proc)

    def mask_share():
        return float(np.mean(_next_mask(client, pub, masks, proc) == 255))

    def diagnosed():
        diagnostics.clear()
        assert spin_until(client, lambda: diagnostics, 10, proc)
        return diagnostic_values(diagnostics[-1])

    assert mask_share() == 1.0  # tpr95 flags every score >= 0
    assert diagnosed()['operating_point'].startswith('tpr95 (score >= 0; calibration set: TPR')
    assert _set(client, params, 'anomaly.operating_point', '').successful  # bundle default
    assert mask_share() < 0.5
    values = diagnosed()
    assert values['operating_point'].startswith('fpr1') and values['mask_threshold'] == '1'
    refused = _set(client, params, 'anomaly.operating_point', 'best_f1')
    assert not refused.successful and "no operating point 'best_f1'" in refused.reason
    assert 'it has: fpr1, tpr95' in refused.reason
    assert _set(client, params, 'anomaly.threshold', 0.0).successful  # overrides the point
    assert mask_share() == 1.0
    assert diagnosed()['operating_point'].startswith('anomaly.threshold (score >= 0)')


def _next_mask(client, pub, masks, proc) -> np.ndarray:
    """Publish frames until the detector answers one with a mask; return its pixels."""
    masks.clear()
    for seed in range(50):
        pub.publish(rgb_message(64, 96, time.time_ns(), seed))
        if spin_until(client, lambda: masks, 1.0, proc):
            break
    assert masks, 'no mask'
    return np.frombuffer(masks[-1].data, np.uint8)
