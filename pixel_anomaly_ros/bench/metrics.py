# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Throughput and memory benchmark of the pixel metrics.

Measures the binned accumulator's update throughput (pixels per second on the calling thread),
shows that its resident memory does not grow with the number of images, and measures the exact
accumulator's memory (held bytes, estimated and traced peak) on a smaller set. Score and label
maps are generated once and cycled, so generation is not timed.
"""

import gc
from pathlib import Path
import time
import tracemalloc
from typing import Dict, List, Tuple

import numpy as np
from pixel_anomaly_ros.bench.record import load_average, machine_line, write_record
from pixel_anomaly_ros.evaluation.metrics import BinnedPixelMetrics, ExactPixelMetrics
import psutil

MIB = float(1 << 20)


def synthetic_maps(count: int, height: int, width: int, seed: int = 0
                   ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """
    Generate realistic-looking float32 score and uint8 label maps.

    The top sixth of each image is void (255), a few rectangles (about 2-3 % of the pixels)
    are anomalies (1); inlier scores follow Beta(2, 6) and anomaly scores Beta(5, 2).

    :param count: number of (score, label) pairs.
    :param height: map height.
    :param width: map width.
    :param seed: random seed.
    :return: list of (score, label) pairs.
    """
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(count):
        label = np.zeros((height, width), dtype=np.uint8)
        label[:height // 6] = 255
        for _ in range(3):
            h, w = max(1, height // 10), max(1, width // 12)
            y = int(rng.integers(height // 6, height - h + 1))
            x = int(rng.integers(0, width - w + 1))
            label[y:y + h, x:x + w] = 1
        score = np.where(label == 1, rng.beta(5.0, 2.0, label.shape),
                         rng.beta(2.0, 6.0, label.shape)).astype(np.float32)
        maps.append((score, label))
    return maps


def _rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def _binned_run(maps, images: int, bins: int) -> Dict[str, object]:
    """Feed ``images`` maps (cycled) to a fresh binned accumulator, timing each update."""
    warm = BinnedPixelMetrics(0.0, 1.0, bins)
    warm.update(*maps[0])  # warm-up: first-touch allocations of the temporaries
    warm.compute()
    acc = BinnedPixelMetrics(0.0, 1.0, bins)
    rss_before = _rss()
    seconds, cpu_seconds = [], []
    for i in range(images):
        score, label = maps[i % len(maps)]
        start, cpu_start = time.perf_counter(), time.thread_time()
        acc.update(score, label)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.thread_time() - cpu_start)
    start = time.perf_counter()
    metrics = acc.compute()
    compute_s = time.perf_counter() - start
    rss_after = _rss()
    pixels = maps[0][0].size
    rates = pixels / np.asarray(seconds) / 1e6
    cpu_rate = pixels / max(float(np.median(cpu_seconds)), 1e-9) / 1e6
    return {'images': images, 'median_mpix_s': float(np.median(rates)),
            'min_mpix_s': float(rates.min()), 'max_mpix_s': float(rates.max()),
            'median_cpu_mpix_s': cpu_rate,
            'median_update_ms': float(np.median(seconds) * 1e3), 'compute_ms': compute_s * 1e3,
            'rss_before_mib': rss_before / MIB, 'rss_after_mib': rss_after / MIB,
            'rss_growth_mib': (rss_after - rss_before) / MIB, 'state_bytes': acc.nbytes,
            'metrics': metrics.to_dict()}


def benchmark_metrics(images: int = 100, height: int = 1024, width: int = 2048, seed: int = 0,
                      exact_images: int = 10, pool: int = 4, bins: int = 1 << 16
                      ) -> Dict[str, object]:
    """
    Benchmark the pixel metrics on synthetic maps.

    :param images: images fed to the binned accumulator in the long run; a short run with
        ``min(10, images)`` images is made too, to compare resident memory.
    :param height: map height.
    :param width: map width.
    :param seed: seed of the synthetic maps.
    :param exact_images: images fed to the exact accumulator (memory grows with them).
    :param pool: distinct maps generated once and cycled.
    :param bins: bins of the binned accumulator (range [0, 1]).
    :return: JSON-ready record: ``binned`` (throughput and memory of each run), ``exact``
        (memory and time), ``agreement`` (exact vs binned on the exact set), ``config``,
        ``machine``.
    """
    load_before = load_average()
    maps = synthetic_maps(pool, height, width, seed)
    runs = [_binned_run(maps, n, bins) for n in sorted({min(10, images), images})]
    exact = ExactPixelMetrics()
    binned = BinnedPixelMetrics(0.0, 1.0, bins)
    # tracemalloc sees numpy's buffers: peaks are of the bytes allocated since start().
    gc.collect()
    tracemalloc.start()
    try:
        binned.update(*maps[0])
        update_peak = tracemalloc.get_traced_memory()[1]
        binned = BinnedPixelMetrics(0.0, 1.0, bins)
        for i in range(exact_images):
            exact.update(*maps[i % pool])
            binned.update(*maps[i % pool])
        held, estimate = exact.nbytes, exact.compute_peak_bytes
        tracemalloc.reset_peak()
        start = time.perf_counter()
        exact_metrics = exact.compute()
        compute_s = time.perf_counter() - start
        compute_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    binned_metrics = binned.compute()
    valid = exact_metrics.positives + exact_metrics.negatives
    return {
        'config': {'images': images, 'height': height, 'width': width, 'seed': seed,
                   'pool': pool, 'bins': bins, 'range': [0.0, 1.0],
                   'exact_images': exact_images, 'dtypes': 'float32 scores, uint8 labels',
                   'load_average': load_before},
        'binned': {'runs': runs, 'update_peak_bytes': update_peak},
        'exact': {'images': exact_images, 'valid_pixels': valid, 'held_bytes': held,
                  'estimated_compute_peak_bytes': estimate,
                  'traced_compute_peak_bytes': compute_peak,
                  'peak_bytes_per_valid_pixel': compute_peak / max(valid, 1),
                  'compute_s': compute_s},
        'agreement': {'exact': exact_metrics.to_dict(), 'binned': binned_metrics.to_dict(),
                      'ap_points_difference': 100.0 * abs(exact_metrics.ap - binned_metrics.ap)},
    }


def format_metrics_benchmark(result: Dict[str, object]) -> str:
    """
    Render a :func:`benchmark_metrics` record as Markdown.

    :param result: the record.
    :return: Markdown text.
    """
    cfg, exact, agree = result['config'], result['exact'], result['agreement']
    lines = [f"# Pixel metrics — throughput and memory, {cfg['width']}x{cfg['height']}", '',
             f"{cfg['dtypes']}; {cfg['pool']} synthetic maps cycled (generation not timed); "
             f"binned: {cfg['bins']} bins over [0, 1], one update per image on the calling "
             f"thread; {result.get('date', '')}.", '',
             '## Binned accumulator', '',
             'Mpx/s: pixels per wall-clock second of each update (median, min, max) and per '
             'second of the CPU time of this thread (median; insensitive to other load on the '
             f"machine, load average at start {cfg['load_average']:.2f}).", '',
             '| images | median Mpx/s | min / max Mpx/s | CPU-time Mpx/s | median update ms '
             '| compute ms | RSS before MiB | RSS after MiB | growth MiB |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in result['binned']['runs']:
        lines.append(f"| {r['images']} | **{r['median_mpix_s']:.1f}** | "
                     f"{r['min_mpix_s']:.1f} / {r['max_mpix_s']:.1f} | "
                     f"{r['median_cpu_mpix_s']:.1f} | "
                     f"{r['median_update_ms']:.1f} | {r['compute_ms']:.1f} | "
                     f"{r['rss_before_mib']:.1f} | {r['rss_after_mib']:.1f} | "
                     f"{r['rss_growth_mib']:+.1f} |")
    runs = result['binned']['runs']
    lines += ['', f"State: {runs[0]['state_bytes'] / MIB:.2f} MiB of counts whatever the number "
              'of images; traced peak of one update (temporaries): '
              f"{result['binned']['update_peak_bytes'] / MIB:.1f} MiB.", '',
              f"## Exact accumulator ({exact['images']} images, "
              f"{exact['valid_pixels'] / 1e6:.1f} M valid pixels)", '',
              '| held MiB | estimated compute peak MiB | traced compute peak MiB '
              '| peak bytes / valid pixel | compute s |', '|---:|---:|---:|---:|---:|',
              f"| {exact['held_bytes'] / MIB:.1f} | "
              f"{exact['estimated_compute_peak_bytes'] / MIB:.1f} | "
              f"{exact['traced_compute_peak_bytes'] / MIB:.1f} | "
              f"{exact['peak_bytes_per_valid_pixel']:.1f} | {exact['compute_s']:.2f} |", '',
              '## Exact vs binned on the same images', '',
              '| mode | AP | AUROC | FPR95 |', '|---|---:|---:|---:|']
    for mode in ('exact', 'binned'):
        m = agree[mode]
        lines.append(f"| {mode} | {100 * m['ap']:.4f} | {100 * m['auroc']:.4f} | "
                     f"{100 * m['fpr95']:.4f} |")
    lines += ['', f"AP difference: {agree['ap_points_difference']:.5f} points.", '',
              machine_line(result['machine']), '']
    return '\n'.join(lines)


def write_metrics_benchmark(result: Dict[str, object], out_dir) -> Tuple[Path, Path]:
    """
    Write a :func:`benchmark_metrics` record as ``metrics_throughput.{json,md}``.

    :param result: the record.
    :param out_dir: output directory (created if missing).
    :return: paths of the JSON and Markdown files.
    """
    return write_record(result, format_metrics_benchmark, out_dir, 'metrics_throughput')
