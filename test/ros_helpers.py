# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Helpers of the tests that talk to detector_node over DDS (imported by ROS tests only)."""

import array
import os
from pathlib import Path
import time

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
import numpy as np
from pixel_anomaly_ros.imaging import ns_to_stamp, stamp_to_ns
from pixel_anomaly_ros.ros.node_process import detector_command, start_process, stop_process_group
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

DOMAIN_ID = str(40 + os.getpid() % 50)
CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'detector.yaml'
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class DetectorProcesses:
    """Starts detector_node processes from config/detector.yaml plus overrides."""

    def __init__(self, env: dict):
        """
        Keep the environment for the children.

        :param env: environment with the private ROS domain.
        """
        self.env = env
        self.procs = []

    def __call__(self, bundle_path, *overrides, namespace=''):
        """
        Start one node on the torch CPU backend with reliable input.

        :param bundle_path: the bundle.
        :param overrides: extra ``name:=value`` parameters.
        :param namespace: node namespace.
        :return: the process.
        """
        parameters = {'bundle': bundle_path, 'input.reliable': 'true', 'backend': 'torch',
                      'device': 'cpu', 'precision': 'fp32'}
        parameters.update(override.split(':=', 1) for override in overrides)
        proc = start_process(detector_command(parameters, CONFIG, namespace), self.env)
        self.procs.append(proc)
        return proc

    def stop(self):
        """Stop every started node (SIGINT to its process group, then SIGKILL)."""
        for proc in self.procs:
            stop_process_group(proc)


def stamp(msg, stamp_ns: int):
    """Write the header time in ns and the frame id into a message; return it."""
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_stamp(stamp_ns)
    msg.header.frame_id = 'camera'
    return msg


def stamp_ns(msg) -> int:
    """Return a message's header stamp in nanoseconds."""
    return stamp_to_ns(msg.header.stamp)


def rgb_message(height: int, width: int, stamp_value: int, seed: int = 0) -> Image:
    """Build a valid rgb8 frame with a given stamp (ns)."""
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.step = height, width, 'rgb8', width * 3
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    data = array.array('B')
    data.frombytes(pixels.tobytes())
    msg.data = data
    return stamp(msg, stamp_value)


def spin_until(node, condition, timeout: float, proc=None) -> bool:
    """Spin ``node`` until ``condition()`` holds or the timeout passes; fail if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        if proc is not None:
            assert proc.poll() is None, proc.stdout.read()
        rclpy.spin_once(node, timeout_sec=0.05)
    return condition()


def wait_for_subscriber(node, publisher, proc, timeout: float = 60) -> None:
    """Wait until the detector subscribed to ``publisher``."""
    assert spin_until(node, lambda: publisher.get_subscription_count() > 0, timeout, proc), \
        'the detector never subscribed'


def diagnostic_values(msg: DiagnosticArray) -> dict:
    """Return the key/value pairs of the first status."""
    return {kv.key: kv.value for kv in msg.status[0].values}


def latest_values(diagnostics, hardware_id: str) -> dict:
    """Return the newest diagnostic values of one node (empty if none arrived)."""
    mine = [d for d in diagnostics if d.status[0].hardware_id == hardware_id]
    return diagnostic_values(mine[-1]) if mine else {}


#: Seconds before a request that may arrive twice is sent again (see :func:`call`).
RESEND_S = 5.0


def call(node, client, request, timeout: float = 60, idempotent: bool = False):
    """
    Call a service and wait for its response (generous: CI machines can be loaded).

    Fast DDS drops a response when the client's response reader has not matched the server
    within 100 ms (ros2/rmw_fastrtps#390), which a loaded machine can exceed on a first call:
    the request was served and no answer ever comes. A request that may safely arrive twice
    (``idempotent``: a query) is therefore sent again every :data:`RESEND_S` seconds until one
    answer comes; a state change is sent once.

    :param node: the node that spins.
    :param client: the service client.
    :param request: the request.
    :param timeout: seconds for discovery and for the answer.
    :param idempotent: whether the request may be sent again.
    :return: the first response.
    """
    assert client.wait_for_service(timeout_sec=timeout), client.srv_name
    deadline = time.monotonic() + timeout
    futures = [client.call_async(request)]

    def answered() -> bool:
        return any(future.done() for future in futures)

    wait = RESEND_S if idempotent else timeout
    while not spin_until(node, answered, min(wait, deadline - time.monotonic())):
        assert idempotent and time.monotonic() < deadline, \
            f'{client.srv_name} did not answer within {timeout} s'
        futures.append(client.call_async(request))
    return next(future for future in futures if future.done()).result()


def change_state_client(node, target: str):
    """
    Return a ``change_state`` client of ``target`` that gets answers before a real transition.

    A transition by an unknown label is refused without a state change or a log line (rclpy's
    lifecycle node answers ``success: false``), so this probe may be sent again until its
    answer arrives, as a query is; a real transition is then sent once.

    :param node: the node that spins and owns the client.
    :param target: the lifecycle node's name, e.g. ``/detector_node``.
    :return: the ``ChangeState`` client.
    """
    client = node.create_client(ChangeState, f'{target}/change_state')
    probe = ChangeState.Request(transition=Transition(label='no_such_transition'))
    assert not call(node, client, probe, idempotent=True).success
    return client
