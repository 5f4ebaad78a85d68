# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Fleet evaluation benchmark: frames per second of ``evaluate`` serial and ``--ray`` on many bags.

Writes ``bags`` labelled bags of ``frames`` random frames each (one anomaly box per frame) and a
random-weight bundle, then evaluates the folder ``runs`` times each way, alternating:

* serial ``evaluate --binned`` with torch on 1 thread and on ``workers`` threads;
* ``evaluate --binned --ray --workers N`` (one torch thread per worker) on a fresh local Ray
  cluster each run, so Ray's start-up is measured every time: ``startup_s`` (import, start the
  local cluster), ``workers_ready_s`` (start the actors, load the bundle until the first one
  answers) and the rest of the wall time (evaluation, both passes, merging, shutdown).

Frames per second are frames over wall-clock seconds of the whole call; for Ray also without
the start-up. The Ray metrics are checked to equal those of the serial run with one torch
thread (the workers' threads: the same arithmetic).
"""

import tempfile
import time
from typing import Dict, List

import numpy as np
from pixel_anomaly_ros.bench.random_bundle import write_random_bundle
from pixel_anomaly_ros.bench.record import machine_line, write_record
from pixel_anomaly_ros.evaluation.bag_writer import dataset_to_bag
from pixel_anomaly_ros.evaluation.datasets.samples import Sample
from pixel_anomaly_ros.evaluation.distributed import evaluate_on_ray
from pixel_anomaly_ros.evaluation.evaluate import evaluate

#: metrics.json entries that must agree between the serial and the Ray run.
EXACT = ('frames', 'pixel', 'components', 'semantic', 'frame_names', 'bags')


def _frames(count: int, height: int, width: int, seed: int) -> List[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        image = rng.integers(0, 200, (height, width, 3), np.uint8)
        label = np.zeros((height, width), np.uint8)
        y, x = int(rng.integers(0, height * 3 // 4)), int(rng.integers(0, width * 3 // 4))
        label[y:y + height // 4, x:x + width // 4] = 1
        image[label == 1] = (255, 0, 255)
        out.append(Sample(image, label, None, f'f{i}'))
    return out


def benchmark_fleet(bags: int = 6, frames: int = 20, size=(128, 256), workers: int = 2,
                    runs: int = 3, preset: str = 'light_tiny') -> Dict[str, object]:
    """
    Measure serial and Ray evaluation of a folder of bags (see the module docstring).

    :param bags: number of bags.
    :param frames: frames per bag.
    :param size: (height, width) of the frames and of the bundle's input.
    :param workers: Ray workers (and threads of the second serial variant).
    :param runs: measurements of each way.
    :param preset: architecture preset of the random-weight bundle.
    :return: the record.
    :raises RuntimeError: when the Ray metrics differ from the serial ones.
    """
    import torch
    threads = torch.get_num_threads()
    times: Dict[str, List[float]] = {'serial_1': [], f'serial_{workers}': [], 'ray': []}
    ray_parts: Dict[str, List[float]] = {'startup_s': [], 'workers_ready_s': []}
    with tempfile.TemporaryDirectory(prefix='pixel-anomaly-fleet-') as tmp:
        bundle = write_random_bundle(preset, f'{tmp}/bundle', input_size=size)
        for b in range(bags):
            dataset_to_bag(_frames(frames, *size, seed=b), f'{tmp}/bags/bag{b:02d}',
                           progress=False)
        reference = None
        try:
            for _ in range(runs):
                for count in (1, workers):
                    torch.set_num_threads(count)
                    start = time.perf_counter()
                    serial = evaluate(bundle.path, 'bag', f'{tmp}/bags', binned=True,
                                      progress=False)
                    times[f'serial_{count}'].append(time.perf_counter() - start)
                    if count == 1:  # the workers' arithmetic: one torch thread each
                        reference = {k: serial.to_dict()[k] for k in EXACT}
                start = time.perf_counter()
                result = evaluate_on_ray(bundle.path, f'{tmp}/bags', workers=workers,
                                         binned=True, progress=False, threads=1)
                times['ray'].append(time.perf_counter() - start)
                for key in ray_parts:
                    ray_parts[key].append(result.info['ray'][key])
                if {k: result.to_dict()[k] for k in EXACT} != reference:
                    raise RuntimeError('the Ray metrics differ from the serial ones')
        finally:
            torch.set_num_threads(threads)
    total = bags * frames
    medians = {k: float(np.median(v)) for k, v in times.items()}
    startup = float(np.median(np.add(ray_parts['startup_s'], ray_parts['workers_ready_s'])))
    return {'bags': bags, 'frames_per_bag': frames, 'frames': total, 'size': list(size),
            'preset': preset, 'workers': workers, 'runs': runs, 'seconds': times,
            'ray_parts': ray_parts, 'median_seconds': medians,
            'median_fps': {k: total / v for k, v in medians.items()},
            'ray_startup_median_s': startup,
            'ray_fps_without_startup': total / (medians['ray'] - startup),
            'exact': True}


def format_fleet_benchmark(record: Dict[str, object]) -> str:
    """
    Render the record as Markdown.

    :param record: from :func:`benchmark_fleet` (with ``date`` and ``machine``).
    :return: the text.
    """
    r, w = record, record['workers']
    fps, sec = r['median_fps'], r['median_seconds']
    h, wd = r['size']
    serial_w = f'serial_{w}'
    lines = [f'# Fleet evaluation — serial vs Ray, {r["bags"]} bags x {r["frames_per_bag"]} '
             f'frames', '',
             f'`evaluate --dataset bag --binned` over a folder of {r["bags"]} labelled bags '
             f'({r["frames"]} frames of {wd}x{h}, random-weight `{r["preset"]}` bundle, torch '
             f'CPU fp32), median of {r["runs"]} runs each, alternating; {r["date"]}. The Ray '
             'metrics equal those of the serial 1-thread run in every run (pixel, component, '
             'semantic, per bag).',
             '', '| way | median s | frames/s | vs serial 1 thread |', '|---|---:|---:|---:|']
    rows = [('serial, torch 1 thread', 'serial_1'),
            (f'serial, torch {w} threads', serial_w),
            (f'--ray --workers {w} (1 thread each), start-up included', 'ray')]
    for label, key in rows:
        lines.append(f'| {label} | {sec[key]:.2f} | **{fps[key]:.2f}** | '
                     f'{fps[key] / fps["serial_1"]:.2f}x |')
    without = r['ray_fps_without_startup']
    lines.append(f'| --ray --workers {w}, start-up left out | '
                 f'{sec["ray"] - r["ray_startup_median_s"]:.2f} | **{without:.2f}** | '
                 f'{without / fps["serial_1"]:.2f}x |')
    parts = r['ray_parts']
    each = ', '.join(f'{a:.2f} + {b:.2f} s'
                     for a, b in zip(parts['startup_s'], parts['workers_ready_s']))
    seconds = '; '.join(f'{k} ' + ', '.join(f'{v:.2f}' for v in vals)
                        for k, vals in r['seconds'].items())
    lines += ['', f'Ray start-up per run (a fresh local cluster each time): median '
              f'{np.median(parts["startup_s"]):.2f} s to import Ray and start the cluster, plus '
              f'{np.median(parts["workers_ready_s"]):.2f} s until the {w} workers have loaded the '
              f'bundle; runs: {each}. Joining a running cluster (`--address`) skips the first '
              'part.', '', f'Every run in seconds: {seconds}.', '',
              machine_line(r['machine'])]
    return '\n'.join(lines)


def write_fleet_benchmark(record: Dict[str, object], out_dir):
    """
    Write the record as ``fleet_evaluation_ray.json`` and ``.md``.

    :param record: from :func:`benchmark_fleet`.
    :param out_dir: output directory.
    :return: the two paths.
    """
    return write_record(record, format_fleet_benchmark, out_dir, 'fleet_evaluation_ray')
