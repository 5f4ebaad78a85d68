# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
detector_node's parameters over DDS: one check at start-up and on every set, whole batches.

Refused batches change nothing, a fuzz of 1,000+ sets while frames flow never kills the node,
and ``ros2 param dump`` files load back.

The node's ``/diagnostics`` carries ``param.<name>`` for every run-time parameter: the value
the node actually runs with, compared here with the parameter server's.
"""

import ast
import math
import random
import subprocess
import time

from conftest import make_random_bundle
import pytest
import yaml

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from pixel_anomaly_ros.ros.node_process import detector_command, start_process  # noqa: E402
from pixel_anomaly_ros.ros.parameters import (is_bundle_default, PARAMETERS,  # noqa: E402
                                              RUNTIME_PARAMETERS, validate)
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import (GetParameters, ListParameters, SetParameters,  # noqa: E402
                                SetParametersAtomically)
from ros_helpers import (call, change_state_client, CONFIG, diagnostic_values,  # noqa: E402
                         RELIABLE, rgb_message, spin_until, wait_for_subscriber)
from sensor_msgs.msg import Image  # noqa: E402

NODE = '/detector_node'
#: ParameterType -> the ParameterValue field holding it.
FIELDS = {ParameterType.PARAMETER_BOOL: 'bool_value',
          ParameterType.PARAMETER_INTEGER: 'integer_value',
          ParameterType.PARAMETER_DOUBLE: 'double_value',
          ParameterType.PARAMETER_STRING: 'string_value',
          ParameterType.PARAMETER_BYTE_ARRAY: 'byte_array_value',
          ParameterType.PARAMETER_BOOL_ARRAY: 'bool_array_value',
          ParameterType.PARAMETER_INTEGER_ARRAY: 'integer_array_value',
          ParameterType.PARAMETER_DOUBLE_ARRAY: 'double_array_value',
          ParameterType.PARAMETER_STRING_ARRAY: 'string_array_value'}


def value_msg(kind: int, value=None) -> ParameterValue:
    """Build a ParameterValue of an explicit type."""
    msg = ParameterValue(type=kind)
    if kind in FIELDS:
        setattr(msg, FIELDS[kind], value)
    return msg


def python_value(msg: ParameterValue):
    """Return a ParameterValue's value as ``ros2 param dump`` does (lists for arrays)."""
    if msg.type not in FIELDS:
        return None
    value = getattr(msg, FIELDS[msg.type])
    return value if msg.type <= ParameterType.PARAMETER_STRING else list(value)


def guess(text: str) -> ParameterValue:
    """Type a command-line value as ``ros2 param set`` does (YAML: ``-1`` is an integer)."""
    value = yaml.safe_load(text)
    kinds = ((bool, ParameterType.PARAMETER_BOOL), (int, ParameterType.PARAMETER_INTEGER),
             (float, ParameterType.PARAMETER_DOUBLE))
    for python_type, kind in kinds:
        if isinstance(value, python_type):
            return value_msg(kind, value)
    if isinstance(value, list) and all(isinstance(v, float) for v in value):
        return value_msg(ParameterType.PARAMETER_DOUBLE_ARRAY, value)
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return value_msg(ParameterType.PARAMETER_INTEGER_ARRAY, value)
    return value_msg(ParameterType.PARAMETER_STRING, text)


class Parameters:
    """The parameter services of the node, called from the test's client node."""

    def __init__(self, client, node: str = NODE):
        """Create the service clients."""
        self.client = client
        self.set_one_by_one = client.create_client(SetParameters, f'{node}/set_parameters')
        self.set_atomically = client.create_client(SetParametersAtomically,
                                                   f'{node}/set_parameters_atomically')
        self.getter = client.create_client(GetParameters, f'{node}/get_parameters')
        self.lister = client.create_client(ListParameters, f'{node}/list_parameters')

    def set(self, values: dict, atomically: bool = False):  # noqa: A003
        """Set ``{name: ParameterValue}``; return the results (one for an atomic set)."""
        parameters = [Parameter(name=n, value=v) for n, v in values.items()]
        if atomically:
            return [call(self.client, self.set_atomically,
                         SetParametersAtomically.Request(parameters=parameters)).result]
        return call(self.client, self.set_one_by_one,
                    SetParameters.Request(parameters=parameters)).results

    def get(self, names) -> dict:
        """Return ``{name: ParameterValue}``."""
        names = list(names)
        return dict(zip(names, call(self.client, self.getter,
                                    GetParameters.Request(names=names),
                                    idempotent=True).values))

    def names(self) -> list:
        """Return every parameter name of the node."""
        return list(call(self.client, self.lister, ListParameters.Request(),
                         idempotent=True).result.names)


def dump(parameters: Parameters, node: str = NODE) -> str:
    """Write what ``ros2 param dump`` writes: nested names, sorted, block style."""
    names = sorted(parameters.names())
    tree = {}
    for name, msg in parameters.get(names).items():
        branch = tree
        *parents, leaf = name.split('.')
        for part in parents:
            branch = branch.setdefault(part, {})
        branch[leaf] = python_value(msg)
    return yaml.dump({node: {'ros__parameters': tree}}, default_flow_style=False)


def applied(client, diagnostics: list, after: float) -> dict:
    """
    Return the node's ``param.*`` values from /diagnostics received after ``after``.

    The second message is used: the first may have been published before ``after``.
    """
    def fresh():
        return [m for t, m in diagnostics if t > after]
    assert spin_until(client, lambda: len(fresh()) >= 2, 20), 'no /diagnostics'
    values = diagnostic_values(fresh()[1])
    return {k[len('param.'):]: ast.literal_eval(v) for k, v in values.items()
            if k.startswith('param.')}


def node_form(name: str, value):
    """Bring a server value to the form the node applies (doubles, [] for the bundle's)."""
    if name == 'anomaly.ensemble_weights':
        return [] if is_bundle_default(value) else [float(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if name == 'diagnostics.window' else float(value)
    return value


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    """Write a tiny Light bundle with a small network input (fast frames)."""
    return make_random_bundle('light_tiny', tmp_path_factory.mktemp('params') / 'light',
                              input_size=(64, 128))


@pytest.fixture
def watched(client):
    """Collect ``(arrival time, message)`` of /diagnostics in the client."""
    received = []
    client.create_subscription(DiagnosticArray, '/diagnostics',
                               lambda m: received.append((time.monotonic(), m)), RELIABLE)
    return received


@pytest.mark.parametrize('name, value, reason', [
    ('anomaly.threshold', -1, ''), ('anomaly.threshold', 0.5, ''),
    ('anomaly.threshold', 1.5, 'anomaly.threshold takes a number in [0, 1], or -1'),
    ('anomaly.threshold', math.nan, 'got nan'), ('anomaly.threshold', '0.5', "got '0.5'"),
    ('anomaly.ensemble_weights', [-1.0], ''), ('anomaly.ensemble_weights', [], ''),
    ('anomaly.ensemble_weights', [1, 0, 0, 0], ''),
    ('anomaly.ensemble_weights', ['a', 'b', 'c', 'd'], 'takes four numbers in [0, 1000]'),
    ('anomaly.ensemble_weights', 'null', 'takes four numbers'),
    ('diagnostics.window', 0, 'diagnostics.window takes a whole number in [1, 100000]'),
    ('diagnostics.window', 2.0, 'got 2.0'), ('diagnostics.period_s', 0, 'in [0.01, 3600]'),
    ('device', 'cuda:1', ''), ('device', 'gpu', 'device takes auto, cpu, cuda or cuda:N'),
    ('precision', 'auto', ''), ('precision', 'fp8', 'precision takes auto, fp32, fp16, int8'),
    ('autostart', 1, 'autostart takes true or false'),
    ('output.overlay_alpha', None, 'output.overlay_alpha needs a value'),
    ('use_sim_time', 'anything', ''),  # rclpy's own parameters are rclpy's business
])
def test_validate(name, value, reason):
    got = validate(name, value)
    assert (reason in got and got) if reason else got == '', got
    assert all(validate(n, default) == '' for n, (default, _) in PARAMETERS.items())


def test_invalid_start_up_values_stop_the_node_with_every_reason(bundle, ros_env):
    proc = subprocess.run(
        detector_command({'bundle': bundle.path, 'diagnostics.window': 0,
                          'output.overlay_alpha': 2.0, 'output.resolution': 'half'}, CONFIG),
        env=ros_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    line = next(text for text in proc.stderr.splitlines() if 'cannot start' in text)
    for reason in ('diagnostics.window takes a whole number in [1, 100000], got 0',
                   'output.overlay_alpha takes a number in [0, 1], got 2.0',
                   "output.resolution takes input or network, got 'half'"):
        assert reason in line


def test_integer_threshold_batches_period_and_window(bundle, start_detector, client, watched):
    proc = start_detector(bundle.path, 'anomaly.threshold:=-1', 'diagnostics.period_s:=0.1')
    parameters = Parameters(client)
    assert applied(client, watched, 0)['anomaly.threshold'] == -1.0  # an integer at start-up
    # `ros2 param set /detector_node anomaly.threshold -1` sends an integer.
    assert parameters.set({'anomaly.threshold': guess('0.25')})[0].successful
    assert parameters.set({'anomaly.threshold': guess('-1')})[0].successful
    # One refused value refuses the whole atomic batch: nothing changes, here or in the node.
    before = time.monotonic()
    result, = parameters.set({'anomaly.threshold': guess('0.3'),
                              'output.overlay_alpha': guess('5.0')}, atomically=True)
    assert not result.successful and 'output.overlay_alpha takes a number' in result.reason
    assert python_value(parameters.get(['anomaly.threshold'])['anomaly.threshold']) == -1
    assert applied(client, watched, before)['anomaly.threshold'] == -1.0
    # diagnostics.window and diagnostics.period_s take effect at once.
    pub = client.create_publisher(Image, 'image', RELIABLE)
    client.create_subscription(Image, 'anomaly/score', lambda msg: None, RELIABLE)
    wait_for_subscriber(client, pub, proc)
    assert parameters.set({'diagnostics.window': guess('1'),
                           'diagnostics.period_s': guess('0.5')}, atomically=True)[0].successful
    for index in range(5):
        pub.publish(rgb_message(64, 96, time.time_ns(), seed=index))
        spin_until(client, lambda: False, 0.2, proc)
    before = time.monotonic()
    spin_until(client, lambda: False, 3.0, proc)
    stats = diagnostic_values([m for t, m in watched if t > before][-1])
    assert int(stats['frames_processed']) >= 3
    for stage in ('processing', 'decode', 'latency'):  # one frame in the window: all equal
        assert stats[f'{stage}_ms_p50'] == stats[f'{stage}_ms_max'], stage
    stamps = sorted(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9
                    for t, m in watched if t > before)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps and sorted(gaps)[len(gaps) // 2] == pytest.approx(0.5, abs=0.2)


def test_onnxruntime_on_the_cpu_with_the_default_precision(ros_env, client, watched, tmp_path):
    from pixel_anomaly_ros.export.onnx_export import export_bundle
    exported = make_random_bundle('pebal_tiny', tmp_path / 'pebal', input_size=(64, 128))
    export_bundle(exported, progress=False)
    # config/detector.yaml leaves precision at its default, auto.
    proc = start_process(detector_command({'bundle': exported.path, 'backend': 'onnxruntime',
                                           'diagnostics.period_s': 0.2}, CONFIG), ros_env)
    try:
        assert spin_until(client, lambda: any(
            diagnostic_values(m).get('lifecycle_state') == 'active' for _, m in watched), 60,
            proc)
        values = diagnostic_values(watched[-1][1])
        assert (values['backend'], values['precision']) == ('onnxruntime', 'fp32')
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_ensemble_weights_are_checked_while_inactive(bundle, start_detector, client):
    start_detector(bundle.path, 'autostart:=false')
    parameters = Parameters(client)
    change = change_state_client(client, NODE)

    def transition(transition_id):
        return call(client, change, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    assert transition(Transition.TRANSITION_CONFIGURE)
    for text in ('[1.0, 2.0]', '[0.0, 0.0, 0.0, 0.0]', '[-0.5, 1.0, 0.0, 0.0]', 'null'):
        result, = parameters.set({'anomaly.ensemble_weights': guess(text)})
        assert not result.successful and 'anomaly.ensemble_weights takes four numbers in' in \
            result.reason, text
    assert parameters.set({'anomaly.ensemble_weights': guess('[1, 0, 0, 0]')})[0].successful
    assert transition(Transition.TRANSITION_ACTIVATE)


#: Valid values of the run-time parameters (as typed for ``ros2 param set``).
VALID = {'anomaly.threshold': ['-1', '0.0', '0.5', '1'],
         'anomaly.ensemble_weights': ['[-1.0]', '[0.75, 0.25, 0.0, 0.0]', '[1, 0, 0, 0]',
                                      '[0.1, 0.2, 0.3, 0.4]'],
         'output.resolution': ['input', 'network'],
         'output.overlay_alpha': ['0', '0.3', '1.0'],
         'diagnostics.period_s': ['0.05', '0.2', '1'],
         'diagnostics.window': ['1', '10', '1000'],
         'diagnostics.latency_budget_ms': ['0', '50.0'],
         'diagnostics.min_rate_hz': ['0', '5.0'],
         'diagnostics.input_timeout_s': ['0', '2.5'],
         'autostart': ['true', 'false']}


def _fuzz_values(rng: random.Random) -> list:
    """Return ParameterValues of every kind: valid, wrong types, out of range, NaN, empty."""
    kinds = ParameterType
    numbers = [0, 1, -1, 2, 100, 1 << 62, -(1 << 62)]
    doubles = [0.0, 0.25, 0.5, 1.0, -1.0, 1.5, -0.01, 0.1, 3600.0, 1e308, -1e308, math.nan,
               math.inf, -math.inf, 5e-324]
    values = [value_msg(kinds.PARAMETER_NOT_SET)]
    values += [value_msg(kinds.PARAMETER_BOOL, b) for b in (True, False)]
    values += [value_msg(kinds.PARAMETER_INTEGER, n) for n in numbers]
    values += [value_msg(kinds.PARAMETER_DOUBLE, d) for d in doubles]
    values += [value_msg(kinds.PARAMETER_STRING, s) for s in (
        '', 'auto', 'cpu', 'cuda:1', 'gpu', 'torch', 'onnxruntime', 'fp32', 'int8', 'input',
        'network', 'inductor', 'null', '-1', 'x' * 10_000, 'émoji ✓')]
    values += [value_msg(kinds.PARAMETER_BYTE_ARRAY, []), value_msg(kinds.PARAMETER_BYTE_ARRAY,
                                                                    [b'\x01'] * 4)]
    values += [value_msg(kinds.PARAMETER_BOOL_ARRAY, a) for a in ([], [True] * 4)]
    values += [value_msg(kinds.PARAMETER_INTEGER_ARRAY, a) for a in (
        [], [-1], [1, 0, 0, 0], [0, 0, 0, 0], [1, 2], [1, 1, 1, 1, 1], [1 << 62] * 4)]
    values += [value_msg(kinds.PARAMETER_DOUBLE_ARRAY, a) for a in (
        [], [-1.0], [0.75, 0.25, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [math.nan] * 4,
        [math.inf, 0.0, 0.0, 0.0], [-0.5, 1.0, 0.0, 0.0], [1e308] * 4, [0.1] * 40)]
    values += [value_msg(kinds.PARAMETER_STRING_ARRAY, a) for a in ([], ['a', 'b', 'c', 'd'])]
    rng.shuffle(values)
    return values


def test_parameter_fuzz_while_frames_flow(bundle, start_detector, client, watched):
    proc = start_detector(bundle.path, 'diagnostics.period_s:=0.1')
    parameters = Parameters(client)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    answers = []
    client.create_subscription(Image, 'anomaly/score', answers.append, RELIABLE)
    wait_for_subscriber(client, pub, proc)
    frame = rgb_message(48, 64, time.time_ns())

    def send():
        frame.header.stamp.sec, frame.header.stamp.nanosec = divmod(time.time_ns(), 10 ** 9)
        pub.publish(frame)
    client.create_timer(0.05, send)  # frames flow whenever the client spins (service calls)
    assert spin_until(client, lambda: answers, 30, proc), 'no answer before the fuzz'

    names = sorted(PARAMETERS)
    server = {n: python_value(v) for n, v in parameters.get(names).items()}
    rng = random.Random(12)
    pool = _fuzz_values(rng)
    valid = {name: [guess(text) for text in texts] for name, texts in VALID.items()}

    def draw(name):  # valid values often enough that accepted sets change the node's state
        return rng.choice(valid[name] if name in valid and rng.random() < 0.4 else pool)
    attempts = refused = 0
    for request in range(400):
        batch = {n: draw(n) for n in rng.sample(names, rng.randint(1, 12))}
        atomically = request % 3 == 0
        results = parameters.set(batch, atomically)
        assert proc.poll() is None, proc.stdout.read()
        attempts += len(batch)
        for result in results:
            assert result.successful or result.reason.strip(), 'a refusal without a reason'
        accepted = (dict(batch) if results[0].successful else {}) \
            if atomically else {n: v for (n, v), r in zip(batch.items(), results)
                                if r.successful}
        refused += len(batch) - len(accepted)
        for name, value in accepted.items():
            server[name] = python_value(value)
        now = {n: python_value(v) for n, v in parameters.get(names).items()}
        assert now == server, f'request {request}: the parameter server diverged'
        if request % 40 == 39 or attempts >= 1000 and request % 10 == 9:
            # What the node runs with equals the server (diagnostics every 0.1 s to read it).
            assert parameters.set({'diagnostics.period_s': guess('0.1')})[0].successful
            server['diagnostics.period_s'] = 0.1
            node = applied(client, watched, time.monotonic())
            assert node == {n: node_form(n, server[n]) for n in RUNTIME_PARAMETERS}
            if attempts >= 1000:
                break
    print(f'fuzz: {request + 1} requests, {attempts} sets, {refused} refused, '
          f'{len(answers)} frames answered')
    assert attempts >= 1000 and 0 < refused < attempts
    answers.clear()
    assert spin_until(client, lambda: answers, 30, proc), 'no answer after the fuzz'
    assert proc.poll() is None


def test_dumped_parameters_load_back(bundle, start_detector, client, ros_env, tmp_path, watched):
    proc = start_detector(bundle.path, 'anomaly.threshold:=0.3', 'diagnostics.window:=50',
                          'output.resolution:=network')
    parameters = Parameters(client)
    spin_until(client, lambda: parameters.lister.service_is_ready(), 30, proc)
    assert parameters.set({'anomaly.ensemble_weights': guess('[0.5, 0.5, 0.0, 0.0]'),
                           'output.overlay_alpha': guess('0.7')})[0].successful
    first = dump(parameters)
    assert 'ensemble_weights:\n      - 0.5' in first  # block style, as ros2 param dump
    proc.terminate()
    assert proc.wait(timeout=20) == 0

    for text in (first, first.replace('- 0.5\n      - 0.5\n      - 0.0\n      - 0.0',
                                      '- -1.0')):  # also the declared default [-1.0]
        (tmp_path / 'dump.yaml').write_text(text)
        watched.clear()
        again = start_process(detector_command({}, tmp_path / 'dump.yaml'), ros_env)
        try:
            reloaded = Parameters(client)
            assert spin_until(client, lambda: reloaded.lister.service_is_ready(), 60, again), \
                again.stdout.read() if again.poll() is not None else 'no parameter services'
            assert dump(reloaded) == text
            assert spin_until(client, lambda: any(  # configured and activated from the file
                diagnostic_values(m).get('lifecycle_state') == 'active' for _, m in watched),
                60, again)
        finally:
            again.terminate()
            assert again.wait(timeout=20) == 0
