# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The detector's parameters: names, defaults, descriptions, and which ones change at run time.

Parameters in :data:`RUNTIME_PARAMETERS` apply immediately (and invalid values are refused with
a reason); the others are read at ``configure`` and are refused while the node is configured.
"""

from pixel_anomaly_ros.bundle import OPERATING_POINTS
from pixel_anomaly_ros.runtime import BACKEND_CHOICES
from rcl_interfaces.msg import ParameterDescriptor

#: name -> (default, description)
PARAMETERS = {
    'bundle': ('', 'model bundle directory (bundle.yaml, weights, ONNX graphs)'),
    'backend': ('auto', ', '.join(BACKEND_CHOICES) + '; auto picks the fastest here'),
    'device': ('auto', 'auto, cpu or cuda[:N]'),
    'precision': ('fp16', 'fp32, fp16 (CUDA) or int8 (tensorrt; onnxruntime on the CPU); auto '
                  'falls back to what runs'),
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
    'anomaly.ensemble_weights': (None, 'SynBoost ensemble weights: four numbers (P(anomaly), '
                                 'entropy, perceptual, distance); unset = the bundle default'),
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
    'diagnostics.input_timeout_s'})


def declare_parameters(node) -> None:
    """
    Declare every parameter on a node with its description.

    :param node: the rclpy node.
    """
    for name, (default, description) in PARAMETERS.items():
        descriptor = ParameterDescriptor(description=description)
        if default is None:  # optional: no value until it is set (checked when applied)
            descriptor.dynamic_typing = True
        node.declare_parameter(name, default, descriptor)
