# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``pixel-anomaly`` command: one console script with a subcommand per job."""

import argparse
from pathlib import Path
import sys
from typing import List, Optional, Tuple

EPILOG = 'Run "pixel-anomaly <command> --help" for the options of a command.'


def parse_size(text: str) -> Tuple[int, int]:
    """
    Parse ``WIDTHxHEIGHT`` (e.g. ``2048x1024``) into ``(height, width)``.

    :param text: the size as typed on the command line.
    :return: (height, width).
    :raises argparse.ArgumentTypeError: for anything else.
    """
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 2048x1024, got {text!r}')
    if width <= 0 or height <= 0 or width % 8 or height % 8:
        raise argparse.ArgumentTypeError(f'{text}: width and height must be positive multiples '
                                         f'of 8')
    return height, width


def _add_convert(sub) -> None:
    p = sub.add_parser(
        'convert', help='build a model bundle from official checkpoint files',
        description='Build a model bundle (bundle.yaml + weights.safetensors) from official '
                    'checkpoints. Files are read with torch.load(weights_only=True) and loaded '
                    'strictly; a wrong file is refused with the first mismatching keys.',
        epilog='Examples:\n  pixel-anomaly convert synboost_light --segmentation icnet.pth '
               '--synthesis latest_net_G.pth \\\n      --perceptual vgg19-dcbb9e9d.pth '
               '--dissimilarity best_net_..._mult_3.pth --out models/synboost_light\n'
               '  pixel-anomaly convert pebal --checkpoint best_ad_ckpt.pth --out models/pebal',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('variant', choices=['synboost_light', 'pebal'], help='pipeline variant')
    p.add_argument('--out', required=True, help='bundle directory to create')
    p.add_argument('--name', help='bundle name (default: the directory name)')
    p.add_argument('--segmentation', help='synboost_light: Fast_Seg ICNet checkpoint')
    p.add_argument('--synthesis', help='synboost_light: NVlabs SPADE Cityscapes latest_net_G.pth')
    p.add_argument('--perceptual', help='synboost_light: torchvision VGG19 ImageNet weights')
    p.add_argument('--dissimilarity', help='synboost_light: SynBoost dissimilarity checkpoint')
    p.add_argument('--checkpoint', help='pebal: PEBAL best_ad_ckpt.pth, NVIDIA '
                   'cityscapes_best.pth (energy baseline) or an ICNet checkpoint')
    p.add_argument('--input-size', type=parse_size, metavar='WxH',
                   help='resolution the segmentation runs at (default 2048x1024)')
    p.add_argument('--tiny', action='store_true', help='tiny architectures (tests, demo)')
    p.add_argument('--trust-pickle', action='store_true',
                   help='allow full unpickling of files the safe loader refuses (runs code '
                        'from the file: only for files from a source you trust)')
    p.add_argument('--force', action='store_true', help='replace an existing bundle')
    p.set_defaults(func=_run_convert)


def _run_convert(args) -> int:
    from pixel_anomaly_ros import convert
    if args.variant == 'synboost_light':
        needed = ('segmentation', 'synthesis', 'perceptual', 'dissimilarity')
        missing = [f'--{n}' for n in needed if not getattr(args, n)]
        if missing:
            raise ValueError(f'synboost_light needs {", ".join(missing)}')
        bundle = convert.convert_synboost_light(
            args.out, args.segmentation, args.synthesis, args.perceptual, args.dissimilarity,
            name=args.name, preset='light_tiny' if args.tiny else 'light',
            input_size=args.input_size, trust_pickle=args.trust_pickle, overwrite=args.force)
    else:
        if not args.checkpoint:
            raise ValueError('pebal needs --checkpoint')
        bundle = convert.convert_pebal(args.out, args.checkpoint, name=args.name,
                                       tiny=args.tiny, input_size=args.input_size,
                                       trust_pickle=args.trust_pickle, overwrite=args.force)
    print(f'wrote {bundle.path} ({bundle.spec.variant}: '
          + ', '.join(f'{c}={n.builder}' for c, n in bundle.spec.networks.items()) + ')')
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        'export', help='export the stage graphs of a bundle to ONNX',
        description='Write one self-contained ONNX graph per stage into the bundle (static '
                    'shapes from bundle.yaml), check it with the ONNX checker and against the '
                    'TensorRT operator allow-list, run it in ONNX Runtime and compare it with '
                    'PyTorch. A graph that fails any check does not replace the previous one.')
    p.add_argument('--bundle', required=True, help='bundle directory')
    p.add_argument('--opset', type=int, default=18, help='ONNX opset, 18-20 (default 18)')
    p.add_argument('--atol', type=float, default=1e-4,
                   help='largest allowed |ONNX Runtime - PyTorch| on the score; intermediate '
                        'maps may differ by 10x that (default 1e-4)')
    trt = p.add_argument_group('TensorRT engines (needs a CUDA GPU and TensorRT >= 10)')
    trt.add_argument('--tensorrt', action='store_true',
                     help='also build the TensorRT engines into <bundle>/engines/ and compare '
                          'the TensorRT pipeline with PyTorch on the GPU')
    trt.add_argument('--precision', default='fp16', choices=['fp32', 'fp16', 'int8'],
                     help='engine precision (default fp16)')
    trt.add_argument('--calibration', metavar='DIR_OR_LIST',
                     help='int8: folder of camera images, or a text file with one path per line')
    trt.add_argument('--device', default='cuda', help='CUDA device (default cuda)')
    trt.add_argument('--build-only', action='store_true',
                     help='only build the engines from the existing ONNX graphs: no export, no '
                          'inference runs')
    trt.add_argument('--force-rebuild', action='store_true',
                     help='rebuild engines even if the cache holds valid ones')
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros import export
    bundle = load_bundle(args.bundle)
    if (args.build_only or args.calibration or args.force_rebuild) and not args.tensorrt:
        raise ValueError('--build-only, --calibration and --force-rebuild go with --tensorrt')
    if not args.build_only:
        export.export_bundle(bundle, opset=args.opset, atol=args.atol)
    if args.tensorrt:
        if args.precision == 'int8' and not args.calibration:
            raise ValueError('--precision int8 needs --calibration DIR_OR_LIST (camera images)')
        images = export.load_calibration_images(args.calibration) if args.calibration else ()
        print(f'building TensorRT {args.precision} engines for {bundle.path} ...', flush=True)
        export.build_tensorrt_engines(bundle, args.precision, args.device, images,
                                      force=args.force_rebuild, verify=not args.build_only)
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser(
        'bench', help='measure per-stage latency of a pipeline',
        description='Time a pipeline on a random image: per-stage and end-to-end median and '
                    'p95 in milliseconds, and throughput. Results go to benchmarks/ as JSON '
                    'and Markdown with the machine and versions.',
        epilog='Examples:\n  pixel-anomaly bench --bundle models/demo_light\n'
               '  pixel-anomaly bench --preset light --resolution 2048x1024 --runs 10\n'
               '  pixel-anomaly bench --node --preset light_tiny --resolution 2048x1024\n'
               '  pixel-anomaly bench --metrics\n'
               'A --preset uses random weights: right for timing, meaningless scores.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_argument_group('other measurements')
    mode.add_argument('--node', action='store_true',
                      help='measure detector_node instead: overhead per frame (decode, '
                           'post-process, encode and publish of all outputs) and end-to-end '
                           'latency across processes; --resolution is the camera size')
    mode.add_argument('--rate', type=float, default=10.0, help='--node: camera rate (Hz)')
    mode.add_argument('--seconds', type=float, default=15.0, help='--node: measuring time')
    mode.add_argument('--no-shm', action='store_true',
                      help='--node: default Fast DDS transports instead of config/fastdds_shm.xml')
    mode.add_argument('--output-resolution', default='input', choices=['input', 'network'],
                      help='--node: size of the published outputs (default input)')
    mode.add_argument('--metrics', action='store_true',
                      help='measure the binned anomaly metrics instead (100 images of '
                           '1024x2048, one core) and the peak memory of the exact mode')
    src = p.add_mutually_exclusive_group()
    src.add_argument('--bundle', help='bundle directory')
    src.add_argument('--preset', help='architecture preset with random weights: light, '
                     'light_tiny, pebal, pebal_tiny, pebal_icnet, pebal_icnet_tiny')
    p.add_argument('--backend', default='torch',
                   choices=['torch', 'onnxruntime', 'tensorrt', 'auto'],
                   help='inference backend (default torch); the ONNX-based ones export a '
                        '--preset first; auto picks the fastest available')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'fp16', 'int8'],
                   help='fp16 on CUDA (torch autocast, TensorRT); int8 TensorRT only')
    p.add_argument('--compile', dest='compile_mode', choices=['inductor', 'torch_tensorrt'],
                   help='torch backend: compile the stage graphs with torch.compile')
    p.add_argument('--resolution', type=parse_size, metavar='WxH',
                   help="camera image and network input size (default: the bundle's)")
    p.add_argument('--runs', type=int, default=10, help='timed runs (default 10)')
    p.add_argument('--warmup', type=int, default=2, help='untimed runs first (default 2)')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads (default 2)')
    p.add_argument('--out', default='benchmarks', help='output directory (default benchmarks)')
    p.set_defaults(func=_run_bench)


def _run_bench(args) -> int:
    import tempfile

    import torch

    from pixel_anomaly_ros.bundle import load_bundle

    if args.metrics:
        from pixel_anomaly_ros.evaluation import metrics_benchmark
        result = metrics_benchmark.benchmark_metrics()
        paths = metrics_benchmark.write_metrics_benchmark(result, args.out)
        print(metrics_benchmark.format_metrics_benchmark(result))
        print(f'wrote {paths[0]} and {paths[1]}')
        return 0
    if not (args.bundle or args.preset):
        raise ValueError('give --bundle DIR or --preset NAME (or --metrics)')
    if args.runs < 1:
        raise ValueError('--runs must be at least 1')
    torch.set_num_threads(args.threads)
    if args.node:
        return _bench_node(args)
    if args.bundle:
        bundle = load_bundle(args.bundle)
        if args.resolution and args.resolution != bundle.spec.input_size:
            if args.backend != 'torch':
                raise ValueError('--resolution differs from the size the graphs were exported '
                                 'at; re-export the bundle at that size or use --backend torch')
            bundle.spec.input_size = args.resolution
        return _bench_bundle(args, bundle, 'bundle ' + str(bundle.path))
    with tempfile.TemporaryDirectory(prefix='pixel-anomaly-bench-') as tmp:
        return _bench_bundle(args, _random_bundle(args, tmp), 'random (architecture preset)')


def _bench_node(args) -> int:
    import json
    import tempfile

    from pixel_anomaly_ros.benchmark import machine_info, write_text_atomic
    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros.ros.node_benchmark import format_node_benchmark, run_node_benchmark
    with tempfile.TemporaryDirectory(prefix='pixel-anomaly-node-') as tmp:
        if args.bundle:
            bundle = load_bundle(args.bundle)
        else:
            resolution, args.resolution = args.resolution, None  # camera size, not network
            bundle = _random_bundle(args, tmp)
            args.resolution = resolution
        sizes = [args.resolution] if args.resolution else [(512, 1024), (1024, 2048)]
        records = []
        for h, w in sizes:
            print(f'detector_node with {bundle.spec.name}: {w}x{h} camera at {args.rate} Hz for '
                  f'{args.seconds} s ...', flush=True)
            records.append(run_node_benchmark(
                str(bundle.path), w, h, args.rate, args.seconds, shm=not args.no_shm,
                output_resolution=args.output_resolution, backend=args.backend,
                device=args.device))
    text = format_node_benchmark(records)
    stem = f'node_{bundle.spec.name}_{args.output_resolution}{"" if args.no_shm else "_shm"}'
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / f'{stem}.json', json.dumps(
        {'records': records, 'machine': machine_info()}, indent=2) + '\n')
    write_text_atomic(out / f'{stem}.md', text)
    print(text)
    print(f'wrote {out / stem}.json and .md')
    return 0


def _random_bundle(args, tmp: str):
    """Write a random-weight bundle of ``--preset`` (exported when the backend needs ONNX)."""
    from pixel_anomaly_ros.bundle import write_bundle
    from pixel_anomaly_ros.export import export_bundle
    from pixel_anomaly_ros.pipelines.graphs import build_networks
    from pixel_anomaly_ros.presets import preset_spec
    spec = preset_spec(args.preset)
    if args.resolution:
        spec.input_size = args.resolution
    networks = build_networks(spec, None)
    bundle = write_bundle(spec, {c: n.state_dict() for c, n in networks.items()},
                          f'{tmp}/{spec.name}')
    if args.backend != 'torch':
        export_bundle(bundle)
    return bundle


def _bench_bundle(args, bundle, weights: str) -> int:
    from pixel_anomaly_ros import benchmark
    from pixel_anomaly_ros.pipelines import create_pipeline
    pipeline = create_pipeline(bundle, args.backend, args.device, args.precision,
                               args.compile_mode)
    spec = bundle.spec
    h, w = spec.input_size
    run = pipeline.executor.describe()
    print(f'benchmarking {spec.name} ({spec.variant}) at {w}x{h} on {run["backend"]} '
          f'{run["device"]} {run["precision"]}, {args.threads} threads')
    record = benchmark.benchmark_pipeline(pipeline, (h, w), args.runs, args.warmup)
    record['run'] = {'model': spec.name, 'variant': spec.variant, 'weights': weights,
                     'networks': {c: n.builder for c, n in spec.networks.items()},
                     **run, 'requested_backend': args.backend, 'resolution': f'{w}x{h}'}
    record['machine'] = benchmark.machine_info()
    stem = (f'{spec.name}_{run["backend"]}_{run["device"].replace(":", "")}_'
            f'{run["precision"]}_{w}x{h}')
    json_path, md_path = benchmark.write_results(record, args.out, stem)
    print(benchmark.format_markdown(record))
    print(f'wrote {json_path} and {md_path}')
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``pixel-anomaly``."""
    parser = argparse.ArgumentParser(
        prog='pixel-anomaly',
        description='Pixel-wise anomaly detection for driving cameras (SynBoost Light, PEBAL): '
                    'model bundles, benchmarks and tools.',
        epilog=EPILOG)
    sub = parser.add_subparsers(dest='command', metavar='command')
    sub.required = True
    _add_convert(sub)
    _add_export(sub)
    _add_bench(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run ``pixel-anomaly``; errors print one line and exit with status 2.

    :param argv: arguments (default: ``sys.argv[1:]``).
    :return: process exit status.
    """
    from pixel_anomaly_ros.bundle import BundleError
    from pixel_anomaly_ros.checkpoints import CheckpointError
    from pixel_anomaly_ros.export import ExportError
    from pixel_anomaly_ros.runtime import BackendError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BundleError, CheckpointError, BackendError, ExportError, ValueError) as exc:
        print(f'pixel-anomaly {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'pixel-anomaly {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
