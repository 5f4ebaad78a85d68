# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Shards of a bag evaluation and the worker that evaluates them (no Ray here; see .distributed).

A :class:`Shard` is a bag, or a range of the camera messages of a long bag. A
:class:`ShardWorker` loads the bundle once and evaluates shards one after another with the
:class:`~pixel_anomaly_ros.evaluation.evaluate.Evaluator` of the serial ``evaluate``, so both
compute the same per-frame values; each shard comes back as a :class:`ShardResult` of mergeable
states (pixel, semantic, saturation, names, latencies, examples, alarm statistics).

The component metrics take two passes: their score threshold is the pixel best-F1 threshold of
the merged pixel curve, known only when every shard is in. The worker keeps the score spool of
each shard it evaluated until :meth:`ShardWorker.components` runs that second pass; a worker
restarted in between (its process died) evaluates the shard again first, which gives the same
values.

A bag that cannot be read gives a result with ``error`` set instead of raising: the frames read
before the failure are in its state, exactly as the serial run counts them.
"""

from dataclasses import dataclass, field
import os
from pathlib import Path
import socket
from typing import Dict, List, Optional, Tuple

from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.evaluation.alarms import AlarmStatistics, AlarmTable
from pixel_anomaly_ros.evaluation.components import ComponentEvaluator
from pixel_anomaly_ros.evaluation.datasets.bag import find_bags, open_bag_member
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError
from pixel_anomaly_ros.evaluation.evaluate import run_samples
from pixel_anomaly_ros.evaluation.evaluator import BASELINES, BUNDLE, Evaluator
from pixel_anomaly_ros.evaluation.evaluator_state import EvaluatorState
from pixel_anomaly_ros.evaluation.operating_points import mask_operating_point
from pixel_anomaly_ros.pipelines import create_pipeline
from rosbags.rosbag2 import Reader

#: Camera messages per shard of a long bag by default.
DEFAULT_SHARD_FRAMES = 500


@dataclass(frozen=True)
class Shard:
    """
    A bag, or the camera messages ``start .. stop - 1`` of one (all when ``start`` is None).

    ``bag`` names the bag in the report; ``source`` is its name inside a folder (frame names
    are prefixed with it) or None when the root is the bag itself.
    """

    bag: str
    path: str
    index: int = 0
    start: Optional[int] = None
    stop: Optional[int] = None
    source: Optional[str] = None

    @property
    def key(self) -> Tuple[str, int]:
        """Return ``(bag, index)``, unique within a run."""
        return self.bag, self.index


@dataclass(frozen=True)
class ShardSettings:
    """How every shard of a run is evaluated (the same for all workers)."""

    bundle: str
    options: Dict[str, object] = field(default_factory=dict)
    baselines: bool = False
    binned: bool = True
    track: str = 'anomaly'
    backend: str = 'torch'
    device: str = 'cpu'
    precision: str = 'fp32'
    threads: Optional[int] = 1
    examples: int = 1
    alarm_area: float = 0.001
    spool_dir: Optional[str] = None
    operating_point: str = ''
    threshold: Optional[float] = None


@dataclass
class ShardResult:
    """
    What a shard sends back.

    :ivar shard: the shard.
    :ivar state: the evaluator's accumulators (its labelled frames).
    :ivar alarms: alarm statistics of every frame evaluated.
    :ivar facts: the whole bag's ``labelled``, ``paired`` and ``unmatched``, or None when the
        bag could not be opened.
    :ivar error: why the bag could not be read, or None.
    :ivar worker: host and process id of the worker.
    """

    shard: Shard
    state: EvaluatorState
    alarms: AlarmStatistics
    facts: Optional[Dict[str, object]]
    error: Optional[str]
    worker: Dict[str, object]


def camera_messages(path: Path, topic: str) -> Optional[int]:
    """
    Count the messages of a topic from the bag's index, without reading them.

    :param path: a bag.
    :param topic: the camera topic.
    :return: the count, or None when the bag cannot be opened or lacks the topic.
    """
    try:
        reader = Reader(path)
        reader.open()
    except Exception:  # noqa: B902 - any failure: the worker reports it, by name
        return None
    try:
        return sum(c.msgcount for c in reader.connections if c.topic == topic) or None
    finally:
        reader.close()


def plan_shards(root: str | Path, image_topic: str = '/camera/image',
                shard_frames: int = DEFAULT_SHARD_FRAMES) -> Tuple[List[Shard], Optional[int]]:
    """
    Split a bag, or a folder of bags, into shards of at most ``shard_frames`` camera messages.

    A bag whose index cannot be read is one shard: its worker reports why.

    :param root: a bag or a folder of bags (:func:`~.datasets.bag.find_bags`).
    :param image_topic: the camera topic, counted from each bag's index.
    :param shard_frames: most camera messages of a shard.
    :return: the shards in bag then frame order, and the camera messages of all of them (None
        when some count is unknown).
    :raises DatasetError: when the root holds no bag.
    :raises ValueError: for ``shard_frames`` below 1.
    """
    if shard_frames < 1:
        raise ValueError(f'shard_frames must be at least 1, got {shard_frames}')
    root = Path(root)
    if not root.exists():
        raise DatasetError(f'{root} does not exist: expected a bag or a folder of bags')
    paths = find_bags(root)
    if not paths:
        raise DatasetError(f'{root} holds no bag: expected MCAP files or rosbag2 directories')
    single = paths == [root]
    shards, total = [], 0
    for path in paths:
        name = root.name if single else path.relative_to(root).as_posix()
        source = None if single else name
        count = camera_messages(path, image_topic)
        total = None if count is None or total is None else total + count
        if count is None or count <= shard_frames:
            shards.append(Shard(name, str(path), 0, None, None, source))
            continue
        for index, start in enumerate(range(0, count, shard_frames)):
            stop = count if start + shard_frames >= count else start + shard_frames
            shards.append(Shard(name, str(path), index, start, stop, source))
    return shards, total


class ShardWorker:
    """Evaluate shards with one pipeline (the bundle is loaded once, in the constructor)."""

    def __init__(self, settings: ShardSettings):
        """
        Load the bundle and build its pipeline.

        A broken bundle or an unusable backend is kept and raised by every call (so a remote
        caller gets the error itself, not a worker that failed to start).

        :param settings: how shards are evaluated.
        """
        if settings.threads:
            import torch
            torch.set_num_threads(settings.threads)
        self.settings = settings
        self.methods = (BUNDLE,) + (BASELINES if settings.baselines else ())
        self._evaluators: Dict[Tuple[str, int], Evaluator] = {}
        self.pipeline, self.error = None, None
        try:
            self.bundle = load_bundle(settings.bundle)
            self.pipeline = create_pipeline(self.bundle, settings.backend, settings.device,
                                            settings.precision, baselines=settings.baselines)
            self.point = mask_operating_point(self.bundle, settings.operating_point,
                                              settings.threshold)
            self.pipeline.threshold = self.point.threshold
        except (PixelAnomalyError, ValueError) as err:
            self.error = err

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def describe(self) -> Dict[str, object]:
        """
        Return the worker's host, process id, executor and mask threshold.

        :raises BundleError: for a broken bundle.
        :raises BackendError: for an unusable backend.
        """
        self._check()
        return {'host': socket.gethostname(), 'pid': os.getpid(),
                'executor': self.pipeline.executor.describe(),
                'threshold': self.pipeline.threshold}

    def _evaluator(self) -> Evaluator:
        s = self.settings
        return Evaluator(self.methods, s.binned, track=s.track,
                         num_classes=self.bundle.spec.num_classes,
                         threshold=self.pipeline.threshold,
                         examples=range(min(1, s.examples)), spool_dir=s.spool_dir,
                         operating_point=self.point)

    def evaluate(self, shard: Shard) -> ShardResult:
        """
        Evaluate a shard (first pass); its score spool is kept for :meth:`components`.

        :param shard: the shard.
        :return: its mergeable states; ``error`` names a bag that could not be read.
        """
        self._check()
        self.release(shard)
        evaluator = self._evaluator()
        self._evaluators[shard.key] = evaluator
        alarms = AlarmTable(self.settings.alarm_area)
        facts, error = None, None
        try:
            data = open_bag_member(shard.path, shard.source, **self.settings.options)
            facts = {k: v for k, v in data.describe().items() if k != 'error'}
            if shard.start is not None:
                data.restrict(shard.start, shard.stop)
            run_samples(self.pipeline, data, evaluator, None, False, self.bundle.spec.name,
                        alarms)
        except DatasetError as err:
            error = str(err)
        return ShardResult(shard, evaluator.state(), alarms.get(shard.bag), facts,
                           error, {'host': socket.gethostname(), 'pid': os.getpid()})

    def components(self, shard: Shard, threshold: float) -> ComponentEvaluator:
        """
        Run the component pass of a shard (second pass) and drop its spool.

        :param shard: a shard this worker evaluated (evaluated again if its spool is gone).
        :param threshold: the pixel best-F1 threshold of the merged pixel curve.
        :return: the component evaluator of the shard's frames, not computed (mergeable).
        """
        if shard.key not in self._evaluators:
            self.evaluate(shard)
        try:
            return self._evaluators[shard.key].component_evaluator(threshold)
        finally:
            self.release(shard)

    def release(self, shard: Shard) -> None:
        """
        Delete the spool of a shard, if this worker holds one.

        :param shard: the shard.
        """
        evaluator = self._evaluators.pop(shard.key, None)
        if evaluator is not None:
            evaluator.close()

    def close(self) -> None:
        """Delete every spool and release the backend."""
        for evaluator in self._evaluators.values():
            evaluator.close()
        self._evaluators.clear()
        if self.pipeline is not None:
            self.pipeline.executor.close()
