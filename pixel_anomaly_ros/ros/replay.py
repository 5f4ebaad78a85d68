# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Replay a bag into a running detector_node over DDS and report what came back.

``replay`` starts ``detector_node`` in its own process group on a private ROS domain
(``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, reliable input QoS, outputs at the camera
resolution), waits until it subscribes and answers warm-up frames, then publishes the bag's
camera images on ``image`` at the recorded rate (header stamp differences) or a fixed rate.
Each image is restamped with the current time just before it is published; outputs are
matched to inputs by that stamp, and the end-to-end latency of a frame is the arrival time of
its ``anomaly/score`` here minus the stamp sent. Received scores are spooled to disk. After
the last frame the node is given time to finish (until its ``/diagnostics`` counters account
for every frame sent), then it is stopped with SIGINT to its process group.

With a label topic, the answered frames are paired with the bag's labels by header stamp
(:class:`~pixel_anomaly_ros.evaluation.datasets.BagDataset`) and get the same metrics as
``evaluate`` (:class:`~pixel_anomaly_ros.evaluation.evaluate.Evaluator`); the mask is
``score >= threshold`` of the bundle, as in the node. The report adds the frames sent,
answered and unanswered, the node's own counters (received, processed, dropped, rejected,
failed; warm-up frames excluded) and its per-stage medians.
"""

import datetime
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Dict, Optional, Union

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.evaluation.bags import BagError, decode_image, list_topics, read_images
from pixel_anomaly_ros.evaluation.datasets import open_bag
from pixel_anomaly_ros.evaluation.evaluate import BUNDLE, Evaluator, example_positions
from pixel_anomaly_ros.evaluation.report import check_output_dir, EvaluationResult, write_report
from pixel_anomaly_ros.ros.conversions import numpy_to_image
from pixel_anomaly_ros.ros.node_process import (detector_command, ros_environment,
                                                start_process, stop_process_group)
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from tqdm import tqdm

#: Node counters reported from ``/diagnostics``.
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
            'frames_failed')


class ReplayError(RuntimeError):
    """The node could not be started or did not answer; the message has its log tail."""


def replay(bag: Union[str, Path], image_topic: str, label_topic: Optional[str] = None,
           rate: Optional[float] = None, *, bundle: Union[str, Path],
           out: Optional[Union[str, Path]] = None, backend: str = 'torch',
           device: str = 'cpu', precision: str = 'fp32', semantic_topic: Optional[str] = None,
           tolerance_ns: int = 0, binned: bool = False, track: str = 'anomaly',
           examples: int = 4, warmup: int = 2, timeout_s: float = 60.0,
           domain_id: Optional[int] = None, progress: bool = True) -> EvaluationResult:
    """
    Play a bag's camera topic into detector_node and measure metrics, latency and drops.

    :param bag: rosbag2 directory or ``.mcap``/``.db3`` file.
    :param image_topic: raw ``sensor_msgs/Image`` camera topic in the bag.
    :param label_topic: anomaly label topic (mono8 0/1/255) for the metrics; None measures
        latency and drops only.
    :param rate: publish at this many Hz; None keeps the recorded header-stamp spacing.
    :param bundle: the bundle the node loads.
    :param out: report directory to write (``None``: only return the result).
    :param backend: the node's backend.
    :param device: the node's device.
    :param precision: the node's precision.
    :param semantic_topic: optional train-id topic of the bag; the node's
        ``semantic/labels`` are then recorded too, for mIoU.
    :param tolerance_ns: largest stamp difference between an image and its label.
    :param binned: binned instead of exact pixel metrics.
    :param track: component size filters, ``'anomaly'`` or ``'obstacle'``.
    :param examples: number of example frames in the report.
    :param warmup: frames the node must answer before the replay starts (not counted).
    :param timeout_s: how long to wait for the node to start, to answer a warm-up frame and
        to finish after the last frame.
    :param domain_id: ROS domain of the node and this process (default: from the process id).
    :param progress: show a progress bar.
    :return: the result; :attr:`EvaluationResult.replay` holds the replay figures.
    :raises BagError: for a missing bag or topic.
    :raises DatasetError: for a label topic that does not pair with the images.
    :raises BundleError: for a broken bundle.
    :raises ReplayError: when the node does not start or answer.
    :raises ValueError: for a bad rate or an ``out`` that is not a report directory.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f'rate must be positive, got {rate}')
    if out is not None:
        check_output_dir(out)
    loaded = load_bundle(bundle)
    topics = list_topics(bag)
    if topics.get(image_topic) != 'sensor_msgs/msg/Image':
        raise BagError(f'bag {bag} has no raw sensor_msgs/msg/Image topic {image_topic!r}; it '
                       f'has: ' + ', '.join(f'{t} ({m})' for t, m in sorted(topics.items())))
    dataset = None
    if label_topic is not None:
        dataset = open_bag(bag, image_topic, label_topic, semantic_topic, tolerance_ns)
    spool_parent = Path(out).resolve().parent if out is not None else None
    spool = Path(tempfile.mkdtemp(prefix='.pixel-anomaly-replay-',
                                  dir=spool_parent if spool_parent and spool_parent.is_dir()
                                  else None))
    try:
        session = _Session(loaded.path, backend, device, precision, spool,
                           semantic=semantic_topic is not None, domain_id=domain_id,
                           timeout_s=timeout_s)
        with session:
            session.warm_up(bag, image_topic, warmup)
            session.play(bag, image_topic, rate, progress)
            session.drain()
        result = _evaluate(session, dataset, loaded, binned, track, examples, spool)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    result.info.update({
        'bundle': loaded.spec.name, 'variant': loaded.spec.variant,
        'bundle_path': str(loaded.path), 'backend': backend, 'device': device,
        'precision': precision, 'threshold': loaded.spec.threshold, 'bag': str(bag),
        'image_topic': image_topic, 'label_topic': label_topic or '—',
        'rate': f'{rate} Hz' if rate else 'recorded',
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')})
    if out is not None:
        write_report(result, out)
    return result


def _evaluate(session: '_Session', dataset, bundle, binned: bool, track: str, examples: int,
              spool: Path) -> EvaluationResult:
    answered = session.answered()
    # Example positions assume every answered frame is labelled (fewer examples otherwise).
    with Evaluator((BUNDLE,), binned, track=track, num_classes=bundle.spec.num_classes,
                   threshold=bundle.spec.threshold,
                   examples=example_positions(len(answered), examples),
                   spool_dir=spool) as evaluator:
        for sent, bag_stamp in answered.items():
            evaluator.add_timings({'end_to_end': (session.arrivals[sent] - sent) / 1e6})
        by_bag = {bag_stamp: sent for sent, bag_stamp in answered.items()}
        for sample in (dataset if dataset is not None else ()):
            sent = by_bag.get(int(sample.name))
            if sent is None:
                continue
            score = np.load(spool / f'{sent}_score.npy')
            ids_path = spool / f'{sent}_labels.npy'
            train_ids = np.load(ids_path) if ids_path.is_file() else None
            evaluator.add(sample.name, sample.image, sample.anomaly, score,
                          train_ids=train_ids, semantic=sample.semantic)
        result = evaluator.finish(
            f'Replay evaluation: {bundle.spec.name} through detector_node', {})
    result.replay = session.figures()
    return result


class _Session:
    """The node process, this process's ROS context, and what was sent and received."""

    def __init__(self, bundle_path: Path, backend: str, device: str, precision: str,
                 spool: Path, semantic: bool, domain_id: Optional[int], timeout_s: float):
        self.bundle_path, self.backend, self.device = bundle_path, backend, device
        self.precision, self.spool, self.semantic = precision, spool, semantic
        self.domain_id = domain_id if domain_id is not None else 20 + os.getpid() % 80
        self.timeout_s = timeout_s
        self.sent: Dict[int, int] = {}  # stamp sent -> bag stamp
        self.arrivals: Dict[int, int] = {}  # stamp sent -> arrival time (ns)
        self.labels_received: set = set()
        self.warmup_sent = 0
        self.play_seconds = 0.0
        self.diagnostics: Dict[str, str] = {}
        self._warmup_stamps: set = set()
        self._last_stamp = 0
        self.final_diagnostics: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._proc: Optional[subprocess.Popen] = None
        self._log = None
        self._environment = None

    # Start and stop ----------------------------------------------------------------------

    def __enter__(self) -> '_Session':
        self._environment = ros_environment(self.domain_id)
        env = self._environment.__enter__()
        try:
            self._log = tempfile.TemporaryFile(mode='w+')
            self._proc = start_process(detector_command({
                'bundle': self.bundle_path, 'backend': self.backend, 'device': self.device,
                'precision': self.precision, 'input.reliable': 'true',
                'output.resolution': 'input', 'diagnostics.period_s': 0.25,
                'diagnostics.input_timeout_s': 0.0}), env, stdout=self._log)
            self._start_client()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_client(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('pixel_anomaly_replay', context=self.context,
                                      start_parameter_services=False)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = self.node.create_publisher(Image, 'image', reliable)
        self.score_sub = self.node.create_subscription(Image, 'anomaly/score', self._on_score,
                                                       reliable)
        if self.semantic:
            self.node.create_subscription(Image, 'semantic/labels', self._on_labels, reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      reliable)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, name='replay_spin',
                                      daemon=True)
        self._spin.start()

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if self._proc is not None:
                stop_process_group(self._proc)
        finally:
            if getattr(self, 'executor', None) is not None:
                self.executor.shutdown()
                self._spin.join(timeout=5)
                self.node.destroy_node()
                self.context.try_shutdown()
                self.executor = None
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._environment is not None:
                self._environment.__exit__(None, None, None)
                self._environment = None

    def _log_tail(self, lines: int = 15) -> str:
        if self._log is None:
            return ''
        self._log.seek(0)
        return ' | '.join(self._log.read().strip().splitlines()[-lines:])

    def _check_alive(self, doing: str) -> None:
        if self._proc.poll() is not None:
            raise ReplayError(f'detector_node exited (status {self._proc.returncode}) while '
                              f'{doing}: {self._log_tail()}')

    def _wait(self, condition, seconds: float, doing: str) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            self._check_alive(doing)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # Callbacks (executor thread) ---------------------------------------------------------

    def _on_score(self, msg: Image) -> None:
        arrival = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._lock:
            known = stamp in self.sent or stamp in self._warmup_stamps
            if not known or stamp in self.arrivals:
                return
            self.arrivals[stamp] = arrival
        if stamp in self.sent:
            np.save(self.spool / f'{stamp}_score.npy', decode_image(msg)[0])

    def _on_labels(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if stamp in self.sent:
            np.save(self.spool / f'{stamp}_labels.npy', decode_image(msg)[0])
            self.labels_received.add(stamp)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id.endswith('detector_node'):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    # Phases ------------------------------------------------------------------------------

    def _stamp_now(self, msg: Image) -> int:
        """Stamp a message with the current time (distinct from every stamp sent before)."""
        stamp = max(time.time_ns(), self._last_stamp + 1)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        self._last_stamp = stamp
        return stamp

    def warm_up(self, bag, image_topic: str, count: int) -> None:
        """Wait for the node to subscribe, then until it answered ``count`` frames."""
        matched = self._wait(lambda: self.publisher.get_subscription_count() > 0
                             and self.score_sub.get_publisher_count() > 0, self.timeout_s,
                             'starting')
        if not matched:
            raise ReplayError(f'detector_node did not subscribe to image within '
                              f'{self.timeout_s:.0f} s: {self._log_tail()}')
        frames = read_images(bag, image_topic, 'rgb8')
        first = next(frames, None)
        frames.close()
        if first is None:
            raise BagError(f'bag {bag} has no messages on {image_topic!r}')
        deadline = time.monotonic() + self.timeout_s
        msg = numpy_to_image(first.image, 'rgb8', Header(frame_id=first.frame_id))
        answered = 0
        while answered < count:
            stamp = self._stamp_now(msg)
            with self._lock:
                self._warmup_stamps.add(stamp)
            self.publisher.publish(msg)
            self.warmup_sent += 1
            # The node may not see this process's subscription yet: resend after a while.
            if self._wait(lambda: stamp in self.arrivals, 5.0, 'warming up'):
                answered += 1
            elif time.monotonic() > deadline:
                raise ReplayError(f'detector_node answered no warm-up frame within '
                                  f'{self.timeout_s:.0f} s: {self._log_tail()}')

    def play(self, bag, image_topic: str, rate: Optional[float], progress: bool) -> None:
        """Publish every camera image of the bag on schedule."""
        start = first_stamp = None
        frames = read_images(bag, image_topic, 'rgb8')
        for index, frame in enumerate(tqdm(frames, desc='replay', unit='frame',
                                           disable=not progress)):
            if start is None:
                start, first_stamp = time.monotonic(), frame.stamp_ns
            offset = index / rate if rate else (frame.stamp_ns - first_stamp) / 1e9
            msg = numpy_to_image(frame.image, 'rgb8', Header(frame_id=frame.frame_id))
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._check_alive('replaying')
            stamp = self._stamp_now(msg)
            with self._lock:
                self.sent[stamp] = frame.stamp_ns
            self.publisher.publish(msg)
        self.play_seconds = time.monotonic() - start if start is not None else 0.0

    def _unanswered_warmups(self) -> int:
        with self._lock:
            return len(self._warmup_stamps - set(self.arrivals))

    def _idle_state(self) -> Optional[tuple]:
        """
        Return the node's counters when it has settled every frame it received, else None.

        Settled: each received frame was processed, dropped, rejected or failed, and each
        processed frame's score arrived here. Warm-up frames left unanswered were taken before
        the node saw this process's subscription: processed without publishing, so in none of
        its counters.
        """
        values = self.diagnostics
        try:
            received = int(values['frames_received'])
            settled = sum(int(values[k]) for k in COUNTERS[1:])
            processed = int(values['frames_processed'])
        except (KeyError, ValueError):
            return None
        if settled + self._unanswered_warmups() < received or len(self.arrivals) < processed:
            return None
        return received, settled, len(self.arrivals)

    def _node_done(self) -> bool:
        """Tell whether the node received every frame sent and has settled all of them."""
        state = self._idle_state()
        return state is not None and state[0] >= len(self.sent) + self.warmup_sent

    def drain(self, quiet_s: float = 2.0) -> None:
        """
        Wait until every frame is answered, or the node has settled every frame sent.

        Frames lost before the node (a keep-last reader overwritten on an overloaded machine)
        never reach its counters: the wait also ends when the node stayed idle with unchanged
        counters for ``quiet_s``.
        """
        quiet = {'state': None, 'since': 0.0}

        def idle_long_enough() -> bool:
            state, now = self._idle_state(), time.monotonic()
            if state is None or state != quiet['state']:
                quiet.update(state=state, since=now)
                return False
            return now - quiet['since'] >= quiet_s

        def all_answered() -> bool:
            answered = len(self.answered())
            return answered == len(self.sent) and (
                not self.semantic or len(self.labels_received) >= answered)

        self._wait(lambda: all_answered() or self._node_done() or idle_long_enough(),
                   self.timeout_s, 'finishing')
        # The node's final counters arrive with its next /diagnostics messages.
        quiet['state'] = None
        self._wait(lambda: self._node_done() or idle_long_enough(), 2.0 * quiet_s,
                   'finishing')
        self.final_diagnostics = dict(self.diagnostics)

    # Results -----------------------------------------------------------------------------

    def answered(self) -> Dict[int, int]:
        """Return ``{stamp sent: bag stamp}`` of the frames whose score arrived."""
        with self._lock:
            return {s: b for s, b in self.sent.items() if s in self.arrivals}

    def figures(self) -> Dict[str, object]:
        """Return the replay figures for the report."""
        answered = self.answered()
        latency = np.array([(self.arrivals[s] - s) / 1e6 for s in answered], np.float64)
        warmups = {'frames_received': self.warmup_sent,
                   'frames_processed': self.warmup_sent - self._unanswered_warmups()}
        node = {key: int(self.final_diagnostics[key]) - warmups.get(key, 0)
                for key in COUNTERS if key in self.final_diagnostics}
        stages = {k[:-len('_ms_p50')]: float(v) for k, v in self.final_diagnostics.items()
                  if k.endswith('_ms_p50')}
        figures = {
            'frames_sent': len(self.sent), 'frames_answered': len(answered),
            'frames_unanswered': len(self.sent) - len(answered),
            'frames_lost_before_node': (len(self.sent) - node['frames_received']
                                        if 'frames_received' in node else None),
            'warmup_frames': self.warmup_sent,
            'play_seconds': round(self.play_seconds, 3),
            'end_to_end_ms_p50': _percentile(latency, 50),
            'end_to_end_ms_p95': _percentile(latency, 95),
            'end_to_end_ms_p99': _percentile(latency, 99),
            'end_to_end_ms_max': round(float(latency.max()), 2) if latency.size else None,
            'node_counters': node, 'node_stage_p50_ms': stages}
        if self.semantic:
            figures['semantic_frames_received'] = len(self.labels_received)
        return figures


def _percentile(values: np.ndarray, q: float) -> Optional[float]:
    return round(float(np.percentile(values, q)), 2) if values.size else None
