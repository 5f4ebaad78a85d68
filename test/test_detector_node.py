# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""detector_node in its own process, talked to over DDS by real rclpy publishers/subscribers."""

import array
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

DOMAIN_ID = str(40 + os.getpid() % 50)
CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'detector.yaml'


@pytest.fixture
def ros_env(monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', DOMAIN_ID)
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return dict(os.environ)


@pytest.fixture
def detector(ros_env, tiny_bundles):
    proc = subprocess.Popen(
        [sys.executable, '-m', 'pixel_anomaly_ros.ros.detector_node', '--ros-args',
         '--params-file', str(CONFIG), '-p', f'bundle:={tiny_bundles["light"].path}',
         '-p', 'input.reliable:=true'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _rgb_message(height, width, stamp_sec):
    msg = Image()
    msg.header.stamp.sec = stamp_sec
    msg.header.frame_id = 'camera'
    msg.height, msg.width, msg.encoding, msg.step = height, width, 'rgb8', width * 3
    pixels = np.random.default_rng(stamp_sec).integers(0, 256, (height, width, 3), np.uint8)
    data = array.array('B')
    data.frombytes(pixels.tobytes())
    msg.data = data
    return msg


def test_outputs_over_dds(detector):
    rclpy.init()
    node = rclpy.create_node('detector_test_client')
    try:
        reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        received = {}
        for topic in ('anomaly/score', 'anomaly/mask', 'semantic/labels'):
            node.create_subscription(Image, topic,
                                     lambda m, t=topic: received.setdefault(t, []).append(m),
                                     reliable)
        pub = node.create_publisher(Image, 'image', reliable)
        deadline = time.monotonic() + 90
        sent = 0
        while time.monotonic() < deadline and len(received) < 3:
            assert detector.poll() is None, detector.stdout.read()
            if pub.get_subscription_count() > 0:
                sent += 1
                pub.publish(_rgb_message(96, 160, stamp_sec=sent))
            rclpy.spin_once(node, timeout_sec=0.5)
        assert set(received) == {'anomaly/score', 'anomaly/mask', 'semantic/labels'}, (
            f'received {sorted(received)} after sending {sent} frames')
        score, mask, labels = (received[t][0] for t in
                               ('anomaly/score', 'anomaly/mask', 'semantic/labels'))
        for msg, encoding in ((score, '32FC1'), (mask, 'mono8'), (labels, 'mono8')):
            assert (msg.height, msg.width, msg.encoding) == (96, 160, encoding)
            assert msg.header.frame_id == 'camera' and 1 <= msg.header.stamp.sec <= sent
        values = np.frombuffer(score.data, np.float32)
        assert values.size == 96 * 160 and 0 <= values.min() and values.max() <= 1
        assert set(np.unique(np.frombuffer(mask.data, np.uint8))) <= {0, 255}
        assert np.frombuffer(labels.data, np.uint8).max() < 19
    finally:
        node.destroy_node()
        rclpy.shutdown()
    os.killpg(detector.pid, signal.SIGINT)
    assert detector.wait(timeout=20) == 0


def test_missing_bundle_fails_with_a_clear_message(ros_env):
    proc = subprocess.run(
        [sys.executable, '-m', 'pixel_anomaly_ros.ros.detector_node', '--ros-args',
         '-p', 'bundle:=/nonexistent/bundle'], env=ros_env, capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 1
    assert 'cannot start' in proc.stderr and '/nonexistent/bundle' in proc.stderr
