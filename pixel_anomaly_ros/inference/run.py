# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``pixel-anomaly run``: a bundle over photos, folders, videos or bags; no labels needed.

Each frame of the input (:mod:`.sources`) goes through the pipeline at its own size; the mask
is the bundle's operating point (its default unless another one or a threshold is given). Per
frame the directory gets the overlay (camera + heatmap + mask outline), the 0/255 mask and the
score; videos and bags also give ``overlay.mp4`` at the source rate (divided by ``every``) with
a colour bar, and ``bag=True`` an MCAP of the node's output topics (:mod:`.outputs`).
``summary.json`` lists every frame (name, anomaly fraction at the operating point, max score,
pipeline latency) and the run (bundle, backend, precision, operating point, machine load).
Frames that cannot be decoded are reported and skipped. On Ctrl-C the frames done so far stay,
the video and bag are closed with them and ``summary.json`` says ``"interrupted": true``; then
the interruption goes on to the caller.
"""

import datetime
import os
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
from pixel_anomaly_ros.bench.record import load_average
from pixel_anomaly_ros.bundle import Bundle, load_bundle
from pixel_anomaly_ros.evaluation.operating_points import mask_operating_point
from pixel_anomaly_ros.inference.outputs import RunOutputs, SCORE_FORMATS
from pixel_anomaly_ros.inference.sources import InputFrame, open_source, Source
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.visualisation import draw_outline, overlay_bgr
from tqdm import tqdm

#: Rate of ``overlay.mp4`` when a video or bag does not say its own.
DEFAULT_RATE_HZ = 10.0
#: Stamp of the first frame in the output bag when the input has no stamps (folders).
START_NS = 1_700_000_000 * 1_000_000_000


def run(bundle: Union[str, Path, Bundle], source: Union[str, Path], out: Union[str, Path], *,
        image_topic: Optional[str] = None, limit: Optional[int] = None, every: int = 1,
        backend: str = 'auto', device: str = 'cpu', precision: str = 'fp32',
        operating_point: str = '', threshold: Optional[float] = None,
        score_format: str = 'png16', bag: bool = False, overlay_alpha: float = 0.5,
        progress: bool = True, command: str = '') -> Dict[str, object]:
    """
    Run a bundle over an input and write overlays, masks, scores and ``summary.json``.

    The bundle, backend and input are checked before anything is written.

    :param bundle: bundle directory or a loaded bundle.
    :param source: image file, folder of images, video file or bag.
    :param out: output directory (created; a previous run's files there are replaced).
    :param image_topic: camera topic of a bag (default: its one camera topic).
    :param limit: process at most this many frames.
    :param every: process every ``every``-th frame of the input.
    :param backend: inference backend (``auto`` picks the fastest here).
    :param device: ``cpu`` or ``cuda[:N]``.
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :param operating_point: the bundle's operating point for the masks (empty: its default).
    :param threshold: a mask threshold in [0, 1] instead of an operating point.
    :param score_format: ``'png16'`` (16-bit PNG, score = value / 65535) or ``'npy'``.
    :param bag: also write the node's output topics into ``outputs_bag`` (MCAP).
    :param overlay_alpha: heatmap weight of the overlay at score 1, 0..1.
    :param progress: show a progress bar with the time left.
    :param command: the command line, recorded in the summary.
    :return: the summary (also in ``DIR/summary.json``).
    :raises InputError: for an input that cannot be read.
    :raises BundleError: for a broken bundle or an operating point it does not record.
    :raises BackendError: for an unusable backend.
    :raises ValueError: for a bad limit, step, alpha or score format.
    :raises KeyboardInterrupt: after the directory was left consistent on Ctrl-C.
    """
    if (limit is not None and limit < 1) or every < 1:
        raise ValueError(f'limit and every must be at least 1, got {limit} and {every}')
    if not 0.0 <= overlay_alpha <= 1.0 or score_format not in SCORE_FORMATS:
        raise ValueError(f'need overlay_alpha in [0, 1] and score_format in '
                         f'{sorted(SCORE_FORMATS)}, got {overlay_alpha} and {score_format!r}')
    out = Path(out)
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    point = mask_operating_point(bundle, operating_point, threshold)
    data = open_source(source, image_topic, exclude=out)
    pipeline = create_pipeline(bundle, backend, device, precision)
    pipeline.threshold = point.threshold
    moving = data.kind in ('video', 'bag')
    rate = (data.rate_hz or DEFAULT_RATE_HZ) / every if moving else None
    summary = {
        'input': data.describe(), 'command': command,
        'bundle': {'name': bundle.spec.name, 'variant': bundle.spec.variant,
                   'path': str(bundle.path)},
        **pipeline.executor.describe(),
        'operating_point': {'name': point.name, 'threshold': point.threshold,
                            'calibration_tpr': point.tpr, 'calibration_fpr': point.fpr,
                            'description': point.describe()},
        'mask': f'masks/<name>.png: 255 where score >= {point.threshold:.6g}, else 0',
        'score': {'format': score_format, 'meaning': SCORE_FORMATS[score_format][1]},
        'overlay': 'overlays/<name>.jpg: camera + heatmap (weight alpha * score, alpha '
                   f'{overlay_alpha}) + mask outline (cyan)',
        'every': every, 'limit': limit}
    if moving and not data.rate_hz:
        summary['input']['rate_hz_note'] = f'unknown; the video is written at {rate:g} Hz'
    try:
        outputs = RunOutputs(out, score_format, rate, bag, point.threshold)
        _loop(pipeline, data, outputs, summary, limit, every, overlay_alpha, progress)
    finally:
        pipeline.executor.close()
    if summary['interrupted']:
        raise KeyboardInterrupt
    return summary


def _expected(data: Source, limit: Optional[int], every: int) -> Optional[int]:
    total = None if data.total is None else -(-data.total // every)
    return limit if total is None else min(total, limit or total)


def _loop(pipeline, data: Source, outputs: RunOutputs, summary: Dict[str, object],
          limit: Optional[int], every: int, alpha: float, progress: bool) -> None:
    """Process the frames into ``outputs``; always close them and write the summary."""
    frames: List[Dict[str, object]] = []
    skipped: List[Dict[str, object]] = []
    pending: Optional[Dict[str, str]] = None
    summary.update(interrupted=False, load_average={'before': load_average()})
    bar = tqdm(total=_expected(data, limit, every), desc=f'run {pipeline.spec.name}',
               unit='frame', disable=not progress)
    try:
        warm = False
        for frame in data.frames(every):
            if limit is not None and len(frames) >= limit:
                break
            if frame.image is None:
                skipped.append({'name': frame.name, 'index': frame.index, 'error': frame.error})
                bar.write(f'skipped {frame.name}: {frame.error}')
                bar.set_postfix(skipped=len(skipped))
                bar.update(1)
                continue
            if not warm:  # the first call builds lazily; keep it out of the latency
                pipeline(frame.image)
                warm = True
            result = pipeline(frame.image)
            overlay = draw_outline(overlay_bgr(frame.image, result.score, None, alpha),
                                   result.mask)
            pending = outputs.write_frame(frame.name, overlay, result.mask, result.score)
            frames.append(_entry(frame, result, pending))
            pending = None
            outputs.add_video_frame(overlay)
            stamp = frame.stamp_ns if frame.stamp_ns is not None else \
                START_NS + frame.index * 100_000_000
            outputs.add_bag_frame(stamp + (START_NS if data.kind == 'video' else 0),
                                  frame.image, result.score, result.mask, overlay,
                                  result.train_ids)
            bar.update(1)
    except KeyboardInterrupt:
        summary['interrupted'] = True
        for relative in (pending or {}).values():  # written, but not yet in the summary
            (outputs.out / relative).unlink(missing_ok=True)
    except BaseException as exc:
        summary['error'] = f'{type(exc).__name__}: {exc}'
        outputs.abort()
        raise
    finally:
        bar.close()
        if 'error' not in summary:
            summary['outputs'] = outputs.close()
        _finish(summary, frames, skipped)
        outputs.write_summary(summary)


def _entry(frame: InputFrame, result, files: Dict[str, str]) -> Dict[str, object]:
    entry = {'name': frame.name, 'index': frame.index,
             'anomaly_fraction': round(float(np.count_nonzero(result.mask)) / result.mask.size,
                                       6),
             'max_score': round(float(result.score.max()), 6),
             'latency_ms': round(result.total_ms, 3),
             'size': [int(v) for v in result.score.shape[::-1]], 'files': files}
    if frame.stamp_ns is not None:
        entry['stamp_ns'] = int(frame.stamp_ns)
    return entry


def _finish(summary: Dict[str, object], frames: List[Dict[str, object]],
            skipped: List[Dict[str, object]]) -> None:
    latency = np.asarray([f['latency_ms'] for f in frames], np.float64)
    summary['load_average'].update(after=load_average(), cores=os.cpu_count())
    summary.update(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        frames_processed=len(frames), frames_skipped=len(skipped),
        latency_ms={'median': round(float(np.median(latency)), 3),
                    'p95': round(float(np.percentile(latency, 95)), 3)} if latency.size
        else None,
        frames=frames, skipped=skipped)
