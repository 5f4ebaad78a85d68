# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The detector's parameters: names, defaults, descriptions, run-time ones, the check of values.

Parameters in :data:`RUNTIME_PARAMETERS` apply immediately; the others are read at
``configure`` and are refused while the node is configured. :func:`validate` is pure (name and
value in, reason out) and decides for start-up values and for every set alike. Parameters are
declared with dynamic typing so that ``ros2 param set ... anomaly.threshold -1`` (an integer)
reaches :func:`validate` instead of rclpy's type check; validate checks the types itself.
"""

import array
import math
import re
from typing import Any, Callable, Dict

from pixel_anomaly_ros.operating_point import OPERATING_POINTS
from pixel_anomaly_ros.runtime import BACKEND_CHOICES, PRECISION_CHOICES
from rcl_interfaces.msg import ParameterDescriptor

#: name -> (default, description)
PARAMETERS = {
    'bundle': ('', 'model bundle directory (bundle.yaml, weights, ONNX graphs)'),
    'backend': ('auto', ', '.join(BACKEND_CHOICES) + '; auto picks the fastest here'),
    'device': ('auto', 'auto, cpu or cuda[:N]'),
    'precision': ('auto', 'auto (fp16 on a GPU, fp32 on the CPU), fp32, fp16 (CUDA) or int8 '
                  '(tensorrt; onnxruntime on the CPU after export --int8): int8 only when asked'),
    'compile': ('', 'torch backend: empty (eager), inductor, max-autotune or torch_tensorrt'),
    'autostart': (True, 'configure and activate at start-up'),
    'input.reliable': (False, 'reliable input QoS; default best effort (REP-2003 sensor data)'),
    'input.compressed': (False, 'subscribe to image/compressed (JPEG/PNG) instead of image'),
    'input.max_pixels': (1 << 25, 'reject images with more pixels than this'),
    'input.max_future_s': (1.0, 'reject stamps further than this in the future (s)'),
    'output.resolution': ('input', 'input (camera size) or network (bundle input size)'),
    'output.overlay_alpha': (0.5, 'heatmap weight in anomaly/overlay, 0..1'),
    'anomaly.threshold': (-1.0, 'mask threshold on the score in [0, 1]; -1 = the operating '
                          'point below'),
    'anomaly.operating_point': ('', 'named mask threshold of the bundle, measured by calibrate: '
                                + ', '.join(OPERATING_POINTS) + '; empty = the bundle default'),
    'anomaly.ensemble_weights': ([-1.0], 'SynBoost ensemble weights: four numbers in [0, 1000] '
                                 '(P(anomaly), entropy, perceptual, distance); [-1] (or []) = '
                                 'the bundle default'),
    'diagnostics.period_s': (1.0, 'period of /diagnostics messages (s)'),
    'diagnostics.window': (100, 'frames covered by the latency percentiles'),
    'diagnostics.latency_budget_ms': (0.0, 'WARN when processing p95 exceeds this; 0 = off'),
    'diagnostics.min_rate_hz': (0.0, 'WARN when the output rate is below this; 0 = off'),
    'diagnostics.input_timeout_s': (5.0, 'ERROR when no image arrived for this long; 0 = off'),
}

#: Parameters that apply immediately, in any lifecycle state.
RUNTIME_PARAMETERS = frozenset({
    'anomaly.threshold', 'anomaly.operating_point', 'anomaly.ensemble_weights',
    'output.resolution',
    'output.overlay_alpha', 'diagnostics.latency_budget_ms', 'diagnostics.min_rate_hz',
    'diagnostics.input_timeout_s', 'diagnostics.period_s', 'diagnostics.window'})
#: Parameters that may change at any time without taking effect (read at start-up only).
START_PARAMETERS = frozenset({'autostart'})


def declare_parameters(node) -> None:
    """
    Declare every parameter on a node with its description (dynamic typing, see above).

    :param node: the rclpy node.
    """
    for name, (default, description) in PARAMETERS.items():
        descriptor = ParameterDescriptor(description=description, dynamic_typing=True)
        node.declare_parameter(name, default, descriptor)


def validate(name: str, value: Any) -> str:
    """
    Say why a value is not acceptable for a detector parameter.

    Pure: it depends on nothing but its arguments. Names that are not detector parameters
    (``use_sim_time``, ...) are left to rclpy.

    :param name: parameter name.
    :param value: the Python value (``None`` when unset).
    :return: the reason, naming the parameter and what it takes, or ``''`` when acceptable.
    """
    if name not in PARAMETERS:
        return ''
    if value is None:
        return (f'{name} needs a value (unsetting it would remove the parameter); '
                f'{_CHECKS[name][1]}')
    check, wanted = _CHECKS[name]
    try:
        accepted = bool(check(value))
    except (TypeError, ValueError):  # a type no check expected: refused all the same
        accepted = False
    return '' if accepted else f'{name} takes {wanted}, got {value!r}'


def is_bundle_default(weights: Any) -> bool:
    """
    Tell whether an ``anomaly.ensemble_weights`` value means the bundle's own weights.

    :param weights: the value: ``[-1]`` (the declared default) or an empty list.
    :return: True for those.
    """
    return weights is None or list(weights) in ([], [-1])


def _number(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _weights(value: Any) -> bool:
    # rclpy gives integer and double arrays as array.array, the others as lists.
    if not isinstance(value, (list, tuple, array.array)):
        return False
    if is_bundle_default(value):
        return True
    return len(value) == 4 and all(_number(v, 0.0, 1000.0) for v in value) and sum(value) > 0


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


_NONNEGATIVE = (lambda v: _number(v, 0.0), 'a number >= 0')
_BOOL = (lambda v: isinstance(v, bool), 'true or false')
#: name -> (check, what it takes); every name of PARAMETERS has one.
_CHECKS: Dict[str, tuple] = {
    'bundle': (lambda v: isinstance(v, str), 'a directory path (string)'),
    'backend': (_one_of(*BACKEND_CHOICES), ', '.join(BACKEND_CHOICES)),
    'device': (lambda v: isinstance(v, str) and re.fullmatch(r'auto|cpu|cuda(:\d+)?', v),
               'auto, cpu, cuda or cuda:N'),
    'precision': (_one_of(*PRECISION_CHOICES), ', '.join(PRECISION_CHOICES)),
    'compile': (_one_of('', 'inductor', 'max-autotune', 'torch_tensorrt'),
                "'', inductor, max-autotune or torch_tensorrt"),
    'autostart': _BOOL,
    'input.reliable': _BOOL,
    'input.compressed': _BOOL,
    'input.max_pixels': (lambda v: _whole(v, 1, 1 << 40), 'a whole number >= 1'),
    'input.max_future_s': _NONNEGATIVE,
    'output.resolution': (_one_of('input', 'network'), 'input or network'),
    'output.overlay_alpha': (lambda v: _number(v, 0.0, 1.0), 'a number in [0, 1]'),
    'anomaly.threshold': (lambda v: _number(v) and (v == -1 or 0 <= v <= 1),
                          'a number in [0, 1], or -1 for the operating point'),
    'anomaly.operating_point': (_one_of('', *OPERATING_POINTS),
                                "'' (the bundle default) or " + ', '.join(OPERATING_POINTS)),
    'anomaly.ensemble_weights': (_weights, 'four numbers in [0, 1000], not all 0 (P(anomaly), '
                                 'entropy, perceptual, distance), or [-1] for the bundle '
                                 'default'),
    'diagnostics.period_s': (lambda v: _number(v, 0.01, 3600.0), 'a number in [0.01, 3600]'),
    'diagnostics.window': (lambda v: _whole(v, 1, 100_000), 'a whole number in [1, 100000]'),
    'diagnostics.latency_budget_ms': _NONNEGATIVE,
    'diagnostics.min_rate_hz': _NONNEGATIVE,
    'diagnostics.input_timeout_s': _NONNEGATIVE,
}
