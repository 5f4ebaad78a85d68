# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
detector_node ends cleanly: signals and the lifecycle with a multi-second frame in flight.

The slow pipeline is a tiny SynBoost Light run at 2048x1024 on the CPU (seconds per frame).
``ros2 launch`` forwards a second SIGINT while the node cleans up after the first: the process
must still exit with status 0, without a traceback, within 5 s.
"""

import os
import signal
import time

from conftest import make_random_bundle
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from pixel_anomaly_ros.bundle_writer import write_bundle_spec  # noqa: E402
from ros_helpers import (call, change_state_client, diagnostic_values, RELIABLE,  # noqa: E402
                         rgb_message, spin_until, wait_for_subscriber)
from sensor_msgs.msg import Image  # noqa: E402

#: The acceptance bound: from the first signal to the exit of the process.
EXIT_WITHIN_S = 5.0
IN_FLIGHT = 'a frame is still being processed'


@pytest.fixture(scope='module')
def slow_bundle(tmp_path_factory):
    """Write a tiny Light bundle, then make it run at 2048x1024 (seconds per CPU frame)."""
    bundle = make_random_bundle('light_tiny', tmp_path_factory.mktemp('slow') / 'light',
                                input_size=(64, 128))
    spec = bundle.spec
    scale = spec.input_size[0] // spec.synthesis_size[0]
    spec.input_size, spec.synthesis_size = (1024, 2048), (1024 // scale, 2048 // scale)
    return write_bundle_spec(spec, bundle.path)


@pytest.fixture(scope='module')
def fast_bundle(tmp_path_factory):
    """Write a tiny Light bundle with a small network input (fast frames)."""
    return make_random_bundle('light_tiny', tmp_path_factory.mktemp('fast') / 'light',
                              input_size=(64, 128))


def _frame_in_flight(client, proc):
    """Send one frame to the slow node and return once the node has taken it."""
    diagnostics = []
    client.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, RELIABLE)
    client.create_subscription(Image, 'anomaly/score', lambda msg: None, RELIABLE)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    wait_for_subscriber(client, pub, proc)
    pub.publish(rgb_message(64, 128, time.time_ns()))
    assert spin_until(client, lambda: diagnostics and diagnostic_values(diagnostics[-1]).get(
        'frames_received') == '1', 30, proc), 'the node never received the frame'
    spin_until(client, lambda: False, 0.5)  # well inside a frame of several seconds


def _signal_and_wait(proc, signals) -> float:
    start = time.monotonic()
    for signum in signals:
        os.killpg(proc.pid, signum)
        time.sleep(0.3)
    proc.wait(timeout=EXIT_WITHIN_S + 20)
    return time.monotonic() - start


@pytest.mark.parametrize('signals', [(signal.SIGINT,), (signal.SIGINT, signal.SIGINT),
                                     (signal.SIGTERM,)], ids=['sigint', 'sigint-twice', 'sigterm'])
def test_signals_end_the_node_cleanly_with_a_frame_in_flight(signals, slow_bundle,
                                                             start_detector, client):
    proc = start_detector(slow_bundle.path, 'diagnostics.period_s:=0.2')
    _frame_in_flight(client, proc)
    seconds = _signal_and_wait(proc, signals)
    output = proc.stdout.read()
    assert proc.returncode == 0, output
    assert 'Traceback' not in output and 'KeyboardInterrupt' not in output, output
    assert 'terminate called' not in output, output
    assert IN_FLIGHT in output, output  # the frame really was in flight
    assert seconds < EXIT_WITHIN_S, f'exited {seconds:.1f} s after the first signal'


def _lifecycle(client):
    change = change_state_client(client, '/detector_node')
    get = client.create_client(GetState, '/detector_node/get_state')

    def transition(transition_id):
        return call(client, change, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    def state():
        return call(client, get, GetState.Request(), idempotent=True).current_state.id
    return transition, state


def test_deactivate_during_a_long_frame_does_not_stall_the_node(slow_bundle, start_detector,
                                                                client):
    proc = start_detector(slow_bundle.path, 'diagnostics.period_s:=0.2')
    _frame_in_flight(client, proc)
    transition, state = _lifecycle(client)
    assert state() == State.PRIMARY_STATE_ACTIVE  # a query first: it may be sent again
    start = time.monotonic()
    assert transition(Transition.TRANSITION_DEACTIVATE)
    assert time.monotonic() - start < EXIT_WITHIN_S  # a bounded wait, not the whole frame
    assert state() == State.PRIMARY_STATE_INACTIVE
    assert transition(Transition.TRANSITION_ACTIVATE)  # a new worker; the old one finishes
    assert state() == State.PRIMARY_STATE_ACTIVE
    assert proc.poll() is None


def test_shutdown_transition_reports_finalized_and_ends_the_process(fast_bundle, start_detector,
                                                                    client):
    proc = start_detector(fast_bundle.path, 'diagnostics.period_s:=0.2')
    diagnostics = []
    client.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, RELIABLE)
    transition, state = _lifecycle(client)
    assert state() == State.PRIMARY_STATE_ACTIVE
    # the last diagnostics come once: the subscription must have matched before
    assert spin_until(client, lambda: diagnostics, 30, proc), 'no diagnostics while active'
    assert transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert spin_until(client, lambda: any(
        diagnostic_values(d).get('lifecycle_state') == 'finalized' for d in diagnostics), 10)
    assert proc.wait(timeout=20) == 0
    output = proc.stdout.read()
    assert 'finalized' in output and 'Traceback' not in output, output


def test_shutdown_from_unconfigured_ends_the_process(fast_bundle, start_detector, client):
    proc = start_detector(fast_bundle.path, 'autostart:=false')
    transition, state = _lifecycle(client)
    assert state() == State.PRIMARY_STATE_UNCONFIGURED
    assert transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert proc.wait(timeout=20) == 0
