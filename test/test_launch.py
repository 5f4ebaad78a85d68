# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch file, RViz config and Fast DDS shared-memory profile: static checks and a DDS run."""

import ast
import importlib.util
import json
import os
from pathlib import Path
import select
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

from pixel_anomaly_ros.ros.node_process import stop_process_group
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / 'launch' / 'detector.launch.py'
RVIZ_CONFIG = ROOT / 'config' / 'detector.rviz'
SHM_PROFILE = ROOT / 'config' / 'fastdds_shm.xml'

#: Every launch argument, in declaration order (the README documents the same list).
ARGUMENTS = ('bundle', 'backend', 'device', 'precision', 'namespace', 'image', 'compressed',
             'params_file', 'use_shm', 'use_rviz', 'rviz_config', 'use_sim_time', 'log_level')
OUTPUT_DISPLAYS = ('/anomaly/heatmap', '/anomaly/mask', '/anomaly/overlay', '/semantic/color')
FASTDDS_NS = '{http://www.eprosima.com}'
MIB = 1 << 20


def _calls(tree, name):
    """
    Return the calls of ``name(...)`` (or ``module.name(...)``) in a syntax tree.

    :param tree: the parsed module.
    :param name: the called function or class name.
    :return: the matching ``ast.Call`` nodes, in source order.
    """
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)
            if called == name:
                calls.append(node)
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _keywords(call):
    """
    Return a call's keyword arguments as ``{name: ast node}``.

    :param call: an ``ast.Call``.
    :return: keyword name to value node.
    """
    return {k.arg: k.value for k in call.keywords}


def _constant(node):
    return node.value if isinstance(node, ast.Constant) else None


@pytest.fixture(scope='module')
def launch_tree():
    """Parse the launch file (it is not importable without the ROS launch packages)."""
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_launch_file_compiles():
    compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), 'exec')


def test_launch_file_declares_every_argument(launch_tree):
    declared = {}
    for call in _calls(launch_tree, 'DeclareLaunchArgument'):
        name = _constant(call.args[0])
        keywords = _keywords(call)
        description = _constant(keywords.get('description'))
        assert isinstance(description, str) and len(description) > 15, name
        assert 'default_value' in keywords, name
        declared[name] = keywords['default_value']
    assert tuple(declared) == ARGUMENTS
    assert _constant(declared['backend']) == 'auto'
    assert _constant(declared['image']) == '/camera/image_raw'
    assert _constant(declared['use_shm']) == 'true'
    assert _constant(declared['use_rviz']) == 'false'
    assert _constant(declared['namespace']) == ''
    for name in ('bundle', 'params_file', 'rviz_config'):  # from the package share
        assert 'share' in ast.unparse(declared[name]), name


def test_launch_file_starts_detector_and_rviz(launch_tree):
    nodes = {_constant(_keywords(c).get('executable')): _keywords(c)
             for c in _calls(launch_tree, 'Node')}
    assert set(nodes) == {'detector_node', 'rviz2'}
    detector = nodes['detector_node']
    assert _constant(detector['package']) == 'pixel_anomaly_ros'
    assert _constant(detector['name']) == 'detector_node'
    for keyword in ('namespace', 'parameters', 'remappings', 'additional_env'):
        assert keyword in detector, keyword
    remappings = ast.unparse(detector['remappings'])
    assert "('image', image)" in remappings and "'image/compressed'" in remappings
    rviz = nodes['rviz2']
    assert _constant(rviz['package']) == 'rviz2'
    setup = next(f for f in ast.walk(launch_tree)
                 if isinstance(f, ast.FunctionDef) and f.name == '_launch_setup')
    source = ast.unparse(setup)
    # RViz only when asked for and installed; the check runs before any node starts.
    assert "_as_bool('use_rviz'" in source and '_rviz_installed()' in source
    assert 'return [detector]' in source and 'return [detector, rviz]' in source
    assert "'fastdds_shm.xml'" in LAUNCH_FILE.read_text()
    assert "'FASTDDS_DEFAULT_PROFILES_FILE'" in LAUNCH_FILE.read_text()


def test_launch_description():
    pytest.importorskip('launch_ros')
    from launch import LaunchContext
    from launch.actions import OpaqueFunction
    spec = importlib.util.spec_from_file_location('detector_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    arguments = description.get_launch_arguments()
    assert tuple(a.name for a in arguments) == ARGUMENTS
    assert all(len(a.description) > 15 for a in arguments)

    context = LaunchContext()
    for argument in arguments:
        context.launch_configurations[argument.name] = ''.join(
            s.perform(context) for s in argument.default_value)
    assert Path(context.launch_configurations['params_file']).name == 'detector.yaml'
    assert Path(context.launch_configurations['rviz_config']).name == 'detector.rviz'
    context.launch_configurations.update(namespace='car', image='/front/image',
                                         compressed='true')
    setup = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    assert len(setup) == 1
    nodes = setup[0].execute(context)
    assert [(n.node_package, n.node_executable) for n in nodes] == [
        ('pixel_anomaly_ros', 'detector_node')]
    context.launch_configurations.update(use_rviz='true')
    nodes = setup[0].execute(context)
    expected = [('pixel_anomaly_ros', 'detector_node')]
    if module._rviz_installed():
        expected.append(('rviz2', 'rviz2'))
    assert [(n.node_package, n.node_executable) for n in nodes] == expected


def _launch_function(name):
    """Compile one function of the launch file with the imports it uses (no launch needed)."""
    tree = ast.parse(LAUNCH_FILE.read_text())
    function = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == name)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
               and not ast.unparse(n).split()[1].startswith('launch')]
    namespace = {}
    exec(compile(ast.Module(body=imports + [function], type_ignores=[]), str(LAUNCH_FILE),
                 'exec'), namespace)
    return namespace[name]


def test_rviz_check_without_rviz_installed(tmp_path, monkeypatch):
    rviz_installed = _launch_function('_rviz_installed')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path))
    monkeypatch.setenv('PATH', str(tmp_path))
    assert rviz_installed() is False
    # An rviz2 in an ament prefix (as colcon or apt install it) is found.
    (tmp_path / 'share' / 'ament_index' / 'resource_index' / 'packages').mkdir(parents=True)
    (tmp_path / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'rviz2').touch()
    executable = tmp_path / 'lib' / 'rviz2' / 'rviz2'
    executable.parent.mkdir(parents=True)
    executable.write_text('#!/bin/sh\n')
    executable.chmod(0o755)
    assert rviz_installed() is True


def _rviz_displays():
    config = yaml.safe_load(RVIZ_CONFIG.read_text())
    return config, {d['Topic']['Value']: d for d in config['Visualization Manager']['Displays']
                    if d['Class'] == 'rviz_default_plugins/Image'}


def test_rviz_config_shows_every_output_reliably():
    config, displays = _rviz_displays()
    assert config['Visualization Manager']['Global Options']['Fixed Frame'] == 'camera'
    for topic in OUTPUT_DISPLAYS:
        display = displays[topic]
        assert display['Enabled'] is True, topic
        assert display['Topic']['Reliability Policy'] == 'Reliable', topic
        assert display['Topic']['History Policy'] == 'Keep Last', topic
        assert display['Topic']['Depth'] == 5, topic
        assert display['Topic']['Durability Policy'] == 'Volatile', topic
    # Best effort receives from best-effort and reliable camera drivers alike.
    assert displays['/camera/image_raw']['Topic']['Reliability Policy'] == 'Best Effort'
    score = displays['/anomaly/score']  # 32FC1 in [0, 1]: fixed range, not per-frame min/max
    assert (score['Normalize Range'], score['Min Value'], score['Max Value']) == (False, 0, 1)
    names = [d['Name'] for d in config['Visualization Manager']['Displays']]
    assert len(names) == len(set(names))  # each Image display gets its own dock panel


def test_shm_profile():
    root = ElementTree.parse(SHM_PROFILE).getroot()
    assert root.tag == FASTDDS_NS + 'profiles'
    shm_ids = []
    for descriptor in root.iter(FASTDDS_NS + 'transport_descriptor'):
        if descriptor.findtext(FASTDDS_NS + 'type') == 'SHM':
            assert int(descriptor.findtext(FASTDDS_NS + 'segment_size')) >= 64 * MIB
            shm_ids.append(descriptor.findtext(FASTDDS_NS + 'transport_id'))
    assert len(shm_ids) == 1
    participants = [p for p in root.iter(FASTDDS_NS + 'participant')
                    if p.get('is_default_profile') == 'true']
    assert len(participants) == 1
    rtps = participants[0].find(FASTDDS_NS + 'rtps')
    assert rtps.findtext(FASTDDS_NS + 'useBuiltinTransports') == 'false'
    used = [t.text for t in rtps.find(FASTDDS_NS + 'userTransports')]
    assert shm_ids[0] in used


# The frames are 2048x1024 rgb8 (6.3 MB), published RELIABLE with depth 1 at 30 Hz. With this
# test's settings, Fast DDS's default transports delivered 1 to 27 of the 30 frames (10 runs)
# and the profile delivered all 30 (20+ runs, some on a loaded machine). The frame count alone
# cannot always tell the two apart, so both ends also report the shared-memory segment they
# mapped: 67 MiB with the profile and 0.5 MiB without it.
# The subscriber keeps 10 frames so that a callback slowed by a busy CPU cannot drop frames:
# the test measures the transport, not the executor. Both ends run in child processes, because
# Fast DDS reads FASTDDS_DEFAULT_PROFILES_FILE once per process, when the first participant is
# created, so an rclpy node created earlier in the pytest process would ignore the profile.
FRAMES, WIDTH, HEIGHT, RATE_HZ = 30, 2048, 1024, 30.0
SUBSCRIBER_DEPTH = 10

_FRAME_CODE = """
import numpy as np
SIZE = {width} * {height} * 3
BASE = (np.arange(SIZE, dtype=np.uint32) % 251).astype(np.uint8)
def frame(i):
    return BASE + np.uint8(i % 256)
def largest_segment():
    # Bytes of the largest Fast DDS shared-memory segment this process has mapped.
    sizes = {{}}
    with open('/proc/self/maps') as maps:
        for line in maps:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ''
            if name.startswith(('/dev/shm/fastdds_', '/dev/shm/fastrtps_')) and 'port' not in name:
                start, end = (int(x, 16) for x in fields[0].split('-'))
                sizes[name] = sizes.get(name, 0) + end - start
    return max(sizes.values(), default=0)
""".format(width=WIDTH, height=HEIGHT)

_SUBSCRIBER = _FRAME_CODE + """
import json, sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
topic, frames, timeout, depth = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rclpy.init()
node = rclpy.create_node('shm_profile_subscriber')
received, intact = [], []
def on_image(msg):
    i = msg.header.stamp.nanosec
    received.append(i)
    data = np.frombuffer(msg.data, np.uint8)
    intact.append(msg.header.frame_id == 'frame%d' % i and msg.header.stamp.sec == 1000 + i
                  and (msg.width, msg.height, msg.step, msg.encoding)
                  == ({width}, {height}, {width} * 3, 'rgb8')
                  and data.size == SIZE and np.array_equal(data, frame(i)))
node.create_subscription(Image, topic, on_image,
                         QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE))
print('ready', flush=True)
deadline, last, count = time.monotonic() + timeout, None, 0
while len(received) < frames and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
    if len(received) != count:
        last, count = time.monotonic(), len(received)
    elif last is not None and time.monotonic() - last > 3.0:
        break  # the publisher has stopped: no frame for 3 s
print(json.dumps({{'received': len(received), 'unique': len(set(received)),
                  'intact': sum(intact), 'segment': largest_segment()}}), flush=True)
""".format(width=WIDTH, height=HEIGHT)

_PUBLISHER = _FRAME_CODE + """
import array, json, sys, time
import rclpy
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
topic, frames, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rclpy.init()
node = rclpy.create_node('shm_profile_publisher')
publisher = node.create_publisher(Image, topic,
                                  QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
deadline = time.monotonic() + 15
while publisher.get_subscription_count() == 0:
    if time.monotonic() > deadline:
        sys.exit('no subscriber matched in 15 s')
    time.sleep(0.05)
time.sleep(0.5)
start = time.monotonic()
for i in range(frames):
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + i, i
    msg.header.frame_id = 'frame%d' % i
    msg.height, msg.width, msg.encoding, msg.step = {height}, {width}, 'rgb8', {width} * 3
    data = array.array('B')
    data.frombytes(frame(i))
    msg.data = data
    publisher.publish(msg)
    time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
publisher.wait_for_all_acked(Duration(seconds=5))
print(json.dumps({{'sent': frames, 'segment': largest_segment()}}), flush=True)
""".format(width=WIDTH, height=HEIGHT)


def _start(script, args, env):
    """
    Start a Python snippet with this interpreter in its own process group.

    :param script: the code to run.
    :param args: its command-line arguments.
    :param env: its environment.
    :return: the ``Popen`` object.
    """
    return subprocess.Popen([sys.executable, '-c', script] + [str(a) for a in args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _stop(proc):
    """
    Stop a child started by :func:`_start` and its process group.

    :param proc: the ``Popen`` object.
    """
    stop_process_group(proc, timeout=5)


@pytest.mark.ros
def test_shm_profile_carries_large_images():
    pytest.importorskip('rclpy')
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(60 + os.getpid() % 40),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               FASTDDS_DEFAULT_PROFILES_FILE=str(SHM_PROFILE),
               RMW_IMPLEMENTATION='rmw_fastrtps_cpp')
    topic = f'shm_profile_test_{os.getpid()}'
    subscriber = _start(_SUBSCRIBER, [topic, FRAMES, 15, SUBSCRIBER_DEPTH], env)
    publisher = None
    try:
        ready, _, _ = select.select([subscriber.stdout], [], [], 30)
        assert ready and subscriber.stdout.readline().strip() == 'ready', 'subscriber not ready'
        publisher = _start(_PUBLISHER, [topic, FRAMES, RATE_HZ], env)
        started = time.monotonic()
        pub_out, pub_err = publisher.communicate(timeout=40)
        sub_out, sub_err = subscriber.communicate(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        for proc in (publisher, subscriber):
            if proc is not None:
                _stop(proc)
    assert publisher.returncode == 0, pub_err
    assert subscriber.returncode == 0, sub_err
    # Fast DDS reports a profile it cannot read on stderr and falls back to its defaults.
    for err in (pub_err, sub_err):
        assert 'XMLPARSER' not in err and 'Error' not in err, err
    sent = json.loads(pub_out.strip().splitlines()[-1])
    result = json.loads(sub_out.strip().splitlines()[-1])
    print(f'SHM profile: {result["received"]}/{sent["sent"]} frames of {WIDTH}x{HEIGHT} rgb8 at '
          f'{RATE_HZ:g} Hz received ({result["intact"]} intact) in {elapsed:.1f} s; segments '
          f'{sent["segment"] / MIB:.1f} MiB (publisher), {result["segment"] / MIB:.1f} MiB')
    # The profile is in effect on both ends: Fast DDS's own segment is 512 KiB.
    assert sent['segment'] >= 64 * MIB and result['segment'] >= 64 * MIB, (sent, result)
    assert result['received'] >= 0.9 * FRAMES, result
    assert result['unique'] == result['received'], result
    assert result['intact'] == result['received'], result
