# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``detector_node``: camera images in; anomaly score, heatmap, mask, overlay and semantics out.

A lifecycle node. ``configure`` loads and validates the bundle and the backend, ``activate``
subscribes and starts the inference worker, ``deactivate`` stops it and frees the GPU memory;
with ``autostart`` (default) the node configures and activates itself. The subscription
callback only hands the message to a one-place slot: the newest frame wins, a frame replaced
while waiting is counted as dropped, and inference runs on the worker thread. Every callback is
short, so one executor thread serves them all: rclpy's MultiThreadedExecutor held frames back
for up to 1.4 s before their callback here, which lost them to the keep-last-1 reader
(``benchmarks/README.md``, "detector_node executor").

Every parameter value is checked by :func:`~pixel_anomaly_ros.ros.parameters.validate`, at
start-up and before anything of a set is applied, so a batch is applied whole or not at all.
One or two SIGINTs or a SIGTERM end the process cleanly within a few seconds even with a
multi-second frame in flight; the ``shutdown`` transition reports ``finalized`` and ends it too.
"""

import os
import sys
import threading
import time
from typing import List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from pixel_anomaly_ros.bundle import BundleError, load_bundle
from pixel_anomaly_ros.imaging import (check_stamp, compressed_to_rgb, image_to_rgb, ImageError,
                                       stamp_to_ns)
from pixel_anomaly_ros.operating_point import OperatingPoint
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.ros import diagnostics
from pixel_anomaly_ros.ros.frame_statistics import NodeStatistics
from pixel_anomaly_ros.ros.inference_worker import InferenceWorker
from pixel_anomaly_ros.ros.interrupts import record_interrupts
from pixel_anomaly_ros.ros.latest_frame import LatestFrameSlot
from pixel_anomaly_ros.ros.outputs import OutputTopics
from pixel_anomaly_ros.ros.parameters import (declare_parameters, is_bundle_default, PARAMETERS,
                                              RUNTIME_PARAMETERS, START_PARAMETERS, validate)
from pixel_anomaly_ros.runtime import BackendError
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode, State, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image

#: Seconds the process lives on after the ``shutdown`` transition: the transition's answer and
#: the last diagnostics are sent, and DDS resends what a loaded reader missed only while the
#: participant exists (without it a caller could wait forever for the answer).
DELIVERY_GRACE_S = 0.5


class DetectorNode(LifecycleNode):
    """Runs an anomaly pipeline on the newest camera image, off the executor thread."""

    def __init__(self, **kwargs):
        """
        Declare the parameters; the rest happens in the lifecycle transitions.

        :param kwargs: passed to ``rclpy.lifecycle.Node`` (e.g. ``parameter_overrides``).
        :raises ValueError: when a start-up parameter value is invalid (the reason names it).
        """
        super().__init__('detector_node', **kwargs)
        self.pipeline = None
        self.bundle = None
        self.outputs: Optional[OutputTopics] = None
        self.slot = LatestFrameSlot()
        self.last_configure_error = ''
        #: done when the ``shutdown`` transition has run: ``main`` then ends the process.
        self.finished = Future()
        self._subscription = None
        self._worker: Optional[InferenceWorker] = None
        self._lingering: List[InferenceWorker] = []  # stopped, still finishing a frame
        self._running = False
        self._configured = False
        self._finalized = False
        self._active_since: Optional[float] = None
        self._previous_snapshot = None
        self._network_outputs = False
        self._operating_point: Optional[OperatingPoint] = None
        self._applied = {}  # run-time parameter -> the value the node runs with
        declare_parameters(self)
        values = self._startup_values()
        self.statistics = NodeStatistics(values['diagnostics.window'])
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(values['diagnostics.period_s'],
                                                    self._publish_diagnostics)
        for name in RUNTIME_PARAMETERS:
            self._apply(name, values[name])
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _startup_values(self) -> dict:
        """Return every parameter's start-up value after :func:`validate` accepted all."""
        values = {name: self.get_parameter(name).value for name in PARAMETERS}
        if values['anomaly.ensemble_weights'] is None:  # `[]` in a parameter file: unset
            values['anomaly.ensemble_weights'] = []
        problems = [reason for reason in (validate(n, v) for n, v in values.items()) if reason]
        if problems:
            raise ValueError('; '.join(problems))
        return values

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
        self.outputs.overlay_alpha = self._applied['output.overlay_alpha']
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
        self._worker = InferenceWorker(self.slot, self._process).start()
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
        """Stop everything, report ``finalized`` and let ``main`` end the process."""
        self._stop()
        self._finalized = True
        self._publish_diagnostics()
        self.get_logger().info('finalized: the process ends')
        if not self.finished.done():
            self.finished.set_result(True)
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the worker (bounded wait) before the node goes away."""
        self._stop()
        self.slot.close()
        super().destroy_node()

    @property
    def worker_busy(self) -> bool:
        """Whether a stopped worker is still finishing a frame (its result is discarded)."""
        return any(worker.busy for worker in self._lingering)

    # Frames ------------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        self.statistics.frame_received()
        self.slot.put(msg)

    def _process(self, msg, stopped: threading.Event) -> None:
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
            if stopped.is_set():  # deactivated or shutting down while this frame ran
                return
            self.outputs.publish(topics, result, rgb, msg.header)
        except Exception as exc:  # noqa: B902 - any pipeline failure must not kill the node
            if stopped.is_set():
                return
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
        """Refuse the whole batch if one value is refused; else apply every value."""
        for parameter in parameters:
            reason = validate(parameter.name, parameter.value) or self._locked(parameter.name)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        reason = self._check_operating_point({p.name: p.value for p in parameters})
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        for parameter in parameters:
            if parameter.name in RUNTIME_PARAMETERS:
                self._apply(parameter.name, parameter.value)
        return SetParametersResult(successful=True)

    def _locked(self, name: str) -> str:
        """Say why a parameter cannot change now ('' when it can)."""
        if name in PARAMETERS and name not in RUNTIME_PARAMETERS | START_PARAMETERS \
                and self._configured:
            return (f'{name} takes effect at configure: deactivate and clean up the node, '
                    f'set it, then configure again')
        return ''

    def _apply(self, name: str, value) -> None:
        """Apply a validated run-time parameter."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value) if name != 'diagnostics.window' else int(value)
        elif name == 'anomaly.ensemble_weights':
            value = [] if is_bundle_default(value) else [float(v) for v in value]
        self._applied[name] = value
        if name in ('anomaly.threshold', 'anomaly.operating_point'):
            self._update_threshold()
        elif name == 'anomaly.ensemble_weights' and self.pipeline is not None:
            self.pipeline.set_ensemble_weights(value or self.bundle.spec.ensemble_weights())
        elif name == 'output.resolution':
            self._network_outputs = value == 'network'
        elif name == 'output.overlay_alpha' and self.outputs is not None:
            self.outputs.overlay_alpha = value
        elif name == 'diagnostics.window':
            self.statistics.set_window(value)
        elif name == 'diagnostics.period_s':
            self._diagnostics_timer.timer_period_ns = int(value * 1e9)
            self._diagnostics_timer.reset()

    def _check_operating_point(self, batch: dict) -> str:
        """Say why the bundle lacks the operating point a batch would leave ('' if it has it)."""
        if self.bundle is None:
            return ''
        name = batch.get('anomaly.operating_point',
                         self._applied.get('anomaly.operating_point', ''))
        try:
            self.bundle.spec.operating_point(name)
        except BundleError as exc:
            return f'anomaly.operating_point: {exc}'
        return ''

    def _update_threshold(self) -> None:
        """Set the mask threshold: anomaly.threshold when >= 0, else the operating point."""
        if self.bundle is None:
            return
        threshold = self._applied.get('anomaly.threshold', -1.0)
        point = self.bundle.spec.operating_point(self._applied.get('anomaly.operating_point', ''))
        if threshold != -1.0:
            point = OperatingPoint('anomaly.threshold', float(threshold))
        self._operating_point = point
        if self.pipeline is not None:
            self.pipeline.threshold = point.threshold

    def _publish_diagnostics(self) -> None:
        snapshot = self.statistics.snapshot(self.slot.dropped)
        thresholds = diagnostics.Thresholds(
            *(self._applied[f'diagnostics.{name}']
              for name in ('latency_budget_ms', 'min_rate_hz', 'input_timeout_s')))
        active = self._running
        since = time.monotonic() - self._active_since if active else 0.0
        level, message = diagnostics.assess(snapshot, self._previous_snapshot, thresholds,
                                            active, since)
        self._previous_snapshot = snapshot
        info = {'lifecycle_state': 'finalized' if self._finalized else 'active' if active else
                ('inactive' if self._configured else 'unconfigured')}
        info.update({f'param.{name}': repr(value) for name, value in self._applied.items()})
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
        reason = self._check_operating_point({})
        if reason:
            raise ValueError(reason)
        for name in ('anomaly.threshold', 'anomaly.operating_point', 'anomaly.ensemble_weights'):
            self._apply(name, self._applied[name])

    def _stop(self) -> None:
        """Unsubscribe, stop the worker (bounded wait) and free the pipeline."""
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._running = False
        worker, self._worker = self._worker, None
        if worker is not None and not worker.stop():
            self._lingering.append(worker)
            text = ('a frame is still being processed: it finishes in the background and its '
                    'result is discarded')
            if self.context.ok():
                self.get_logger().warning(text)
            else:  # after a signal: the logger's /rosout publisher is gone
                print(f'[WARN] [{self.get_name()}]: {text}', file=sys.stderr)
        self._lingering = [w for w in self._lingering if w.busy]
        self._active_since = None
        self.slot.clear()
        if self.pipeline is not None:
            if not self._lingering:  # never free what a frame in flight still uses
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
    Run the node until interrupted or shut down (configuring and activating it when ``autostart``).

    SIGINT (once or twice) and SIGTERM end it cleanly with status 0 (see
    :mod:`~pixel_anomaly_ros.ros.interrupts`); so does the ``shutdown`` transition. A frame
    still in flight after the bounded wait is abandoned: the process then exits without
    waiting for it (``os._exit`` after the ROS clean-up, as the thread cannot be interrupted).

    :param args: command-line arguments (``--ros-args ...``).
    :return: exit status (1 when a parameter is invalid or autostart cannot configure or
        activate the node).
    """
    interrupts = record_interrupts()
    rclpy.init(args=args)
    node = executor = None
    status = 0
    try:
        try:
            node = DetectorNode()
            if node.get_parameter('autostart').value:
                if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                    raise ValueError(node.last_configure_error)
                if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                    raise ValueError('activation failed (see the log)')
        except (ParameterException, ValueError) as exc:
            if not interrupts.received:
                print(f'detector_node: cannot start: {exc}', file=sys.stderr)
                status = 1
        else:
            executor = SingleThreadedExecutor()  # why not multi-threaded: the module doc
            executor.add_node(node)
            executor.spin_until_future_complete(node.finished)
            if node.finished.done():
                time.sleep(DELIVERY_GRACE_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: B902 - a signal during start-up invalidates the ROS context
        if not interrupts.received:
            raise
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if node is not None and node.worker_busy:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == '__main__':
    sys.exit(main())
