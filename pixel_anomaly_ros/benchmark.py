# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Latency benchmark of a pipeline: per-stage and end-to-end median / p95 and throughput.

Results are written as JSON and Markdown under ``benchmarks/`` together with the machine,
backend, precision and library versions, so that numbers from one run can be compared.
"""

from datetime import datetime, timezone
import json
import os
from pathlib import Path
import platform
import time
from typing import Dict, Tuple

import numpy as np

from pixel_anomaly_ros.pipelines.base import AnomalyPipeline


def cpu_name() -> str:
    """Return the CPU model name (from /proc/cpuinfo where available)."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, object]:
    """Return CPU, thread count, GPU (if any) and library versions."""
    import torch
    info = {'cpu': cpu_name(), 'cores': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
            'python': platform.python_version(), 'torch': torch.__version__,
            'numpy': np.__version__, 'platform': platform.platform()}
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def benchmark_pipeline(pipeline: AnomalyPipeline, image_size: Tuple[int, int], runs: int = 10,
                       warmup: int = 2, seed: int = 0, progress: bool = True
                       ) -> Dict[str, object]:
    """
    Time a pipeline on a random RGB image.

    :param pipeline: the pipeline to time.
    :param image_size: (height, width) of the camera image fed to the pipeline.
    :param runs: timed calls (the medians are over these).
    :param warmup: untimed calls first (allocations, lazy initialisation).
    :param seed: seed of the random image.
    :param progress: show a progress bar.
    :return: ``{'stages': {stage: {median_ms, p95_ms, max_ms}}, 'end_to_end': {...},
        'throughput_fps': ..., 'runs': ...}``.
    """
    from tqdm import tqdm
    image = np.random.default_rng(seed).integers(0, 256, (*image_size, 3), dtype=np.uint8)
    for _ in range(warmup):
        pipeline(image)
    per_stage: Dict[str, list] = {}
    totals = []
    start = time.perf_counter()
    for _ in tqdm(range(runs), desc='bench', unit='run', disable=not progress):
        t0 = time.perf_counter()
        result = pipeline(image)
        totals.append((time.perf_counter() - t0) * 1000.0)
        for stage, ms in result.timings_ms.items():
            per_stage.setdefault(stage, []).append(ms)
    elapsed = time.perf_counter() - start
    return {'stages': {s: _stats(v) for s, v in per_stage.items()},
            'end_to_end': _stats(totals), 'throughput_fps': runs / elapsed, 'runs': runs,
            'warmup': warmup}


def _stats(values) -> Dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {'median_ms': float(np.median(arr)), 'p95_ms': float(np.percentile(arr, 95)),
            'max_ms': float(arr.max())}


def write_results(record: Dict[str, object], out_dir, stem: str) -> Tuple[Path, Path]:
    """
    Write one benchmark record as ``<stem>.json`` and ``<stem>.md``.

    :param record: the benchmark record (timings plus run metadata).
    :param out_dir: output directory (created if missing).
    :param stem: file name without extension.
    :return: paths of the JSON and Markdown files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = dict(record, date=datetime.now(timezone.utc).isoformat(timespec='seconds'))
    json_path, md_path = out_dir / f'{stem}.json', out_dir / f'{stem}.md'
    write_text_atomic(json_path, json.dumps(record, indent=2) + '\n')
    write_text_atomic(md_path, format_markdown(record))
    return json_path, md_path


def format_markdown(record: Dict[str, object]) -> str:
    """Render a benchmark record as a Markdown table with its metadata."""
    run = record['run']
    lines = [f"# {run['model']} — {run['backend']} {run['device']} {run['precision']}, "
             f"{run['resolution']}", '',
             f"{record['runs']} timed runs after {record['warmup']} warm-up runs; "
             f"{record.get('date', '')}. Weights: {run['weights']}.", '',
             '| stage | median ms | p95 ms | max ms |', '|---|---:|---:|---:|']
    rows = list(record['stages'].items()) + [('**end to end**', record['end_to_end'])]
    for stage, s in rows:
        lines.append(f"| {stage} | {s['median_ms']:.1f} | {s['p95_ms']:.1f} | "
                     f"{s['max_ms']:.1f} |")
    lines += ['', f"Throughput: {record['throughput_fps']:.2f} frames/s.", '',
              'Machine: ' + ', '.join(f'{k} {v}' for k, v in record['machine'].items()), '']
    return '\n'.join(lines)


def write_text_atomic(path: Path, text: str) -> None:
    """
    Write a text file atomically (temporary sibling, then rename).

    :param path: destination.
    :param text: content.
    """
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)
