# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A detector_node in a child process, fed frames and watched by a client node in this process.

Shared by ``replay`` (a bag through the node) and ``bench --node`` (the node's overhead). The
node runs on a private ROS domain (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``) with reliable
input; the client publishes on ``image``, restamping every frame with the current time so that
outputs can be matched to inputs by their header stamp, records when each output topic arrived,
and keeps the node's ``/diagnostics`` counters. With ``compressed`` the frames are
CompressedImage messages on ``image/compressed`` (the node's ``input.compressed``). After the
last frame :meth:`drain` waits until the node accounts for every frame sent; a caller that
sends one frame at a time waits for each with :meth:`wait_for_frame`. With
``rss_period_s`` a thread samples the resident memory of the node's process tree
(``rss_samples``) for soak runs.
"""

import os
import subprocess
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.imaging import ns_to_stamp, stamp_to_ns
from pixel_anomaly_ros.ros.node_process import (detector_command, ros_environment,
                                                start_process, stop_process_group)
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image

#: Node counters read from ``/diagnostics``.
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
            'frames_failed')
#: Node parameters every session sets: reliable input, frequent diagnostics, no input timeout.
SESSION_PARAMETERS = {'input.reliable': 'true', 'diagnostics.period_s': 0.25,
                      'diagnostics.input_timeout_s': 0.0}


class SessionError(PixelAnomalyError, RuntimeError):
    """The node could not be started or did not answer; the message has its log tail."""


class DetectorSession:
    """The node process, this process's ROS context, and what was sent and received."""

    def __init__(self, parameters: Dict[str, object], outputs: Sequence[str] = ('anomaly/score',),
                 on_output: Optional[Callable[[str, int, Image], None]] = None,
                 domain_id: Optional[int] = None, timeout_s: float = 60.0,
                 environment: Optional[Dict[str, str]] = None, compressed: bool = False,
                 rss_period_s: Optional[float] = None):
        """
        Prepare a session; :meth:`__enter__` starts the node and the client.

        :param parameters: detector_node parameters (``bundle``, ``backend``, ...), on top of
            :data:`SESSION_PARAMETERS`.
        :param outputs: output topics to subscribe to; the first one decides whether a frame
            was answered, a frame is complete when all have arrived.
        :param on_output: called as ``on_output(topic, stamp sent, message)`` on the executor
            thread the first time each output of a sent (not warm-up) frame arrives.
        :param domain_id: ROS domain of the node and the client (default: from the process id).
        :param timeout_s: how long to wait for the node to start, answer and finish.
        :param environment: further environment variables for both processes (e.g. the Fast
            DDS shared-memory profile).
        :param compressed: send CompressedImage frames on ``image/compressed``.
        :param rss_period_s: sample the node's memory this often (None: not at all).
        """
        self.compressed = compressed
        self.parameters = {**SESSION_PARAMETERS, **parameters,
                           **({'input.compressed': 'true'} if compressed else {})}
        self.outputs = tuple(outputs)
        self.on_output = on_output
        self.domain_id = domain_id if domain_id is not None else 20 + os.getpid() % 80
        self.timeout_s = timeout_s
        self.environment = dict(environment or {})
        self.sent: Dict[int, object] = {}  # stamp sent -> the caller's tag (e.g. bag stamp)
        self.arrivals: Dict[int, Dict[str, int]] = {}  # stamp -> {topic: arrival ns}
        self.warmup_sent = 0
        self.diagnostics: Dict[str, str] = {}
        self.final_diagnostics: Dict[str, str] = {}
        #: ``(time.monotonic(), bytes)``: resident memory of the node process and its children.
        self.rss_samples: List[Tuple[float, int]] = []
        self.rss_period_s = rss_period_s
        self._sampling = threading.Event()
        self._sampler: Optional[threading.Thread] = None
        self._warmup_stamps: set = set()
        self._last_stamp = 0
        self._lock = threading.Lock()
        self._proc: Optional[subprocess.Popen] = None
        self._log = None
        self._ros_environment = None
        self.executor = None

    # Start and stop ----------------------------------------------------------------------

    def __enter__(self) -> 'DetectorSession':
        """Start detector_node and the client node."""
        self._ros_environment = ros_environment(self.domain_id, **self.environment)
        env = self._ros_environment.__enter__()
        try:
            self._log = tempfile.TemporaryFile(mode='w+')
            self._proc = start_process(detector_command(self.parameters), env,
                                       stdout=self._log)
            if self.rss_period_s:
                self._sampler = threading.Thread(target=self._sample_rss, name='session_rss',
                                                 daemon=True)
                self._sampler.start()
            self._start_client()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_client(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('pixel_anomaly_session', context=self.context,
                                      start_parameter_services=False)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = self.node.create_publisher(
            CompressedImage if self.compressed else Image,
            'image/compressed' if self.compressed else 'image', reliable)
        self.subscriptions = [
            self.node.create_subscription(Image, topic,
                                          lambda msg, t=topic: self._on_output(t, msg),
                                          reliable)
            for topic in self.outputs]
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      reliable)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, name='session_spin',
                                      daemon=True)
        self._spin.start()

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Stop the node (SIGINT to its process group) and the client."""
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        try:
            if self._proc is not None:
                stop_process_group(self._proc)
        finally:
            if self.executor is not None:
                self.executor.shutdown()
                self._spin.join(timeout=5)
                self.node.destroy_node()
                self.context.try_shutdown()
                self.executor = None
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._ros_environment is not None:
                self._ros_environment.__exit__(None, None, None)
                self._ros_environment = None

    def _sample_rss(self) -> None:
        import psutil
        try:
            process = psutil.Process(self._proc.pid)
            while not self._sampling.wait(self.rss_period_s):
                tree = [process] + process.children(recursive=True)
                self.rss_samples.append((time.monotonic(),
                                         sum(p.memory_info().rss for p in tree)))
        except psutil.Error:  # the node has exited: check_alive reports it
            return

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the node's output, joined on one line."""
        if self._log is None:
            return ''
        self._log.seek(0)
        return ' | '.join(self._log.read().strip().splitlines()[-lines:])

    def check_alive(self, doing: str) -> None:
        """
        Raise when the node has exited.

        :param doing: what the session was doing, for the message.
        :raises SessionError: with the node's exit status and log tail.
        """
        if self._proc.poll() is not None:
            raise SessionError(f'detector_node exited (status {self._proc.returncode}) while '
                               f'{doing}: {self.log_tail()}')

    def _wait(self, condition, seconds: float, doing: str) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            self.check_alive(doing)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # Callbacks (executor thread) ---------------------------------------------------------

    def _on_output(self, topic: str, msg: Image) -> None:
        arrival = time.time_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        with self._lock:
            if stamp not in self.sent and stamp not in self._warmup_stamps:
                return
            seen = self.arrivals.setdefault(stamp, {})
            if topic in seen:
                return
            seen[topic] = arrival
        if self.on_output is not None and stamp in self.sent:
            self.on_output(topic, stamp, msg)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id.endswith('detector_node'):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    # Phases ------------------------------------------------------------------------------

    def _stamp_now(self, msg: Image) -> int:
        """Stamp a message with the current time (distinct from every stamp sent before)."""
        stamp = max(time.time_ns(), self._last_stamp + 1)
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_stamp(stamp)
        self._last_stamp = stamp
        return stamp

    def _answered_stamp(self, stamp: int) -> bool:
        with self._lock:
            return self.outputs[0] in self.arrivals.get(stamp, {})

    def warm_up(self, msg: Image, count: int) -> None:
        """
        Wait for the node to subscribe, then until it answered ``count`` frames (not counted).

        :param msg: a frame to send.
        :param count: answers to wait for.
        :raises SessionError: when the node does not subscribe or answer in time.
        """
        matched = self._wait(lambda: self.publisher.get_subscription_count() > 0
                             and self.subscriptions[0].get_publisher_count() > 0,
                             self.timeout_s, 'starting')
        if not matched:
            raise SessionError(f'detector_node did not subscribe to image within '
                               f'{self.timeout_s:.0f} s: {self.log_tail()}')
        deadline = time.monotonic() + self.timeout_s
        answered = 0
        while answered < count:
            stamp = self._stamp_now(msg)
            with self._lock:
                self._warmup_stamps.add(stamp)
            self.publisher.publish(msg)
            self.warmup_sent += 1
            # The node may not see this process's subscription yet: resend after a while.
            if self._wait(lambda: self._answered_stamp(stamp), 5.0, 'warming up'):
                answered += 1
            elif time.monotonic() > deadline:
                raise SessionError(f'detector_node answered no warm-up frame within '
                                   f'{self.timeout_s:.0f} s: {self.log_tail()}')

    def publish(self, msg: Image, tag: object = None) -> int:
        """
        Stamp a frame with the current time and send it.

        :param msg: the frame.
        :param tag: kept in :attr:`sent` under the stamp (e.g. the frame's stamp in a bag).
        :return: the stamp sent.
        """
        self.check_alive('sending frames')
        stamp = self._stamp_now(msg)
        with self._lock:
            self.sent[stamp] = tag
        self.publisher.publish(msg)
        return stamp

    def wait_for_frame(self, stamp: int) -> bool:
        """
        Wait until the node answered a frame, or settled it without an answer.

        Settled: the node's ``/diagnostics`` counters account for every frame sent, so a
        rejected or failed frame ends the wait too.

        :param stamp: the stamp :meth:`publish` returned.
        :return: whether the frame's first output arrived (``False`` also after ``timeout_s``).
        """
        self._wait(lambda: self._answered_stamp(stamp) or self._node_done(), self.timeout_s,
                   'waiting for an answer')
        return self._answered_stamp(stamp)

    def _unanswered_warmups(self) -> int:
        with self._lock:
            return sum(1 for s in self._warmup_stamps
                       if self.outputs[0] not in self.arrivals.get(s, {}))

    def _idle_state(self) -> Optional[tuple]:
        """
        Return the node's counters when it has settled every frame it received, else None.

        Settled: each received frame was processed, dropped, rejected or failed, and each
        processed frame's first output arrived here. Warm-up frames left unanswered were taken
        before the node saw this process's subscription: processed without publishing, so in
        none of its counters.
        """
        values = self.diagnostics
        try:
            received = int(values['frames_received'])
            settled = sum(int(values[k]) for k in COUNTERS[1:])
            processed = int(values['frames_processed'])
        except (KeyError, ValueError):
            return None
        with self._lock:
            answered = sum(1 for seen in self.arrivals.values() if self.outputs[0] in seen)
        if settled + self._unanswered_warmups() < received or answered < processed:
            return None
        return received, settled, answered

    def _node_done(self) -> bool:
        """Tell whether the node received every frame sent and has settled all of them."""
        state = self._idle_state()
        return state is not None and state[0] >= len(self.sent) + self.warmup_sent

    def drain(self, quiet_s: float = 2.0) -> None:
        """
        Wait until every frame is complete, or the node has settled every frame sent.

        Frames lost before the node (a keep-last reader overwritten on an overloaded machine)
        never reach its counters: the wait also ends when the node stayed idle with unchanged
        counters for ``quiet_s``.

        :param quiet_s: idle time that ends the wait.
        """
        quiet = {'state': None, 'since': 0.0}

        def idle_long_enough() -> bool:
            state, now = self._idle_state(), time.monotonic()
            if state is None or state != quiet['state']:
                quiet.update(state=state, since=now)
                return False
            return now - quiet['since'] >= quiet_s

        self._wait(lambda: len(self.complete()) == len(self.sent) or self._node_done()
                   or idle_long_enough(), self.timeout_s, 'finishing')
        # The node's final counters arrive with its next /diagnostics messages.
        quiet['state'] = None
        self._wait(lambda: self._node_done() or idle_long_enough(), 2.0 * quiet_s,
                   'finishing')
        self.final_diagnostics = dict(self.diagnostics)

    # Results -----------------------------------------------------------------------------

    def answered(self) -> Dict[int, object]:
        """Return ``{stamp sent: tag}`` of the frames whose first output arrived."""
        with self._lock:
            return {s: tag for s, tag in self.sent.items()
                    if self.outputs[0] in self.arrivals.get(s, {})}

    def complete(self) -> Dict[int, object]:
        """Return ``{stamp sent: tag}`` of the frames all of whose outputs arrived."""
        with self._lock:
            return {s: tag for s, tag in self.sent.items()
                    if len(self.arrivals.get(s, {})) == len(self.outputs)}

    def node_counters(self) -> Dict[str, int]:
        """Return the node's final counters without the warm-up frames."""
        warmups = {'frames_received': self.warmup_sent,
                   'frames_processed': self.warmup_sent - self._unanswered_warmups()}
        return {key: int(self.final_diagnostics[key]) - warmups.get(key, 0)
                for key in COUNTERS if key in self.final_diagnostics}

    def node_stage_p50_ms(self) -> Dict[str, float]:
        """Return the node's final per-stage medians from ``/diagnostics``."""
        return {k[:-len('_ms_p50')]: float(v) for k, v in self.final_diagnostics.items()
                if k.endswith('_ms_p50')}
