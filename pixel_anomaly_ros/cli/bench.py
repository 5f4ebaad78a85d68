# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly bench``: pipeline latency, detector_node overhead, metric throughput."""

import argparse

from pixel_anomaly_ros.cli.args import (add_backend_arguments, count_type, network_size,
                                        positive_number)

PRESETS_HELP = 'light, light_tiny, pebal, pebal_tiny, pebal_icnet, pebal_icnet_tiny'


def add_parser(subparsers) -> None:
    """
    Register ``bench``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'bench', help='measure per-stage latency of a pipeline',
        description='Time a pipeline on a random image: per-stage and end-to-end median and '
                    'p95 in milliseconds, and throughput. Results go to --out as JSON and '
                    'Markdown with the machine, its load and the library versions.',
        epilog='Examples:\n  pixel-anomaly bench --bundle models/demo_light\n'
               '  pixel-anomaly bench --preset light --resolution 2048x1024 --runs 10\n'
               '  pixel-anomaly bench --node --preset light_tiny --resolution 2048x1024\n'
               '  pixel-anomaly bench --node --soak 10 --bundle models/demo_pebal --backend auto\n'
               '  pixel-anomaly bench --metrics\n'
               'A --preset uses random weights: right for timing, meaningless scores.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_argument_group('other measurements')
    mode.add_argument('--node', action='store_true',
                      help='measure detector_node instead: overhead per frame (decode, '
                           'post-process, encode and publish of all outputs) and end-to-end '
                           'latency across processes; --resolution is the camera size')
    mode.add_argument('--soak', type=positive_number, metavar='MINUTES',
                      help='--node for MINUTES: per-minute RSS floor and growth, end-to-end '
                           'latency p50/p95 and drops (default camera 1024x512 at 30 Hz)')
    mode.add_argument('--rate', type=positive_number,
                      help='--node: camera rate in Hz (default 10; --soak 30)')
    mode.add_argument('--seconds', type=positive_number, default=15.0,
                      help='--node: measuring time')
    mode.add_argument('--no-shm', action='store_true',
                      help='--node: default Fast DDS transports instead of config/fastdds_shm.xml')
    mode.add_argument('--output-resolution', default='input', choices=['input', 'network'],
                      help='--node: size of the published outputs (default input)')
    mode.add_argument('--fleet', action='store_true',
                      help='measure evaluate over 6 bags serial vs --ray --workers 2 (frames/s, '
                           'Ray start-up; --runs each)')
    mode.add_argument('--metrics', action='store_true',
                      help='measure the binned anomaly metrics instead (100 images of '
                           '1024x2048, one core) and the peak memory of the exact mode')
    src = p.add_mutually_exclusive_group()
    src.add_argument('--bundle', help='bundle directory')
    src.add_argument('--preset', help=f'architecture preset with random weights: {PRESETS_HELP}')
    add_backend_arguments(p)
    p.add_argument('--compile', dest='compile_mode',
                   choices=['inductor', 'max-autotune', 'torch_tensorrt'],
                   help='torch backend: compile the stage graphs with torch.compile')
    p.add_argument('--cuda-graphs', action='store_true',
                   help='torch backend on CUDA: capture each stage once as a CUDA graph and '
                        'replay it')
    p.add_argument('--resolution', type=network_size, metavar='WxH',
                   help="camera image and network input size (default: the bundle's)")
    p.add_argument('--runs', type=count_type(1), default=10, help='timed runs (default 10)')
    p.add_argument('--warmup', type=count_type(0), default=2,
                   help='untimed runs first (default 2)')
    p.add_argument('--threads', type=count_type(1), default=2,
                   help='torch CPU threads (default 2)')
    p.add_argument('--out', default='out/benchmarks',
                   help='output directory (default out/benchmarks; the figures the README '
                        'quotes live in benchmarks/)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly bench``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    if args.metrics:
        from pixel_anomaly_ros.bench.metrics import benchmark_metrics, write_metrics_benchmark
        _report(write_metrics_benchmark(benchmark_metrics(), args.out))
        return 0
    if args.fleet:
        from pixel_anomaly_ros.bench.fleet import benchmark_fleet, write_fleet_benchmark
        _report(write_fleet_benchmark(benchmark_fleet(runs=args.runs), args.out))
        return 0
    if not (args.bundle or args.preset):
        raise ValueError('give --bundle DIR or --preset NAME (or --metrics)')
    import tempfile

    import torch
    torch.set_num_threads(args.threads)
    from pixel_anomaly_ros.bench.pipeline import bench_bundle, prepare_random_bundle
    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros.presets import preset_spec
    with tempfile.TemporaryDirectory(prefix='pixel-anomaly-bench-') as tmp:
        if args.bundle:
            bundle, weights = load_bundle(args.bundle), ''
        else:
            network = None if args.node or args.soak else args.resolution  # camera size
            bundle = prepare_random_bundle(args.preset, f'{tmp}/{preset_spec(args.preset).name}',
                                           args.backend, args.precision, network)
            weights = 'random (architecture preset)'
        if args.soak:
            from pixel_anomaly_ros.ros.node_soak import soak_node
            _report(soak_node(bundle, args.out, args.soak, args.rate or 30.0,
                              args.resolution or (512, 1024), shm=not args.no_shm,
                              backend=args.backend, device=args.device,
                              precision=args.precision))
        elif args.node:
            from pixel_anomaly_ros.ros.node_benchmark import bench_node
            sizes = [args.resolution] if args.resolution else [(512, 1024), (1024, 2048)]
            _report(bench_node(bundle, args.out, sizes, args.rate or 10.0, args.seconds,
                               shm=not args.no_shm, output_resolution=args.output_resolution,
                               backend=args.backend, device=args.device,
                               precision=args.precision))
        else:
            _report(bench_bundle(bundle, args.out, args.backend, args.device, args.precision,
                                 args.compile_mode, args.runs, args.warmup, args.resolution,
                                 weights, cuda_graphs=args.cuda_graphs))
    return 0


def _report(paths) -> None:
    json_path, md_path = paths
    print(md_path.read_text())
    print(f'wrote {json_path} and {md_path}')
