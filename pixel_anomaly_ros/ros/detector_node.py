# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``detector_node``: camera images in; anomaly score, heatmap, mask, overlay and semantics out.

A lifecycle node. ``configure`` loads and validates the bundle and the backend, ``activate``
subscribes and starts the inference worker, ``deactivate`` stops it and frees the GPU memory;
with ``autostart`` (default) the node configures and activates itself. The subscription
callback only hands the message to a one-place slot: the newest frame wins, a frame replaced
while waiting is counted as dropped, and inference runs on the worker thread.
"""

import sys
import threading
import time
from typing import List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from pixel_anomaly_ros.bundle import BundleError, load_bundle, OperatingPoint
from pixel_anomaly_ros.imaging import (check_stamp, compressed_to_rgb, image_to_rgb, ImageError,
                                       stamp_to_ns)
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.ros import diagnostics
from pixel_anomaly_ros.ros.frame_statistics import NodeStatistics
from pixel_anomaly_ros.ros.latest_frame import LatestFrameSlot
from pixel_anomaly_ros.ros.outputs import OutputTopics
from pixel_anomaly_ros.ros.parameters import declare_parameters, RUNTIME_PARAMETERS
from pixel_anomaly_ros.runtime import BackendError
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode, State, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image


class DetectorNode(LifecycleNode):
    """Runs an anomaly pipeline on the newest camera image, off the executor thread."""

    def __init__(self, **kwargs):
        """
        Declare the parameters; the rest happens in the lifecycle transitions.

        :param kwargs: passed to ``rclpy.lifecycle.Node`` (e.g. ``parameter_overrides``).
        """
        super().__init__('detector_node', **kwargs)
        self.pipeline = None
        self.bundle = None
        self.outputs: Optional[OutputTopics] = None
        self.slot = LatestFrameSlot()
        self.last_configure_error = ''
        self._subscription = None
        self._worker: Optional[threading.Thread] = None
        self._running = False
        self._configured = False
        self._active_since: Optional[float] = None
        self._previous_snapshot = None
        self._network_outputs = False
        self._operating_point: Optional[OperatingPoint] = None
        self._batch = {}
        declare_parameters(self)
        self._apply('output.resolution', self.get_parameter('output.resolution').value)
        self.statistics = NodeStatistics(self.get_parameter('diagnostics.window').value)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(
            self.get_parameter('diagnostics.period_s').value, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # Lifecycle ---------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the bundle and build the pipeline on the backend; fail with the reason."""
        try:
            self._load()
        except (BundleError, BackendError, ValueError) as exc:
            self.last_configure_error = str(exc)
            self.get_logger().error(f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.outputs = OutputTopics(self.create_publisher)
        self.outputs.overlay_alpha = self.get_parameter('output.overlay_alpha').value
        self._configured = True
        info = self.pipeline.executor.describe()
        self.get_logger().info(
            f'configured: {self.bundle.spec.name} ({self.bundle.spec.variant}) on '
            + ' '.join(str(v) for v in info.values())
            + f'; mask at {self._operating_point.describe()}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Rebuild a freed pipeline, start the worker and subscribe."""
        if self.pipeline is None:
            try:
                self._load()
            except (BundleError, BackendError, ValueError) as exc:
                self.get_logger().error(f'activate failed: {exc}')
                return TransitionCallbackReturn.FAILURE
        self._running = True
        self._worker = threading.Thread(target=self._work, name='detector_worker', daemon=True)
        self._worker.start()
        compressed = self.get_parameter('input.compressed').value
        reliable = self.get_parameter('input.reliable').value
        self._decode = compressed_to_rgb if compressed else image_to_rgb
        self._max_pixels = self.get_parameter('input.max_pixels').value
        self._max_future_s = self.get_parameter('input.max_future_s').value
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        self._subscription = self.create_subscription(
            CompressedImage if compressed else Image,
            'image/compressed' if compressed else 'image', self._on_image, qos)
        self._active_since = time.monotonic()
        self.get_logger().info(f'active: listening on {self._subscription.topic_name}')
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Unsubscribe, stop the worker and free the pipeline (GPU memory)."""
        self._stop()
        self.get_logger().info('inactive: unsubscribed, pipeline memory freed')
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Drop the output topics and the bundle."""
        self._stop()
        if self.outputs is not None:
            self.outputs.destroy(self.destroy_publisher)
            self.outputs = None
        self.bundle = None
        self._configured = False
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Stop everything."""
        self._stop()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the worker before the node goes away."""
        self._stop()
        self.slot.close()
        super().destroy_node()

    # Frames ------------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        self.statistics.frame_received()
        self.slot.put(msg)

    def _work(self) -> None:
        while self._running:
            msg = self.slot.take(timeout=0.2)
            if msg is not None and self._running:
                self._process(msg)

    def _process(self, msg) -> None:
        start = time.perf_counter()
        clock = self.get_clock()
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
            check_stamp(stamp_ns, clock.now().nanoseconds, self._max_future_s)
            rgb = self._decode(msg, self._max_pixels)
        except ImageError as exc:
            self.statistics.frame_rejected(exc.reason, str(exc))
            self.get_logger().warning(f'rejected frame: {exc}', throttle_duration_sec=5.0)
            return
        topics = self.outputs.wanted()
        if not topics:
            return
        decoded = time.perf_counter()
        try:
            result = self.pipeline(rgb, output_size=(self.pipeline.network_size
                                                     if self._network_outputs else None))
            inferred = time.perf_counter()
            self.outputs.publish(topics, result, rgb, msg.header)
        except Exception as exc:  # noqa: B902 - any pipeline failure must not kill the node
            self.statistics.frame_failed(f'{type(exc).__name__}: {exc}')
            self.get_logger().error(f'processing failed: {exc}', throttle_duration_sec=5.0)
            return
        done = time.perf_counter()
        latency_ms = (clock.now().nanoseconds - stamp_ns) / 1e6
        stages = dict(result.timings_ms, decode=(decoded - start) * 1000.0,
                      publish=(done - inferred) * 1000.0)
        self.statistics.frame_processed(stages, (done - start) * 1000.0, latency_ms)

    # Parameters and diagnostics ----------------------------------------------------------

    def _on_set_parameters(self, parameters: List) -> SetParametersResult:
        self._batch = {parameter.name: parameter.value for parameter in parameters}
        try:
            for parameter in parameters:
                reason = self._apply(parameter.name, parameter.value)
                if reason:
                    return SetParametersResult(successful=False, reason=reason)
        finally:
            self._batch = {}
        return SetParametersResult(successful=True)

    def _apply(self, name: str, value) -> str:
        """Apply a run-time parameter; return why it is refused ('' when accepted)."""
        if name not in RUNTIME_PARAMETERS:
            if self._configured and name != 'autostart':
                return (f'{name} takes effect at configure: deactivate and clean up the node, '
                        f'set it, then configure again')
            return ''
        if name in ('anomaly.threshold', 'anomaly.operating_point'):
            return self._apply_threshold(name, value)
        elif name == 'anomaly.ensemble_weights':
            if self.pipeline is not None:
                try:
                    self.pipeline.set_ensemble_weights(
                        self.bundle.spec.ensemble_weights() if value is None else list(value))
                except ValueError as exc:
                    return str(exc)
        elif name == 'output.resolution':
            if value not in ('input', 'network'):
                return f'output.resolution must be input or network, got {value!r}'
            self._network_outputs = value == 'network'
        elif name == 'output.overlay_alpha':
            if not 0.0 <= value <= 1.0:
                return f'output.overlay_alpha must be in [0, 1], got {value}'
            if self.outputs is not None:
                self.outputs.overlay_alpha = value
        elif name.startswith('diagnostics.') and value < 0:
            return f'{name} must be >= 0, got {value}'
        return ''

    def _apply_threshold(self, name: str, value) -> str:
        """Set the mask threshold from anomaly.threshold, else the named operating point."""
        values = {key: self._batch.get(key, self.get_parameter(key).value)
                  for key in ('anomaly.threshold', 'anomaly.operating_point')}
        values[name] = value
        threshold = values['anomaly.threshold']
        if not (threshold == -1.0 or 0.0 <= threshold <= 1.0):
            return f'anomaly.threshold must be in [0, 1] (or -1 for the operating point), ' \
                   f'got {threshold}'
        if self.bundle is None:
            return ''
        try:
            point = self.bundle.spec.operating_point(values['anomaly.operating_point'])
        except BundleError as exc:
            return f'anomaly.operating_point: {exc}'
        if threshold != -1.0:
            point = OperatingPoint('anomaly.threshold', float(threshold))
        self._operating_point = point
        if self.pipeline is not None:
            self.pipeline.threshold = point.threshold
        return ''

    def _publish_diagnostics(self) -> None:
        snapshot = self.statistics.snapshot(self.slot.dropped)
        thresholds = diagnostics.Thresholds(
            self.get_parameter('diagnostics.latency_budget_ms').value,
            self.get_parameter('diagnostics.min_rate_hz').value,
            self.get_parameter('diagnostics.input_timeout_s').value)
        active = self._running
        since = time.monotonic() - self._active_since if active else 0.0
        level, message = diagnostics.assess(snapshot, self._previous_snapshot, thresholds,
                                            active, since)
        self._previous_snapshot = snapshot
        info = {'lifecycle_state': 'active' if active else
                ('inactive' if self._configured else 'unconfigured')}
        if self.pipeline is not None:
            info.update(self.pipeline.executor.describe())
        if self.bundle is not None:
            info.update(model=self.bundle.spec.name, variant=self.bundle.spec.variant)
        if self._operating_point is not None:
            info.update(operating_point=self._operating_point.describe(),
                        mask_threshold=f'{self._operating_point.threshold:.6g}')
        self._diagnostics_pub.publish(diagnostics.diagnostic_array(
            snapshot, level, message, self.get_fully_qualified_name(), info,
            self.get_clock().now().to_msg()))

    # Helpers -----------------------------------------------------------------------------

    def _load(self) -> None:
        get = self.get_parameter
        path = get('bundle').value
        if not path:
            raise BundleError('parameter "bundle" is empty; set it to a bundle directory, e.g. '
                              '--ros-args -p bundle:=models/demo_light')
        self.bundle = load_bundle(path)
        self.pipeline = create_pipeline(self.bundle, get('backend').value, _device(get),
                                        get('precision').value,
                                        compile_mode=get('compile').value or None)
        for name in ('anomaly.threshold', 'anomaly.operating_point', 'anomaly.ensemble_weights'):
            reason = self._apply(name, get(name).value)
            if reason:
                raise ValueError(reason)

    def _stop(self) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._running = False
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join()
        self._worker = None
        self._active_since = None
        self.slot.clear()
        if self.pipeline is not None:
            self.pipeline.executor.close()
            self.pipeline = None


def _device(get) -> str:
    device = get('device').value
    if device != 'auto' or get('backend').value == 'auto':
        return device
    try:
        import torch
    except ImportError:  # ONNX Runtime bundles run without torch
        return 'cpu'
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def main(args: Optional[list] = None) -> int:
    """
    Run the node until interrupted (configuring and activating it when ``autostart``).

    :param args: command-line arguments (``--ros-args ...``).
    :return: exit status (1 when autostart cannot configure or activate the node).
    """
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = DetectorNode()
        except (ParameterException, ValueError) as exc:
            print(f'detector_node: cannot start: {exc}', file=sys.stderr)
            return 1
        if node.get_parameter('autostart').value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                print(f'detector_node: cannot start: {node.last_configure_error}',
                      file=sys.stderr)
                return 1
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                print('detector_node: cannot start: activation failed (see the log)',
                      file=sys.stderr)
                return 1
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
