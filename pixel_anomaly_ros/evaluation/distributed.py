# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Evaluate many bags on a Ray cluster (``evaluate --ray``): exactly the serial binned result.

The bags (one bag, or every bag of a folder) are cut into shards (:func:`.shards.plan_shards`:
a bag, or ``shard_frames`` camera messages of a long one). Ray actors (:class:`.shards.
ShardWorker`, one per worker, each loading the bundle once; one GPU each when the backend uses
one) evaluate them, a few queued per worker, and send back mergeable states. The driver merges
each as it arrives, with a progress bar over frames:

1. Pixel histograms (or exact scores), the semantic confusion matrix, saturation counts and the
   per-bag alarm statistics are integer counts: merged in any order. Names, latencies and
   example candidates are kept per shard and appended in bag, then shard, order at the end.
2. The component metrics need the pixel best-F1 threshold of the merged curve, so a second pass
   asks each worker for the component evaluator of the shards it holds the spool of (a worker
   restarted meanwhile evaluates the shard again) and merges them in shard order.

The result therefore equals the serial ``evaluate`` of the same bags with the same ``binned``
setting: pixel AP / AUROC / FPR95 and counts, component and semantic metrics, frame names and
per-bag frames and alarm statistics, as long as the network computes the same numbers: same
backend, device and precision, and for torch on the CPU the same number of threads (its kernels
split sums by thread, so 1 and 2 threads differ in the last bits of a few scores, which moves
the AP by about 1e-9). Workers use ``threads`` (default 1).

Faults. A bag that cannot be read is reported by name (``bags`` of the result, ``metrics.json``
and the report) and the others count; when it fails part-way, the frames read before the
failure count, as in the serial run, and later shards of that bag are dropped. A worker
process that dies is restarted by Ray and its calls retried (:data:`MAX_RESTARTS` times); a
worker that keeps dying is replaced, and a shard that has killed two workers so is reported
like an unreadable bag.

Cluster: without ``address`` a local Ray instance with one CPU per worker thread is started
(and stopped at the end); with it the driver joins that cluster (``ray start --head`` on one
machine, ``ray start --address HEAD:6379`` on the others). Every machine needs this package
and the bundle and bags at the same paths. A session already connected (``ray.init`` in this
process) is used as it is.
"""

from collections import Counter, deque
from contextlib import contextmanager
import datetime
import inspect
import logging
import math
import os
from pathlib import Path
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.evaluation.alarms import (AlarmStatistics, AlarmTable, bag_entries,
                                                 DEFAULT_ALARM_AREA)
from pixel_anomaly_ros.evaluation.components import ComponentEvaluator
from pixel_anomaly_ros.evaluation.datasets import dataset_options
from pixel_anomaly_ros.evaluation.datasets.bag import open_bag
from pixel_anomaly_ros.evaluation.evaluator import (BASELINES, BUNDLE, Evaluator,
                                                    example_positions)
from pixel_anomaly_ros.evaluation.evaluator_state import EvaluatorState
from pixel_anomaly_ros.evaluation.operating_points import mask_operating_point
from pixel_anomaly_ros.evaluation.report import check_output_dir, EvaluationResult, write_report
from pixel_anomaly_ros.evaluation.shards import (DEFAULT_SHARD_FRAMES, plan_shards, Shard,
                                                 ShardResult, ShardSettings, ShardWorker)
from pixel_anomaly_ros.operating_point import OperatingPoint
from tqdm import tqdm

#: Restarts of a dead worker process, and retries of each of its calls, before giving up.
MAX_RESTARTS = 3
#: Shards queued on one worker at a time.
IN_FLIGHT = 2
#: Ray's token authentication: its switch, and the token file ``ray start --head`` writes.
AUTH_MODE = 'RAY_AUTH_MODE'
TOKEN_FILE = Path.home() / '.ray' / 'auth_token'


class RayError(PixelAnomalyError, RuntimeError):
    """Ray is missing, the cluster cannot be reached, or every worker died."""


@contextmanager
def ray_session(address: Optional[str], cpus: int) -> Iterator[Dict[str, object]]:
    """
    Connect to a Ray cluster, or start a local one, for the duration of a block.

    :param address: ``HOST:PORT`` (or ``auto``) of a running cluster; None starts a local one.
    :param cpus: CPUs of the local instance.
    :return: facts for the report: ``address``, ``startup_s`` (import and start or connect).
    :raises RayError: when Ray is not installed or the cluster cannot be reached.
    """
    start = time.monotonic()
    if address and AUTH_MODE not in os.environ and TOKEN_FILE.is_file():
        os.environ[AUTH_MODE] = 'token'  # read when Ray is imported; as ray.init does locally
    try:
        import ray
    except ImportError:
        raise RayError('Ray is not installed: pip install ray (see requirements.txt)') from None
    if ray.is_initialized():
        yield {'address': 'the session of this process', 'startup_s': 0.0}
        return
    kwargs = {'include_dashboard': False, 'logging_level': logging.WARNING,
              'log_to_driver': False}
    try:
        if address:
            # The workers import this package as the driver has it: same code, same numbers.
            package = str(Path(__file__).resolve().parents[1])
            ray.init(address=address, runtime_env={'py_modules': [package],
                                                   'excludes': ['__pycache__']}, **kwargs)
        else:
            ray.init(address='local', num_cpus=cpus, **kwargs)  # never a stale `ray start`
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayError(f'cannot start or reach Ray at {address or "a local instance"}: {err} '
                       "(a cluster with token authentication, the default, needs the head's "
                       f'{TOKEN_FILE} on this machine)') from None
    try:
        yield {'address': address or 'local', 'startup_s': time.monotonic() - start}
    finally:
        ray.shutdown()


class _Pool:
    """Ray actors running :class:`ShardWorker`; calls go out and come back as they end."""

    def __init__(self, ray, count: int, settings: ShardSettings, cpus: int, gpus: float):
        self.ray, self.settings = ray, settings
        self.remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=MAX_RESTARTS,
                                 max_task_retries=MAX_RESTARTS)(ShardWorker)
        self.actors = [self.remote.remote(settings) for _ in range(count)]
        self.live = list(range(count))
        self.replacements = count * MAX_RESTARTS
        self.pids: Dict[int, set] = {i: set() for i in range(count)}

    def _lost(self, actor: int, handle) -> None:
        """Replace a worker that is dead for good (its restarts used up), while allowed."""
        if actor not in self.live or self.actors[actor] is not handle:
            return  # already replaced (another of its calls failed first)
        if self.replacements > 0:
            self.replacements -= 1
            self.ray.kill(self.actors[actor])
            self.actors[actor] = self.remote.remote(self.settings)
        else:
            self.live.remove(actor)

    def describe(self) -> Dict[str, object]:
        facts = self._get(self.actors[self.live[0]].describe.remote())
        self.pids[self.live[0]].add(facts['pid'])
        return facts

    def restarts(self) -> int:
        """Return how many times worker processes were replaced (asking each live worker)."""
        for actor in self.live:
            try:
                self.pids[actor].add(self.ray.get(self.actors[actor].describe.remote())['pid'])
            except self.ray.exceptions.RayError:
                pass
        return sum(max(0, len(pids) - 1) for pids in self.pids.values())

    def _get(self, ref):
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:
            cause = getattr(err, 'cause', None)
            raise (cause if isinstance(cause, Exception) else err) from None

    def run(self, items: List[Shard], method: str, args: Tuple, done: Callable,
            failed: Callable, owner: Optional[Dict[Tuple[str, int], int]] = None) -> None:
        """
        Call ``method(item, *args)`` for every item; ``done(item, actor, value)`` as each ends.

        With ``owner``, each item goes to its owner (while alive), all at once; otherwise
        :data:`IN_FLIGHT` per actor from a shared queue. A worker whose process died more than
        :data:`MAX_RESTARTS` times is replaced and its items sent again; an item that outlived
        two workers this way goes to ``failed(item, reason)`` (it is what kills them).
        """
        queue, pending, load, deaths = deque(items), {}, Counter(), Counter()
        while queue or pending:
            if not self.live:
                raise RayError('every Ray worker died; see the Ray logs (/tmp/ray/session_*)')
            for item in [queue.popleft() for _ in range(len(queue))]:
                actor = owner.get(item.key) if owner is not None else None
                if actor not in self.live:
                    actor = min(self.live, key=lambda i: load[i])
                if owner is None and load[actor] >= IN_FLIGHT:
                    queue.append(item)
                    continue
                call = getattr(self.actors[actor], method).remote(item, *args)
                pending[call] = (actor, item, self.actors[actor])
                load[actor] += 1
            [ref], _ = self.ray.wait(list(pending), num_returns=1)
            actor, item, handle = pending.pop(ref)
            load[actor] -= 1
            try:
                value = self._get(ref)
            except self.ray.exceptions.RayActorError as err:
                deaths[item.key] += 1
                self._lost(actor, handle)
                if deaths[item.key] >= 2:
                    failed(item, f'its worker died {MAX_RESTARTS + 1} times, twice: '
                                 f'{str(err).splitlines()[0]}')
                else:
                    queue.append(item)
                continue
            if isinstance(value, ShardResult):
                self.pids[actor].add(value.worker.get('pid'))
            done(item, actor, value)

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.get(actor.close.remote(), timeout=60)
            except Exception:  # noqa: B902 - a dead worker has nothing left to close
                pass
            self.ray.kill(actor)


class _Merge:
    """The driver's side: merge first-pass results as they come, then the component pass."""

    def __init__(self, bundle, settings: ShardSettings, point: OperatingPoint,
                 shards: List[Shard], total: Optional[int], progress: bool,
                 on_shard: Optional[Callable[[ShardResult], None]]):
        methods = (BUNDLE,) + (BASELINES if settings.baselines else ())
        self.evaluator = Evaluator(methods, settings.binned, track=settings.track,
                                   num_classes=bundle.spec.num_classes,
                                   threshold=point.threshold, spool_dir=settings.spool_dir,
                                   operating_point=point)
        self.settings = settings
        self.alarms = AlarmTable(settings.alarm_area)
        self.bags: Dict[str, dict] = {}
        for shard in shards:
            self.bags.setdefault(shard.bag, {'next': 0, 'arrived': {}, 'facts': None,
                                             'error': None})
        self.order = {shard.key: i for i, shard in enumerate(shards)}
        self.ordered: Dict[Tuple[str, int], EvaluatorState] = {}
        self.owner: Dict[Tuple[str, int], int] = {}
        self.labelled: List[Shard] = []
        self.components: Dict[Tuple[str, int], ComponentEvaluator] = {}
        self.on_shard = on_shard
        self.bar = tqdm(total=total, desc=f'evaluate {bundle.spec.name} on Ray', unit='frame',
                        disable=not progress)

    def arrived(self, shard: Shard, actor: int, result: ShardResult) -> None:
        """Take a first-pass result: merge it, or hold it until the bag's earlier shards came."""
        self.owner[shard.key] = actor
        self._queue(result)
        if self.on_shard is not None:
            self.on_shard(result)

    def lost(self, shard: Shard, reason: str) -> None:
        """Report a shard whose worker kept dying like a bag that failed there."""
        where = '' if shard.start is None else f' (camera messages {shard.start}..{shard.stop})'
        self._queue(ShardResult(shard, EvaluatorState(), AlarmStatistics(
            self.settings.alarm_area), None, f'not evaluated{where}: {reason}', {}))

    def _queue(self, result: ShardResult) -> None:
        self.bar.update(result.alarms.frames)
        bag = self.bags[result.shard.bag]
        bag['arrived'][result.shard.index] = result
        while bag['next'] in bag['arrived']:
            taken = bag['arrived'].pop(bag['next'])
            bag['next'] += 1
            if bag['error'] is None:  # after a failure the bag's later shards are dropped
                self._take(bag, taken)

    def _take(self, bag: dict, result: ShardResult) -> None:
        state = result.state
        if result.shard.index == 0:
            bag['facts'] = result.facts
        self.evaluator.merge(EvaluatorState(pixel=state.pixel, semantic=state.semantic,
                                            saturated=state.saturated, flagged=state.flagged))
        self.ordered[result.shard.key] = EvaluatorState(names=state.names,
                                                        latency=state.latency,
                                                        examples=state.examples)
        self.alarms.get(result.shard.bag).merge(result.alarms)
        if state.names:
            self.labelled.append(result.shard)
        bag['error'] = result.error

    def finish_first_pass(self) -> None:
        """Append names, latencies and the chosen examples in bag, then shard, order."""
        self.bar.close()
        keys = sorted(self.ordered, key=self.order.__getitem__)
        for key in keys:
            state = self.ordered[key]
            self.evaluator.merge(EvaluatorState(names=state.names, latency=state.latency))
        candidates = [e for key in keys for e in self.ordered[key].examples]
        chosen = example_positions(len(candidates), self.settings.examples)
        self.evaluator.merge(EvaluatorState(examples=[candidates[i] for i in chosen]))
        self.labelled.sort(key=lambda shard: self.order[shard.key])

    def component_threshold(self) -> Optional[float]:
        """Return the pixel best-F1 threshold of the merged curve (None: no component pass)."""
        pixel = self.evaluator.pixel_metrics()
        if not pixel or math.isnan(pixel[BUNDLE].best_f1_threshold):
            return None
        return float(pixel[BUNDLE].best_f1_threshold)

    def component_shards(self) -> List[Shard]:
        """Return the merged shards with labelled frames, in order."""
        return list(self.labelled)

    def components_arrived(self, shard: Shard, actor: int, value: ComponentEvaluator) -> None:
        """Keep the component pass of a shard."""
        self.components[shard.key] = value

    def components_lost(self, shard: Shard, reason: str) -> None:
        """Fail: without a shard's component pass the component metrics would be wrong."""
        raise RayError(f'the component pass of bag {shard.bag} (shard {shard.index}) failed: '
                       f'{reason}')

    def result(self, title: str, threshold: Optional[float]) -> EvaluationResult:
        """Compute the metrics of everything merged and list every bag."""
        components = None
        if threshold is not None:
            components = ComponentEvaluator.for_track(self.settings.track, threshold)
            for shard in self.labelled:
                components.merge(self.components[shard.key])
        try:
            result = self.evaluator.finish(title, {}, components)
        finally:
            self.evaluator.close()
        unknown = {'labelled': None, 'paired': None, 'unmatched': {}}
        described = {name: dict(bag['facts'] or unknown, error=bag['error'])
                     for name, bag in self.bags.items()}
        result.bags = bag_entries(described, self.alarms)
        return result


def evaluate_on_ray(bundle: Union[str, Path], root: Union[str, Path],
                    options: Optional[Dict[str, object]] = None, *,
                    workers: Optional[int] = None, address: Optional[str] = None,
                    baselines: bool = False, binned: bool = True, backend: str = 'torch',
                    device: str = 'cpu', precision: str = 'fp32', track: Optional[str] = None,
                    examples: int = 4, out: Optional[Union[str, Path]] = None,
                    spool_dir: Optional[Union[str, Path]] = None, progress: bool = True,
                    alarm_area: float = DEFAULT_ALARM_AREA,
                    shard_frames: int = DEFAULT_SHARD_FRAMES, threads: int = 1,
                    gpus_per_worker: Optional[float] = None,
                    on_shard: Optional[Callable[[ShardResult], None]] = None,
                    operating_point: str = '', threshold: Optional[float] = None
                    ) -> EvaluationResult:
    """
    Evaluate a bundle over a bag, or a folder of bags, on Ray workers (see the module docstring).

    :param bundle: bundle directory (at the same path on every machine).
    :param root: a bag or a folder of bags (at the same path on every machine).
    :param options: keyword options of the bag opener (``image_topic``, ``label_topic``, ...).
    :param workers: number of workers; default and most: as many as the cluster's CPUs
        (GPUs when GPUs are requested per worker) hold, at most one per shard.
    :param address: a running Ray cluster to join; None starts a local one.
    :param baselines: also evaluate the baseline scores (torch backend only).
    :param binned: binned pixel metrics (exact ones send every valid score to the driver).
    :param backend: inference backend.
    :param device: ``cpu`` or ``cuda[:N]`` (a worker with a GPU uses the one Ray gives it).
    :param precision: numeric precision.
    :param track: component size filters, ``'anomaly'`` (default) or ``'obstacle'``.
    :param examples: number of example frames in the report.
    :param out: report directory to write (``None``: only return the result).
    :param spool_dir: where workers spool scores for the component pass (default: temp).
    :param progress: show a progress bar over frames.
    :param alarm_area: a frame alarms when its mask covers more than this fraction.
    :param shard_frames: most camera messages of a shard.
    :param threads: torch threads of each worker (and CPUs it reserves).
    :param gpus_per_worker: GPUs each worker reserves; default 1 with a CUDA device or the
        tensorrt backend, else 0.
    :param on_shard: called with each first-pass result as it arrives (monitoring).
    :param operating_point: the bundle's operating point the masks use (empty: its default).
    :param threshold: a mask threshold in [0, 1] instead of an operating point.
    :return: the result; ``info['ray']`` tells the cluster, workers, shards and start-up time.
    :raises DatasetError: when the root holds no bag or an option is unknown.
    :raises BundleError: for a broken bundle.
    :raises RayError: when Ray is missing or every worker died.
    :raises ValueError: for bad arguments or an ``out`` that is not a report directory.
    """
    if workers is not None and workers < 1:
        raise ValueError(f'workers must be at least 1, got {workers}')
    if threads < 1:
        raise ValueError(f'threads must be at least 1, got {threads}')
    if out is not None:
        check_output_dir(out)
    options = dataset_options('bag', dict(options or {}))
    loaded = load_bundle(bundle)
    point = mask_operating_point(loaded, operating_point, threshold)
    image_topic = options.get('image_topic',
                              inspect.signature(open_bag).parameters['image_topic'].default)
    shards, total = plan_shards(root, image_topic, shard_frames)
    gpus = gpus_per_worker if gpus_per_worker is not None else \
        float(device.startswith('cuda') or backend == 'tensorrt')
    settings = ShardSettings(
        str(loaded.path.resolve()), options, baselines, binned, track or 'anomaly', backend,
        'cuda' if gpus and device.startswith('cuda') else device, precision, threads, examples,
        alarm_area, None if spool_dir is None else str(spool_dir), operating_point, threshold)
    local_workers = workers or max(1, (os.cpu_count() or 1) // threads)
    with ray_session(address, local_workers * threads) as session:
        import ray
        resources = ray.cluster_resources()
        fit = int(resources.get('GPU', 0) // gpus if gpus else resources.get('CPU', 0) // threads)
        if fit < 1:
            raise RayError(f'the Ray cluster has {resources.get("GPU", 0):g} GPUs and '
                           f'{resources.get("CPU", 0):g} CPUs: not enough for one worker with '
                           f'{gpus:g} GPUs and {threads} CPUs')
        count = max(1, min(workers or fit, fit, len(shards)))
        begin = time.monotonic()
        pool = _Pool(ray, count, settings, threads, gpus)
        try:
            facts = pool.describe()
            ready = time.monotonic() - begin
            merge = _Merge(loaded, settings, point, shards, total, progress, on_shard)
            pool.run(shards, 'evaluate', (), merge.arrived, merge.lost)
            merge.finish_first_pass()
            threshold = merge.component_threshold()
            if threshold is not None:
                pool.run(merge.component_shards(), 'components', (threshold,),
                         merge.components_arrived, merge.components_lost, owner=merge.owner)
            restarts = pool.restarts()
            result = merge.result(f'Anomaly evaluation: {loaded.spec.name} on bag '
                                  f'({Path(root).name})', threshold)
        finally:
            pool.close()
    spec = loaded.spec
    info = {'bundle': spec.name, 'variant': spec.variant, 'bundle_path': str(loaded.path),
            **facts['executor'], 'threshold': facts['threshold'],
            'operating_point': point.describe(),
            'score_calibration': spec.describe_score_mapping(),
            'dataset': 'bag', 'root': str(root), 'options': options, 'limit': None,
            'baselines': baselines,
            'ray': {'address': session['address'], 'workers': count, 'shards': len(shards),
                    'shard_frames': shard_frames, 'threads_per_worker': threads,
                    'gpus_per_worker': gpus, 'startup_s': round(session['startup_s'], 3),
                    'workers_ready_s': round(ready, 3), 'worker_restarts': restarts},
            'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
    result.info = dict(info, **{k: v for k, v in result.info.items() if k in ('mode', 'track')})
    if out is not None:
        write_report(result, out)
    return result
