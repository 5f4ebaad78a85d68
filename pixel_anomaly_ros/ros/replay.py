# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Replay a bag into a running detector_node over DDS and report what came back.

``replay`` starts ``detector_node`` in a
:class:`~pixel_anomaly_ros.ros.detector_session.DetectorSession` (private ROS domain, reliable
input QoS, outputs at the camera resolution), waits until it answers warm-up frames, then
publishes the bag's camera images on ``image`` at the recorded rate (header stamp differences)
or a fixed rate. With ``lockstep`` each frame is sent only once the node answered (or settled)
the previous one: every frame reaches the node whatever the speed of the machine, and the
latency has no queueing in it. A ``CompressedImage`` camera topic is played as it is, on
``image/compressed`` (the node decodes it, ``input.compressed``). Outputs are matched to inputs
by the stamp the session puts on each frame, and the end-to-end latency of a frame is the
arrival time of its ``anomaly/score`` here minus that stamp. Received scores are spooled to
disk. After the last frame the node is given time to finish (until its ``/diagnostics``
counters account for every frame sent), then it is stopped with SIGINT to its process group.

With a label topic, the answered frames are paired with the bag's labels by header stamp
(:class:`~pixel_anomaly_ros.evaluation.datasets.bag.BagDataset`) and get the same metrics as
``evaluate`` (:class:`~pixel_anomaly_ros.evaluation.evaluate.Evaluator`); the mask is
``score >= threshold`` of the operating point the node uses (the bundle default unless given).
The report adds the frames sent, answered and unanswered, the node's own counters (received,
processed, dropped, rejected, failed; warm-up frames excluded) and its per-stage medians.
"""

import datetime
import os
from pathlib import Path
import shutil
import tempfile
import time
from typing import Dict, Optional, Union

import numpy as np
from pixel_anomaly_ros.bench.record import load_average
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.evaluation.bags import (BagError, COMPRESSED_IMAGE, IMAGE, list_topics,
                                               read_images, read_messages)
from pixel_anomaly_ros.evaluation.datasets import dataset_title
from pixel_anomaly_ros.evaluation.datasets.bag import open_bag
from pixel_anomaly_ros.evaluation.evaluator import BUNDLE, Evaluator, example_positions
from pixel_anomaly_ros.evaluation.report import check_output_dir, EvaluationResult, write_report
from pixel_anomaly_ros.imaging import image_to_array, stamp_to_ns
from pixel_anomaly_ros.ros.conversions import compressed_message, numpy_to_image
from pixel_anomaly_ros.ros.detector_session import DetectorSession
from std_msgs.msg import Header
from tqdm import tqdm


def replay(bag: Union[str, Path], image_topic: str, label_topic: Optional[str] = None,
           rate: Optional[float] = None, *, bundle: Union[str, Path],
           out: Optional[Union[str, Path]] = None, backend: str = 'torch',
           device: str = 'cpu', precision: str = 'fp32', semantic_topic: Optional[str] = None,
           tolerance_ns: int = 0, binned: bool = False, track: str = 'anomaly',
           examples: int = 4, warmup: int = 2, timeout_s: float = 60.0,
           domain_id: Optional[int] = None, progress: bool = True,
           operating_point: str = '', lockstep: bool = False) -> EvaluationResult:
    """
    Play a bag's camera topic into detector_node and measure metrics, latency and drops.

    :param bag: rosbag2 directory or ``.mcap``/``.db3`` file.
    :param image_topic: ``sensor_msgs/Image`` or ``CompressedImage`` camera topic in the bag.
    :param label_topic: anomaly label topic (mono8 0/1/255) for the metrics; None measures
        latency and drops only.
    :param rate: publish at this many Hz; None keeps the recorded header-stamp spacing.
        Not with ``lockstep``.
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
    :param operating_point: the bundle's operating point the node's mask uses (empty: its
        default).
    :param lockstep: send each frame after the node answered the previous one, instead of on
        a schedule: no frame is dropped or lost on a machine slower than the bag.
    :return: the result; :attr:`EvaluationResult.replay` holds the replay figures.
    :raises BagError: for a missing bag or topic.
    :raises DatasetError: for a label topic that does not pair with the images.
    :raises BundleError: for a broken bundle or an operating point it does not record.
    :raises SessionError: when the node does not start or answer.
    :raises ValueError: for a bad rate, a rate with ``lockstep``, or an ``out`` that is not a
        report directory.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f'rate must be positive, got {rate}')
    if rate is not None and lockstep:
        raise ValueError('a rate does not apply in lockstep: each frame is sent after the '
                         'answer to the previous one; give one of the two')
    if out is not None:
        check_output_dir(out)
    loaded = load_bundle(bundle)
    point = loaded.spec.operating_point(operating_point)
    topics = list_topics(bag)
    if topics.get(image_topic) not in (IMAGE, COMPRESSED_IMAGE):
        raise BagError(f'bag {bag} has no sensor_msgs/msg/Image or CompressedImage topic '
                       f'{image_topic!r}; it has: '
                       + ', '.join(f'{t} ({m})' for t, m in sorted(topics.items())))
    compressed = topics[image_topic] == COMPRESSED_IMAGE
    dataset = None
    if label_topic is not None:
        dataset = open_bag(bag, image_topic, label_topic, semantic_topic, tolerance_ns,
                           labels=True)
    spool_parent = Path(out).resolve().parent if out is not None else None
    spool = Path(tempfile.mkdtemp(prefix='.pixel-anomaly-replay-',
                                  dir=spool_parent if spool_parent and spool_parent.is_dir()
                                  else None))
    outputs = ('anomaly/score',) + (('semantic/labels',) if semantic_topic else ())
    suffixes = {'anomaly/score': 'score', 'semantic/labels': 'labels'}

    def spool_output(topic, stamp, msg):
        np.save(spool / f'{stamp}_{suffixes[topic]}.npy', image_to_array(msg))

    try:
        parameters = {'bundle': loaded.path, 'backend': backend, 'device': device,
                      'precision': precision, 'output.resolution': 'input',
                      **({'anomaly.operating_point': point.name} if operating_point else {})}
        with DetectorSession(parameters, outputs, spool_output, domain_id, timeout_s,
                             compressed=compressed) as session:
            session.warm_up(_first_frame(bag, image_topic, compressed), warmup)
            load_before = load_average()
            play_seconds = _play(session, bag, image_topic, rate, progress, compressed,
                                 lockstep)
            session.drain()
            load = {'before': load_before, 'after': load_average(), 'cores': os.cpu_count()}
        title = (f'Replay evaluation: {loaded.spec.name} through detector_node on '
                 f'{dataset_title("bag", bag)}')
        result = _evaluate(session, dataset, loaded, binned, track, examples, spool, point,
                           title)
        result.replay = _figures(session, play_seconds, semantic=semantic_topic is not None)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    result.info.update({
        'bundle': loaded.spec.name, 'variant': loaded.spec.variant,
        'bundle_path': str(loaded.path),  # as the node resolved auto (its /diagnostics)
        **{key: session.final_diagnostics.get(key, value) for key, value in
           (('backend', backend), ('device', device), ('precision', precision))},
        'threshold': point.threshold, 'operating_point': point.describe(), 'bag': str(bag),
        'image_topic': f'{image_topic} ({"compressed" if compressed else "raw"})',
        'label_topic': label_topic or '—', 'load_average': load,
        'rate': ('lockstep (each frame after the answer to the previous one)' if lockstep
                 else f'{rate} Hz' if rate else 'recorded'),
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')})
    if out is not None:
        write_report(result, out)
    return result


def _messages(bag, image_topic: str, compressed: bool):
    """
    Yield ``(bag stamp, message to publish)`` for each camera frame of the bag.

    Raw images are decoded to rgb8 as the node would and sent as rgb8 Images; compressed ones
    are sent as they are.
    """
    if not compressed:
        for frame in read_images(bag, image_topic, 'rgb8'):
            yield frame.stamp_ns, numpy_to_image(frame.image, 'rgb8',
                                                 Header(frame_id=frame.frame_id))
        return
    for _, msg in read_messages(bag, image_topic):
        yield (stamp_to_ns(msg.header.stamp),
               compressed_message(msg.format, msg.data, Header(frame_id=msg.header.frame_id)))


def _first_frame(bag, image_topic: str, compressed: bool = False):
    """Return the bag's first camera image as a message (for the warm-up)."""
    frames = _messages(bag, image_topic, compressed)
    first = next(frames, None)
    frames.close()
    if first is None:
        raise BagError(f'bag {bag} has no messages on {image_topic!r}')
    return first[1]


def _play(session: DetectorSession, bag, image_topic: str, rate: Optional[float],
          progress: bool, compressed: bool = False, lockstep: bool = False) -> float:
    """
    Publish every camera image of the bag; return the seconds it took.

    On schedule (the recorded spacing or ``rate``), or with ``lockstep`` each one after the
    node answered or settled the one before.
    """
    start = first_stamp = None
    frames = _messages(bag, image_topic, compressed)
    for index, (stamp_ns, msg) in enumerate(tqdm(frames, desc='replay', unit='frame',
                                                 disable=not progress)):
        if start is None:
            start, first_stamp = time.monotonic(), stamp_ns
        if lockstep:
            session.wait_for_frame(session.publish(msg, stamp_ns))
            continue
        offset = index / rate if rate else (stamp_ns - first_stamp) / 1e9
        delay = start + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        session.publish(msg, stamp_ns)
    return time.monotonic() - start if start is not None else 0.0


def _evaluate(session: DetectorSession, dataset, bundle, binned: bool, track: str,
              examples: int, spool: Path, point, title: str) -> EvaluationResult:
    answered = session.answered()
    # Example positions assume every answered frame is labelled (fewer examples otherwise).
    with Evaluator((BUNDLE,), binned, track=track, num_classes=bundle.spec.num_classes,
                   threshold=point.threshold,
                   examples=example_positions(len(answered), examples),
                   spool_dir=spool, operating_point=point) as evaluator:
        for sent, bag_stamp in answered.items():
            arrival = session.arrivals[sent]['anomaly/score']
            evaluator.add_timings({'end_to_end': (arrival - sent) / 1e6})
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
        result = evaluator.finish(title, {})
    return result


def _figures(session: DetectorSession, play_seconds: float, semantic: bool
             ) -> Dict[str, object]:
    """Return the replay figures for the report."""
    answered = session.answered()
    latency = np.array([(session.arrivals[s]['anomaly/score'] - s) / 1e6 for s in answered],
                       np.float64)
    node = session.node_counters()
    figures = {
        'frames_sent': len(session.sent), 'frames_answered': len(answered),
        'frames_unanswered': len(session.sent) - len(answered),
        'frames_lost_before_node': (len(session.sent) - node['frames_received']
                                    if 'frames_received' in node else None),
        'warmup_frames': session.warmup_sent,
        'play_seconds': round(play_seconds, 3),
        'end_to_end_ms_p50': _percentile(latency, 50),
        'end_to_end_ms_p95': _percentile(latency, 95),
        'end_to_end_ms_p99': _percentile(latency, 99),
        'end_to_end_ms_max': round(float(latency.max()), 2) if latency.size else None,
        'node_counters': node, 'node_stage_p50_ms': session.node_stage_p50_ms()}
    if semantic:
        figures['semantic_frames_received'] = len(session.complete())
    return figures


def _percentile(values: np.ndarray, q: float) -> Optional[float]:
    return round(float(np.percentile(values, q)), 2) if values.size else None
