# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Run a bundle offline over a dataset or bag and measure it (``pixel-anomaly evaluate``).

Every frame goes through the pipeline with ``output_size`` = the label size, so the calibrated
score (what the node publishes on ``anomaly/score``) is compared with the labels at label
resolution. With ``baselines`` the same segmentation pass also gives the max-softmax,
max-logit, entropy and energy scores (network resolution, resized bilinearly to the label size
like the main score) and each gets the same pixel metrics. Reported: pixel AP / AUROC / FPR95
per method, SegmentMeIfYouCan component metrics of the bundle, semantic mIoU when the data has
semantic labels, and per-stage latency (one untimed warm-up run on the first image first).

The metrics accumulate in :class:`~.evaluator.Evaluator` (memory, spool and merging are
described there).

Bags. Frames of an unlabelled bag (no label topic) get latency and alarm statistics only
(:mod:`~pixel_anomaly_ros.evaluation.alarms`); every bag, labelled or not, is listed in the
result's ``bags`` with its frames evaluated, alarm statistics and, for a bag of a folder that
could not be read, the reason. Many bags on many machines: :mod:`.distributed` evaluates shards
with the same :class:`~.evaluator.Evaluator` and merges their states.
"""

import datetime
import os
from pathlib import Path
from typing import Callable, Collection, Dict, Iterable, Optional, Union

from pixel_anomaly_ros.bench.record import load_average
from pixel_anomaly_ros.bundle import Bundle, load_bundle
from pixel_anomaly_ros.evaluation.alarms import AlarmTable, bag_entries, DEFAULT_ALARM_AREA
from pixel_anomaly_ros.evaluation.datasets import dataset_title, open_dataset
from pixel_anomaly_ros.evaluation.datasets.bag import describe_bags
from pixel_anomaly_ros.evaluation.datasets.files import FileDataset
from pixel_anomaly_ros.evaluation.datasets.samples import Sample
from pixel_anomaly_ros.evaluation.evaluator import BASELINES, BUNDLE, Evaluator, example_positions
from pixel_anomaly_ros.evaluation.operating_points import mask_operating_point
from pixel_anomaly_ros.evaluation.report import check_output_dir, EvaluationResult, write_report
from pixel_anomaly_ros.pipelines import create_pipeline
from tqdm import tqdm

#: SegmentMeIfYouCan track (component size filters) of each dataset kind; default anomaly.
DEFAULT_TRACKS = {'smiyc_obstacle': 'obstacle', 'lost_and_found': 'obstacle'}


def evaluate(bundle: Union[str, Path, Bundle], dataset: str, root: Union[str, Path],
             options: Optional[Dict[str, object]] = None, *, baselines: bool = False,
             binned: bool = False, limit: Optional[int] = None,
             frames: Optional[Collection[str]] = None, backend: str = 'torch',
             device: str = 'cpu', precision: str = 'fp32', track: Optional[str] = None,
             examples: int = 4, out: Optional[Union[str, Path]] = None,
             spool_dir: Optional[Union[str, Path]] = None,
             progress: bool = True, operating_point: str = '',
             threshold: Optional[float] = None,
             on_frame: Optional[Callable[[Sample, object], None]] = None,
             alarm_area: float = DEFAULT_ALARM_AREA) -> EvaluationResult:
    """
    Run a bundle over a dataset and compute (and optionally write) its report.

    The dataset and bundle are opened, and ``out`` checked, before the first frame runs, so a
    bad path fails at once and leaves nothing behind; the report is written atomically.

    :param bundle: bundle directory or a loaded bundle.
    :param dataset: dataset kind (a key of ``evaluation.datasets.DATASETS``, e.g.
        ``'folder'`` or ``'bag'``).
    :param root: dataset root (the bag for ``'bag'``).
    :param options: keyword options of the dataset's opener (e.g. ``image_topic``).
    :param baselines: also evaluate the max-softmax, max-logit, entropy and energy scores of
        the same segmentation pass (torch backend; onnxruntime for a segmentation that is an
        ONNX model).
    :param binned: bounded-memory binned pixel metrics instead of exact ones.
    :param limit: evaluate at most this many frames.
    :param frames: evaluate only the frames with these names.
    :param backend: inference backend.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param precision: ``fp32`` or ``fp16``.
    :param track: component size filters, ``'anomaly'`` or ``'obstacle'``; default from the
        dataset kind (:data:`DEFAULT_TRACKS`).
    :param examples: number of example frames in the report.
    :param out: report directory to write (``None``: only return the result).
    :param spool_dir: directory for the temporary score spool (default: next to ``out``).
    :param progress: show a progress bar.
    :param operating_point: the bundle's operating point the masks use (empty: its default).
    :param threshold: a mask threshold in [0, 1] instead of an operating point.
    :param on_frame: called as ``on_frame(sample, result)`` after each frame (the pipeline's
        :class:`~pixel_anomaly_ros.pipelines.AnomalyResult`, at label resolution).
    :param alarm_area: bags: a frame alarms when its mask covers more than this fraction.
    :return: the result.
    :raises DatasetError: for a missing or malformed dataset.
    :raises BundleError: for a broken bundle or an operating point it does not record.
    :raises BackendError: for an unusable backend.
    :raises ValueError: for bad arguments or an ``out`` that is not a report directory.
    """
    if limit is not None and limit < 1:
        raise ValueError(f'limit must be at least 1, got {limit}')
    if out is not None:
        check_output_dir(out)
    options = dict(options or {})
    alarms = AlarmTable(alarm_area)
    data = open_dataset(dataset, root, **options)
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    point = mask_operating_point(bundle, operating_point, threshold)
    track = track or DEFAULT_TRACKS.get(dataset, 'anomaly')
    pipeline = create_pipeline(bundle, backend, device, precision, baselines=baselines)
    pipeline.threshold = point.threshold
    wanted = None if frames is None else set(frames)
    total = len(data)
    if wanted is not None:
        total = len(wanted & set(data.names)) if hasattr(data, 'names') else None
    if limit is not None and total is not None:
        total = min(total, limit)
    if spool_dir is None and out is not None and Path(out).resolve().parent.is_dir():
        spool_dir = Path(out).resolve().parent
    methods = (BUNDLE,) + (BASELINES if baselines else ())
    spec = bundle.spec
    info = {'bundle': spec.name, 'variant': spec.variant, 'bundle_path': str(bundle.path),
            **pipeline.executor.describe(), 'threshold': pipeline.threshold,
            'score_calibration': spec.describe_score_mapping(),
            'operating_point': point.describe(),
            'dataset': dataset, 'root': str(root), 'options': options, 'limit': limit,
            'baselines': baselines}
    if getattr(data, 'labels', None):
        info['labels'] = data.labels
    try:
        with Evaluator(methods, binned, track=track, num_classes=spec.num_classes,
                       threshold=pipeline.threshold, examples=example_positions(total, examples),
                       spool_dir=spool_dir, operating_point=point) as evaluator:
            before = load_average()
            run_samples(pipeline, _select(data, wanted, limit), evaluator, total, progress,
                        spec.name, alarms if data.kind == 'bag' else None, on_frame)
            info['load_average'] = {'before': before, 'after': load_average(),
                                    'cores': os.cpu_count()}
            info['date'] = datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec='seconds')
            result = evaluator.finish(f'Anomaly evaluation: {spec.name} on '
                                      f'{dataset_title(dataset, root)}', info)
    finally:
        pipeline.executor.close()
    if data.kind == 'bag':
        result.bags = bag_entries(describe_bags(data), alarms)
    if out is not None:
        write_report(result, out)
    return result


def run_samples(pipeline, samples: Iterable[Sample], evaluator: Evaluator,
                total: Optional[int], progress: bool, name: str,
                alarms: Optional[AlarmTable] = None, on_frame=None) -> None:
    """
    Run the pipeline on every sample (after one untimed warm-up run) into the evaluator.

    :param pipeline: the pipeline of the bundle.
    :param samples: the frames; unlabelled ones (``anomaly`` None) give latency only.
    :param evaluator: where the labelled frames go.
    :param total: number of frames for the progress bar, or None.
    :param progress: show a progress bar.
    :param name: bundle name for the progress bar.
    :param alarms: alarm statistics per bag (``Sample.source``) of every frame, or None.
    :param on_frame: called as ``on_frame(sample, result)`` after each frame, or None.
    """
    baselines = evaluator.methods[1:]
    warm = False
    for sample in tqdm(samples, total=total, desc=f'evaluate {name}', unit='frame',
                       disable=not progress):
        labelled = sample.anomaly is not None
        size = sample.anomaly.shape if labelled else sample.image.shape[:2]
        if not warm:
            pipeline(sample.image, output_size=size)
            warm = True
        result = pipeline(sample.image, output_size=size)
        timings = dict(result.timings_ms, total=result.total_ms)
        if labelled:
            evaluator.add(sample.name, sample.image, sample.anomaly, result.score,
                          mask=result.mask, train_ids=result.train_ids, semantic=sample.semantic,
                          timings_ms=timings, baselines=result.maps if baselines else None)
        else:
            evaluator.add_timings(timings)
        if alarms is not None:
            alarms.update(sample.source, result.score, result.mask)
        if on_frame is not None:
            on_frame(sample, result)


def _select(data, wanted: Optional[set], limit: Optional[int]) -> Iterable[Sample]:
    """Yield the wanted samples, at most ``limit``; file datasets skip unwanted files unread."""
    samples: Iterable[Sample] = data
    if wanted is not None and isinstance(data, FileDataset):
        samples = (data.load(frame) for frame in data.frames if frame.name in wanted)
    count = 0
    for sample in samples:
        if limit is not None and count >= limit:
            return
        if wanted is not None and sample.name not in wanted:
            continue
        count += 1
        yield sample
