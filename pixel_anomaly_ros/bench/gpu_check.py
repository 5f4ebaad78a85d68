# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``make gpu-check``: the one prepared GPU measurement, sized for a lent GPU's short lease.

1. ``pytest -m gpu`` over the GPU test files (torch-CUDA, CUDA graphs, TensorRT when
   installed);
2. per-stage and end-to-end latency (median and p95 of ``--runs`` calls after warm-up, stages
   timed with CUDA events) of the full-size pipelines with random weights: SynBoost Light and
   PEBAL-on-ICNet at 2048x1024, PEBAL WideResNet38 at 1024x512, on torch-CUDA fp32, fp16 and
   fp16 + CUDA graphs, and TensorRT fp16 when TensorRT is importable; plus how far fp16 moves
   the score and the train ids from fp32;
3. one record (JSON + Markdown, GPU name and driver) in ``--out``.

Without a CUDA GPU it prints one line and exits 0. Only the standard library is imported
before that check, so it also answers on a machine without torch.
"""

import argparse
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

#: (preset, camera and network (height, width)) of the measured pipelines.
CONFIGS = (('light', (1024, 2048)), ('pebal_icnet', (1024, 2048)), ('pebal', (512, 1024)))
#: (label, backend, precision, torch options) of the measured variants.
VARIANTS = (('torch fp32', 'torch', 'fp32', {}),
            ('torch fp16', 'torch', 'fp16', {}),
            ('torch fp16 + CUDA graphs', 'torch', 'fp16', {'cuda_graphs': True}),
            ('tensorrt fp16', 'tensorrt', 'fp16', {}))
GPU_TESTS = ('test/test_cuda.py', 'test/test_pipelines.py', 'test/test_tensorrt.py')


def cuda_problem() -> Optional[str]:
    """Say why no CUDA GPU can be used here, or None when one can."""
    try:
        import torch
    except ImportError:
        return 'torch is not installed'
    if not torch.cuda.is_available():
        return 'torch sees no CUDA device'
    return None


def run_gpu_tests(root: Path, timeout_s: int) -> Dict[str, object]:
    """
    Run ``pytest -m gpu`` over the GPU test files and keep its summary line.

    :param root: the repository root.
    :param timeout_s: time limit of the test run.
    :return: ``{'command', 'returncode', 'summary', 'seconds'}``.
    """
    command = [sys.executable, '-m', 'pytest', '-m', 'gpu', '-q', '-p', 'no:cacheprovider',
               *GPU_TESTS]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True,
                              timeout=timeout_s)
        lines = (done.stdout + done.stderr).strip().splitlines()
        summary, code = (lines[-1] if lines else ''), done.returncode
        print('\n'.join(lines[-25:]), flush=True)
    except subprocess.TimeoutExpired:
        summary, code = f'timed out after {timeout_s} s', -1
    return {'command': ' '.join(command[1:]), 'returncode': code, 'summary': summary,
            'seconds': round(time.perf_counter() - start, 1)}


def time_variant(bundle, backend: str, precision: str, options: dict, runs: int,
                 warmup: int) -> Dict[str, object]:
    """
    Time one pipeline variant on a random camera image at the bundle's size.

    :param bundle: the random-weight bundle.
    :param backend: ``torch`` or ``tensorrt``.
    :param precision: ``fp32`` or ``fp16``.
    :param options: executor options (``cuda_graphs``).
    :param runs: timed calls.
    :param warmup: untimed calls first.
    :return: stage and end-to-end statistics plus the raw score of the last call.
    """
    import numpy as np

    from pixel_anomaly_ros.bench.record import latency_stats
    from pixel_anomaly_ros.pipelines import create_pipeline
    pipeline = create_pipeline(bundle, backend, 'cuda', precision, **options)
    h, w = bundle.spec.input_size
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    try:
        for _ in range(warmup):
            pipeline(image)
        stages: Dict[str, List[float]] = {}
        totals = []
        for _ in range(runs):
            start = time.perf_counter()
            result = pipeline(image)
            totals.append((time.perf_counter() - start) * 1000.0)
            for stage, ms in result.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
        last = pipeline(image, return_maps=True)
    finally:
        pipeline.executor.close()
    return {'stages': {s: latency_stats(v) for s, v in stages.items()},
            'end_to_end': latency_stats(totals), 'executor': pipeline.executor.describe(),
            'score': last.score, 'train_ids': last.train_ids}


def measure(runs: int, warmup: int, budget_s: float, started: float) -> List[dict]:
    """
    Measure every configuration and variant that fits the time budget.

    :param runs: timed calls per variant.
    :param warmup: untimed calls first.
    :param budget_s: stop starting new configurations after this many seconds.
    :param started: ``time.perf_counter()`` of the start of the check.
    :return: one row per configuration and variant.
    """
    import numpy as np

    from pixel_anomaly_ros.bench.random_bundle import write_random_bundle
    from pixel_anomaly_ros.runtime.tensorrt_engines import tensorrt_available
    rows = []
    with tempfile.TemporaryDirectory(prefix='gpu-check-') as tmp:
        for preset, size in CONFIGS:
            if time.perf_counter() - started > budget_s:
                rows.append({'preset': preset, 'skipped': 'time budget spent'})
                continue
            print(f'== {preset} at {size[1]}x{size[0]}', flush=True)
            bundle = write_random_bundle(preset, Path(tmp) / preset, calibration_images=1,
                                         input_size=size)
            reference = None
            for label, backend, precision, options in VARIANTS:
                if backend == 'tensorrt':
                    if not tensorrt_available():
                        continue
                    from pixel_anomaly_ros.export.onnx_export import export_bundle
                    export_bundle(bundle, progress=False)
                timing = time_variant(bundle, backend, precision, options, runs, warmup)
                score, ids = timing.pop('score'), timing.pop('train_ids')
                if reference is None:
                    reference = (score, ids)
                timing.update(preset=preset, resolution=f'{size[1]}x{size[0]}', variant=label,
                              score_max_diff_vs_fp32=float(np.abs(score - reference[0]).max()),
                              train_ids_differ_vs_fp32=float(np.mean(ids != reference[1])))
                rows.append(timing)
                print(f'   {label}: median {timing["end_to_end"]["median_ms"]:.2f} ms', flush=True)
    return rows


def format_markdown(record: Dict[str, object]) -> str:
    """
    Render the gpu-check record.

    :param record: the record.
    :return: Markdown text.
    """
    from pixel_anomaly_ros.bench.record import machine_line
    tests = record['gpu_tests']
    lines = [f"# gpu-check on {record['gpu']} (driver {record['driver']})", '',
             f"{record['runs']} timed runs after {record['warmup']} warm-up runs per variant, "
             f"random weights; stages timed with CUDA events; {record.get('date', '')}.", '',
             f"`pytest {tests['command'].split('pytest ', 1)[-1]}`: {tests['summary']} "
             f"(exit {tests['returncode']}, {tests['seconds']} s).", '',
             '| pipeline | size | variant | end-to-end median / p95 ms | stages (median ms) | '
             'max score diff vs fp32 | train ids differ |',
             '|---|---|---|---:|---|---:|---:|']
    for row in record['rows']:
        if 'skipped' in row:
            lines.append(f"| {row['preset']} | | skipped: {row['skipped']} | | | | |")
            continue
        e2e, stages = row['end_to_end'], row['stages']
        lines.append(
            f"| {row['preset']} | {row['resolution']} | {row['variant']} | "
            f"{e2e['median_ms']:.2f} / {e2e['p95_ms']:.2f} | "
            + ', '.join(f"{s} {v['median_ms']:.2f}" for s, v in stages.items())
            + f" | {row['score_max_diff_vs_fp32']:.2e} | {row['train_ids_differ_vs_fp32']:.3%} |")
    lines += ['', machine_line(record['machine']), '']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the check.

    :param argv: arguments (default ``sys.argv[1:]``).
    :return: exit status (0 also without a GPU).
    """
    parser = argparse.ArgumentParser(prog='gpu-check', description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='benchmarks', help='output directory')
    parser.add_argument('--runs', type=int, default=60, help='timed runs per variant (>= 50)')
    parser.add_argument('--warmup', type=int, default=10, help='untimed runs per variant')
    parser.add_argument('--budget-s', type=float, default=420.0,
                        help='start no new pipeline after this many seconds (default 420)')
    parser.add_argument('--tests-timeout-s', type=int, default=180,
                        help='time limit of the gpu tests (default 180)')
    args = parser.parse_args(argv)
    problem = cuda_problem()
    if problem:
        print(f'gpu-check: no CUDA GPU here ({problem}); nothing to measure.')
        return 0
    started = time.perf_counter()
    import torch

    from pixel_anomaly_ros.bench.record import write_record
    root = Path(__file__).resolve().parents[2]
    tests = run_gpu_tests(root, args.tests_timeout_s)
    rows = measure(args.runs, args.warmup, args.budget_s, started)
    gpu = torch.cuda.get_device_name(0)
    record = {'gpu': gpu, 'driver': _driver_version(), 'cuda': torch.version.cuda,
              'runs': args.runs, 'warmup': args.warmup, 'gpu_tests': tests, 'rows': rows,
              'seconds': round(time.perf_counter() - started, 1)}
    stem = 'gpu_check_' + ''.join(c if c.isalnum() else '_' for c in gpu.lower()).strip('_')
    json_path, md_path = write_record(record, format_markdown, args.out, stem)
    print(md_path.read_text())
    print(f'wrote {json_path} and {md_path} in {record["seconds"]} s')
    return 0 if tests['returncode'] == 0 else 1


def _driver_version() -> str:
    try:
        done = subprocess.run(['nvidia-smi', '--query-gpu=driver_version',
                               '--format=csv,noheader'], capture_output=True, text=True,
                              timeout=30, env={**os.environ})
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 else 'unknown'
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return 'unknown'


if __name__ == '__main__':
    sys.exit(main())
