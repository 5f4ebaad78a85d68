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
    calibration = p.add_argument_group('INT8 calibration (--int8, --tensorrt --precision int8)')
    calibration.add_argument('--calibration', metavar='DIR_OR_LIST',
                             help='folder of camera images, or a text file with one path per '
                                  'line')
    calibration.add_argument('--calibration-limit', type=int, default=32, metavar='N',
                             help='use at most N of them, evenly spread (default 32; each costs '
                                  'about 80 MB of memory at 2048x1024)')
    cpu = p.add_argument_group('ONNX Runtime INT8 graphs (CPU)')
    cpu.add_argument('--int8', action='store_true',
                     help='also write <stage>.int8.onnx: convolutions quantised to int8 with '
                          'ranges calibrated on --calibration, for --backend onnxruntime '
                          '--precision int8 on the CPU')
    trt = p.add_argument_group('TensorRT engines (needs a CUDA GPU and TensorRT >= 10)')
    trt.add_argument('--tensorrt', action='store_true',
                     help='also build the TensorRT engines into <bundle>/engines/ and compare '
                          'the TensorRT pipeline with PyTorch on the GPU')
    trt.add_argument('--precision', default='fp16', choices=['fp32', 'fp16', 'int8'],
                     help='engine precision (default fp16)')
    trt.add_argument('--device', default='cuda', help='CUDA device (default cuda)')
    trt.add_argument('--build-only', action='store_true',
                     help='skip the export: only build the engines (and with --int8 the int8 '
                          'graphs) from the existing ONNX graphs; engines are not test-run')
    trt.add_argument('--force-rebuild', action='store_true',
                     help='rebuild engines even if the cache holds valid ones')
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros import export
    bundle = load_bundle(args.bundle)
    if args.force_rebuild and not args.tensorrt:
        raise ValueError('--force-rebuild goes with --tensorrt')
    if args.build_only and not (args.tensorrt or args.int8):
        raise ValueError('--build-only goes with --tensorrt or --int8')
    int8_engines = args.tensorrt and args.precision == 'int8'
    if (args.int8 or int8_engines) and not args.calibration:
        raise ValueError('--int8 and --precision int8 need --calibration DIR_OR_LIST (camera '
                         'images like the ones the node will see)')
    if args.calibration and not (args.int8 or int8_engines):
        raise ValueError('--calibration goes with --int8 or --tensorrt --precision int8')
    images = (export.load_calibration_images(args.calibration, args.calibration_limit)
              if args.calibration else ())
    if not args.build_only:
        export.export_bundle(bundle, opset=args.opset, atol=args.atol)
    if args.int8:
        from pixel_anomaly_ros.runtime.quantization import quantize_bundle
        print(f'quantising the graphs of {bundle.path} to int8 on {len(images)} calibration '
              f'images ...', flush=True)
        quantize_bundle(bundle, images)
    if args.tensorrt:
        print(f'building TensorRT {args.precision} engines for {bundle.path} ...', flush=True)
        export.build_tensorrt_engines(bundle, args.precision, args.device,
                                      images if int8_engines else (),
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
                   help='fp16 on CUDA (torch autocast, TensorRT); int8 with TensorRT, or with '
                        'onnxruntime on the CPU (a --preset is then quantised on random '
                        'images, which times like real calibration)')
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
    if args.backend == 'onnxruntime' and args.precision == 'int8':
        import numpy as np

        from pixel_anomaly_ros.runtime.quantization import quantize_bundle
        # Random weights give meaningless ranges anyway; int8 kernels time the same with any.
        h, w = spec.input_size
        images = np.random.default_rng(1).integers(0, 256, (4, h, w, 3), dtype=np.uint8)
        quantize_bundle(bundle, list(images))
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


def parse_option(text: str) -> Tuple[str, object]:
    """
    Parse a ``--option key=value`` dataset option; the value is read as JSON when it can be.

    :param text: e.g. ``image_topic=/camera/image``, ``anomaly_values=[255]`` or
        ``tolerance_ns=5000000``.
    :return: (key, value); values that are not JSON stay strings.
    :raises argparse.ArgumentTypeError: without ``=`` or with an empty key.
    """
    import json
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f'expected KEY=VALUE, got {text!r}')
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def _dataset_options(kind: str, pairs) -> dict:
    """Turn ``--option`` pairs into opener keywords; sequence options accept ``1,2`` or ``1``."""
    import inspect

    from pixel_anomaly_ros.evaluation.datasets import DATASETS
    parameters = inspect.signature(DATASETS[kind]).parameters if kind in DATASETS else {}
    options = {}
    for key, value in pairs or ():
        default = parameters[key].default if key in parameters else None
        if isinstance(default, (tuple, list)) and value is not None \
                and not isinstance(value, list):
            if isinstance(value, str):
                value = [parse_option(f'v={part.strip()}')[1] for part in value.split(',')]
            else:
                value = [value]
        options[key] = value
    return options


def _wrap(text: str) -> str:
    """Wrap a description for RawDescriptionHelpFormatter (which keeps the epilog's lines)."""
    import textwrap
    return textwrap.fill(text, 79)


DATASET_HELP = ('dataset kind: fs_lost_found, fs_static, road_anomaly, smiyc_anomaly, '
                'smiyc_obstacle, lost_and_found, folder or bag')


EVALUATE_DESCRIPTION = ('Run a bundle over every frame of a dataset (or a bag with an image and a '
                        'label topic) and report pixel AP / FPR95 / AUROC at label resolution, '
                        'SegmentMeIfYouCan component metrics (sIoU, PPV, mean F1 at the pixel '
                        'best-F1 threshold), semantic mIoU when the dataset has semantic labels, '
                        'and per-stage latency. --baselines adds max softmax, max logit, entropy '
                        'and energy from the same segmentation pass. --out writes metrics.json, '
                        'report.md and PNG plots (PR/ROC curves, latency histogram, examples) '
                        'atomically.')


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        'evaluate', help='measure a bundle offline on a dataset or bag',
        description=_wrap(EVALUATE_DESCRIPTION),
        epilog='Examples:\n'
               '  pixel-anomaly evaluate --bundle models/demo_light --dataset fs_static '
               '--root data/fs_static \\\n'
               '      --option cityscapes_root=data/cityscapes --baselines --out '
               'reports/fs_static\n'
               '  pixel-anomaly evaluate --bundle models/demo_pebal --dataset folder --root '
               'data/road_anomaly \\\n'
               '      --option images=original --option anomaly_values=1 --binned --out '
               'reports/ra\n'
               '  pixel-anomaly evaluate --bundle models/demo_light --dataset bag --root '
               'drive.mcap \\\n'
               '      --option image_topic=/camera/image --option '
               'label_topic=/camera/anomaly_label --limit 100',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bundle', required=True, help='bundle directory')
    p.add_argument('--dataset', required=True, metavar='KIND', help=DATASET_HELP)
    p.add_argument('--root', required=True, help='dataset root (the bag for --dataset bag)')
    p.add_argument('--option', action='append', type=parse_option, metavar='KEY=VALUE',
                   help='keyword of the dataset opener, repeatable (values are read as JSON '
                        'when possible; lists also as 1,2)')
    p.add_argument('--baselines', action='store_true',
                   help='also evaluate max softmax, max logit, entropy and energy (torch only)')
    p.add_argument('--binned', action='store_true',
                   help='bounded-memory binned pixel metrics (65536 bins) instead of exact')
    p.add_argument('--limit', type=int, metavar='N', help='evaluate at most N frames')
    p.add_argument('--track', choices=['anomaly', 'obstacle'],
                   help='SegmentMeIfYouCan component size filters (default: obstacle for '
                        'smiyc_obstacle and lost_and_found, else anomaly)')
    p.add_argument('--backend', default='torch',
                   choices=['torch', 'onnxruntime', 'tensorrt', 'auto'],
                   help='inference backend (default torch)')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'fp16', 'int8'],
                   help='numeric precision (default fp32): fp16 on CUDA; int8 with tensorrt, '
                        'or with onnxruntime on the CPU after `export --int8`')
    p.add_argument('--examples', type=int, default=4, help='example frames in the report')
    p.add_argument('--out', metavar='DIR',
                   help='report directory (replaced if it holds a previous report); without '
                        'it only the summary is printed')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.set_defaults(func=_run_evaluate)


def _print_summary(result, out) -> None:
    from pixel_anomaly_ros.evaluation.report import render_markdown
    text = render_markdown(result)
    print(text[:text.find('\n## Run')].rstrip())
    print(f'wrote {out}/report.md' if out else 'no --out given: nothing written')


def _run_evaluate(args) -> int:
    from pixel_anomaly_ros.evaluation.evaluate import evaluate
    result = evaluate(args.bundle, args.dataset, args.root,
                      _dataset_options(args.dataset, args.option), baselines=args.baselines,
                      binned=args.binned, limit=args.limit, backend=args.backend,
                      device=args.device, precision=args.precision, track=args.track,
                      examples=args.examples, out=args.out, progress=not args.no_progress)
    _print_summary(result, args.out)
    return 0


DATASET_TO_BAG_DESCRIPTION = (
    'Write the frames of a dataset into a new rosbag2 bag: rgb8 camera images (or JPEG/PNG '
    'CompressedImage) and mono8 0/1/255 anomaly labels with equal header stamps, frame i at '
    'i / rate seconds. The bag is written into a temporary directory and renamed when '
    'complete.')


def _add_dataset_to_bag(sub) -> None:
    p = sub.add_parser(
        'dataset-to-bag', help='write a dataset into a rosbag2 bag for replay',
        description=_wrap(DATASET_TO_BAG_DESCRIPTION),
        epilog='Examples:\n'
               '  pixel-anomaly dataset-to-bag --dataset road_anomaly --root data/RoadAnomaly '
               '--out ra.mcap --rate 5\n'
               '  pixel-anomaly dataset-to-bag --dataset folder --root data/val --out val_db3 '
               '--storage sqlite3',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', required=True, metavar='KIND', help=DATASET_HELP)
    p.add_argument('--root', required=True, help='dataset root')
    p.add_argument('--out', required=True, metavar='BAG', help='bag directory to create')
    p.add_argument('--option', action='append', type=parse_option, metavar='KEY=VALUE',
                   help='keyword of the dataset opener, repeatable')
    p.add_argument('--rate', type=float, default=10.0, metavar='HZ',
                   help='frame rate of the stamps (default 10)')
    p.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap',
                   help='rosbag2 storage (default mcap)')
    p.add_argument('--image-topic', default='/camera/image', help='camera topic')
    p.add_argument('--label-topic', default='/camera/anomaly_label', help='label topic')
    p.add_argument('--semantic-topic', help='also write semantic train ids on this topic')
    p.add_argument('--compressed', choices=['jpeg', 'png'],
                   help='write the camera images as CompressedImage')
    p.add_argument('--limit', type=int, metavar='N', help='write at most N frames')
    p.set_defaults(func=_run_dataset_to_bag)


def _run_dataset_to_bag(args) -> int:
    import itertools

    from pixel_anomaly_ros.evaluation.bags import dataset_to_bag
    from pixel_anomaly_ros.evaluation.datasets import open_dataset
    if args.limit is not None and args.limit < 1:
        raise ValueError('--limit must be at least 1')
    dataset = open_dataset(args.dataset, args.root,
                           **_dataset_options(args.dataset, args.option))
    frames = dataset if args.limit is None else itertools.islice(dataset, args.limit)
    path = dataset_to_bag(frames, args.out, args.image_topic, args.label_topic, args.rate,
                          args.storage, args.compressed or False, args.semantic_topic)
    print(f'wrote {path} ({args.storage}): {args.image_topic}, {args.label_topic}'
          + (f', {args.semantic_topic}' if args.semantic_topic else ''))
    return 0


REPLAY_DESCRIPTION = ('Start detector_node (private ROS domain, localhost only, reliable '
                      'input), play the camera topic of a bag into its image topic at the '
                      'recorded rate (or --rate), record anomaly/score, and report the metrics '
                      "of the answered frames against the bag's label topic, end-to-end latency "
                      'percentiles (arrival - stamp sent) and dropped frames, in the format of '
                      '"evaluate". Needs rclpy.')


def _add_replay(sub) -> None:
    p = sub.add_parser(
        'replay', help='play a bag into detector_node over DDS and report',
        description=_wrap(REPLAY_DESCRIPTION),
        epilog='Examples:\n'
               '  pixel-anomaly replay drive.mcap --image-topic /camera/image --label-topic '
               '/camera/anomaly_label \\\n'
               '      --bundle models/demo_light --out reports/replay\n'
               '  pixel-anomaly replay drive.mcap --image-topic /camera/image --rate 30 '
               '--bundle models/demo_pebal',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', help='rosbag2 directory or .mcap/.db3 file')
    p.add_argument('--image-topic', required=True, help='raw sensor_msgs/Image camera topic')
    p.add_argument('--label-topic', help='anomaly label topic (mono8 0/1/255) for metrics')
    p.add_argument('--semantic-topic', help='semantic train-id topic for mIoU')
    p.add_argument('--rate', type=float, metavar='HZ',
                   help='publish rate (default: the recorded stamp spacing)')
    p.add_argument('--bundle', required=True, help='bundle directory the node loads')
    p.add_argument('--backend', default='torch', help="the node's backend (default torch)")
    p.add_argument('--device', default='cpu', help="the node's device (default cpu)")
    p.add_argument('--precision', default='fp32', help="the node's precision (default fp32)")
    p.add_argument('--binned', action='store_true', help='binned pixel metrics')
    p.add_argument('--track', choices=['anomaly', 'obstacle'], default='anomaly',
                   help='SegmentMeIfYouCan component size filters (default anomaly)')
    p.add_argument('--timeout', type=float, default=60.0, metavar='S',
                   help='seconds to wait for the node to start, answer and finish (default 60)')
    p.add_argument('--out', metavar='DIR', help='report directory')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.set_defaults(func=_run_replay)


def _run_replay(args) -> int:
    try:
        from pixel_anomaly_ros.ros.replay import replay, ReplayError
    except ImportError as exc:
        raise ValueError(f'replay needs rclpy and the ROS message packages ({exc}); source a '
                         f'ROS 2 installation') from exc
    try:
        result = replay(args.bag, args.image_topic, args.label_topic, args.rate,
                        bundle=args.bundle, out=args.out, backend=args.backend,
                        device=args.device, precision=args.precision,
                        semantic_topic=args.semantic_topic, binned=args.binned,
                        track=args.track, timeout_s=args.timeout,
                        progress=not args.no_progress)
    except ReplayError as exc:
        print(f'pixel-anomaly replay: error: {exc}', file=sys.stderr)
        return 2
    _print_summary(result, args.out)
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
    from pixel_anomaly_ros.synthetic import add_synth_parser
    from pixel_anomaly_ros.training.cli import add_train_parsers
    add_synth_parser(sub)
    add_train_parsers(sub)
    _add_convert(sub)
    _add_export(sub)
    _add_bench(sub)
    _add_evaluate(sub)
    _add_dataset_to_bag(sub)
    _add_replay(sub)
    _add_demo(sub)
    return parser


def _add_demo(sub) -> None:
    p = sub.add_parser(
        'demo', help='run both demo bundles on a held-out synthetic sequence and report',
        description='Generate a short synthetic test sequence (seed 1, reused when present), '
                    'run each bundle offline with the baseline scorers of its own segmentation '
                    'and, when rclpy is importable, through the live detector_node over DDS, '
                    'then write a report: AP / FPR95 / AUROC per method and baseline, the demo '
                    'targets, latency per stage, example overlays and an animated heatmap. '
                    'This is what "make demo" runs.',
        epilog='Example:\n  pixel-anomaly demo --out out/demo\n  pixel-anomaly demo --out '
               'out/mine --bundles models/my_light models/my_pebal --offline',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, default=Path('out/demo'),
                   help='demo directory (default out/demo; its test data is reused)')
    p.add_argument('--bundles', type=Path, nargs='+',
                   help='bundles to run (default: models/demo_light models/demo_pebal)')
    p.add_argument('--scenes', type=int, default=40,
                   help='anomaly scenes in the test sequence (5 bag frames each; default 40)')
    p.add_argument('--seed', type=int, default=1, help='seed of the test data (default 1)')
    p.add_argument('--offline', action='store_true',
                   help='do not start the live node, evaluate offline only')
    p.add_argument('--gif-frames', type=int, default=60,
                   help='frames of the animated heatmap (default 60)')
    p.add_argument('--no-progress', action='store_true', help='hide progress bars')
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from pixel_anomaly_ros.demo import default_bundles, run_demo
    if args.scenes < 1 or args.gif_frames < 1:
        raise ValueError('--scenes and --gif-frames must be at least 1')
    report = run_demo(args.out, args.bundles or default_bundles(), scenes=args.scenes,
                      seed=args.seed, live=not args.offline, gif_frames=args.gif_frames,
                      progress=not args.no_progress)
    print(f'demo report: {report}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run ``pixel-anomaly``; errors print one line and exit with status 2.

    :param argv: arguments (default: ``sys.argv[1:]``).
    :return: process exit status.
    """
    from pixel_anomaly_ros.bundle import BundleError
    from pixel_anomaly_ros.checkpoints import CheckpointError
    from pixel_anomaly_ros.evaluation.bags import BagError
    from pixel_anomaly_ros.evaluation.datasets import DatasetError
    from pixel_anomaly_ros.export import ExportError
    from pixel_anomaly_ros.runtime import BackendError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BundleError, CheckpointError, BackendError, ExportError, DatasetError, BagError,
            ValueError) as exc:
        print(f'pixel-anomaly {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'pixel-anomaly {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
