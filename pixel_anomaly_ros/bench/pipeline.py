# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Latency benchmark of a pipeline: per-stage and end-to-end median / p95 and throughput.

:func:`bench_bundle` times a bundle on one backend and writes the record under ``out_dir``;
:func:`prepare_random_bundle` makes a random-weight bundle of an architecture preset ready for
a backend (exported for the ONNX-based ones, quantised for int8), for timing only.
"""

from dataclasses import replace
from pathlib import Path
import time
from typing import Dict, Optional, Tuple

import numpy as np
from pixel_anomaly_ros.bench.random_bundle import write_random_bundle
from pixel_anomaly_ros.bench.record import latency_stats, machine_line, write_record
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.pipelines.base import AnomalyPipeline


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
    return {'stages': {s: latency_stats(v) for s, v in per_stage.items()},
            'end_to_end': latency_stats(totals), 'throughput_fps': runs / elapsed,
            'runs': runs, 'warmup': warmup}


def bench_bundle(bundle: Bundle, out_dir, backend: str = 'torch', device: str = 'cpu',
                 precision: str = 'fp32', compile_mode: Optional[str] = None, runs: int = 10,
                 warmup: int = 2, input_size: Optional[Tuple[int, int]] = None,
                 weights: str = '', progress: bool = True, cuda_graphs: bool = False
                 ) -> Tuple[Path, Path]:
    """
    Time a bundle's pipeline on one backend and write the record.

    :param bundle: the bundle.
    :param out_dir: where the JSON and Markdown go.
    :param backend: backend (``auto`` records what it chose).
    :param device: ``cpu`` or ``cuda[:N]``.
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :param compile_mode: torch backend: ``inductor`` or ``torch_tensorrt``.
    :param runs: timed runs.
    :param warmup: untimed runs first.
    :param input_size: camera and network (height, width); default: the bundle's. Only the
        torch backend can change it (the exported graphs have static shapes).
    :param weights: what the weights are, for the record (e.g. ``random (preset)``).
    :param progress: show a progress bar and one line of what is timed.
    :param cuda_graphs: torch backend on CUDA: replay each stage as a CUDA graph.
    :return: paths of the JSON and Markdown files.
    :raises ValueError: for another size on a backend that runs exported graphs.
    """
    if input_size and tuple(input_size) != tuple(bundle.spec.input_size):
        if backend != 'torch':
            raise ValueError(f'{bundle.path} was exported at {bundle.spec.input_size[1]}x'
                             f'{bundle.spec.input_size[0]}; re-export the bundle at that size '
                             f'or time another size with --backend torch')
        bundle = Bundle(bundle.path, replace(bundle.spec, input_size=tuple(input_size)))
    pipeline = create_pipeline(bundle, backend, device, precision, compile_mode=compile_mode,
                               cuda_graphs=cuda_graphs)
    spec = bundle.spec
    h, w = spec.input_size
    run = pipeline.executor.describe()
    if progress:
        print(f'benchmarking {spec.name} ({spec.variant}) at {w}x{h} on {run["backend"]} '
              f'{run["device"]} {run["precision"]}', flush=True)
    try:
        record = benchmark_pipeline(pipeline, (h, w), runs, warmup, progress=progress)
    finally:
        pipeline.executor.close()
    record['run'] = {'model': spec.name, 'variant': spec.variant,
                     'weights': weights or f'bundle {bundle.path}',
                     'networks': {c: n.builder for c, n in spec.networks.items()},
                     **run, 'requested_backend': backend, 'resolution': f'{w}x{h}'}
    stem = (f'{spec.name}_{run["backend"]}_{run["device"].replace(":", "")}_'
            f'{run["precision"]}_{w}x{h}')
    return write_record(record, format_markdown, out_dir, stem)


def prepare_random_bundle(preset: str, out_dir, backend: str = 'torch',
                          precision: str = 'fp32',
                          input_size: Optional[Tuple[int, int]] = None) -> Bundle:
    """
    Write a random-weight bundle of an architecture preset, ready to time on a backend.

    Random weights time like trained ones but score meaninglessly. ONNX-based backends get the
    exported graphs; onnxruntime int8 gets graphs quantised on random images (their ranges are
    meaningless too, but int8 kernels take as long with any).

    :param preset: architecture preset, e.g. ``light``.
    :param out_dir: the bundle directory to create.
    :param backend: the backend it will be timed on.
    :param precision: the precision it will be timed at.
    :param input_size: network (height, width); default: the preset's.
    :return: the bundle.
    """
    changes = {'input_size': tuple(input_size)} if input_size else {}
    # One calibration image: at full size each is a whole pipeline run (seconds on a CPU).
    bundle = write_random_bundle(preset, out_dir, calibration_images=1, **changes)
    if backend != 'torch':
        from pixel_anomaly_ros.export.onnx_export import export_bundle
        export_bundle(bundle)
    if backend == 'onnxruntime' and precision == 'int8':
        from pixel_anomaly_ros.export.quantization import quantize_bundle
        h, w = bundle.spec.input_size
        images = np.random.default_rng(1).integers(0, 256, (4, h, w, 3), dtype=np.uint8)
        quantize_bundle(bundle, list(images))
    return bundle


def format_markdown(record: Dict[str, object]) -> str:
    """
    Render a pipeline benchmark record as a Markdown table with its metadata.

    :param record: the record written by :func:`bench_bundle`.
    :return: Markdown text.
    """
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
              machine_line(record['machine']), '']
    return '\n'.join(lines)
