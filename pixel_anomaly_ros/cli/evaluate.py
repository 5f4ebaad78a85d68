# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly evaluate``: a bundle offline over a dataset or a bag, with a report."""

import argparse

from pixel_anomaly_ros.cli.args import (add_backend_arguments, add_dataset_arguments,
                                        add_operating_point_argument, count_type, dataset_kinds,
                                        dataset_options, wrap)

DESCRIPTION = ('Run a bundle over every frame of a dataset (or a bag with an image and a '
               'label topic) and report pixel AP / FPR95 / AUROC at label resolution, '
               'SegmentMeIfYouCan component metrics (sIoU, PPV, mean F1 at the pixel '
               'best-F1 threshold), semantic mIoU when the dataset has semantic labels, '
               'and per-stage latency. --baselines adds max softmax, max logit, entropy '
               'and energy from the same segmentation pass. The masks of the examples use the '
               "bundle's default operating point (--operating-point, --threshold), and the "
               'report says what it flags. --out writes metrics.json, '
               'report.md and PNG plots (PR/ROC curves, latency histogram, examples) '
               'atomically. With --dataset bag the root may be a folder of bags (every MCAP '
               'file and rosbag2 directory below it): a bag that cannot be read is reported '
               'and the others count; bags without the label topic get alarm statistics '
               'only (compare two runs with `pixel-anomaly compare`). --ray evaluates the '
               'bags in shards on Ray workers and gives exactly the serial result.')

EXAMPLES = ('Examples:\n'
            '  pixel-anomaly evaluate --bundle models/demo_light --dataset fs_static '
            '--root data/fs_static \\\n'
            '      --option cityscapes_root=data/cityscapes --baselines --out reports/fs_static\n'
            '  pixel-anomaly evaluate --bundle models/demo_pebal --dataset folder --root '
            'data/road_anomaly \\\n'
            '      --option images=original --option anomaly_values=1 --binned --out reports/ra\n'
            '  pixel-anomaly evaluate --bundle models/demo_light --dataset bag --root '
            'drive.mcap \\\n'
            '      --option image_topic=/camera/image --option '
            'label_topic=/camera/anomaly_label --limit 100\n'
            '  pixel-anomaly evaluate --bundle models/demo_light --dataset bag --root '
            'fleet_logs/ \\\n'
            '      --binned --ray --workers 8 --address head-node:6379 --out reports/fleet')


def add_parser(subparsers) -> None:
    """
    Register ``evaluate``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'evaluate', help='measure a bundle offline on a dataset or bag',
        description=wrap(DESCRIPTION), epilog=EXAMPLES + dataset_kinds(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bundle', required=True, help='bundle directory')
    add_dataset_arguments(p, 'dataset root (the bag for --dataset bag)')
    p.add_argument('--baselines', action='store_true',
                   help='also evaluate max softmax, max logit, entropy and energy (torch; '
                        'onnxruntime for a segmentation that is an ONNX model)')
    p.add_argument('--binned', action='store_true',
                   help='bounded-memory binned pixel metrics (65536 bins) instead of exact')
    p.add_argument('--limit', type=count_type(1), metavar='N', help='evaluate at most N frames')
    p.add_argument('--track', choices=['anomaly', 'obstacle'],
                   help='SegmentMeIfYouCan component size filters (default: obstacle for '
                        'smiyc_obstacle and lost_and_found, else anomaly)')
    add_backend_arguments(p)
    add_operating_point_argument(p)
    p.add_argument('--examples', type=count_type(0), default=4,
                   help='example frames in the report')
    p.add_argument('--out', metavar='DIR',
                   help='report directory (replaced if it holds a previous report); without '
                        'it only the summary is printed')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--alarm-area', type=float, default=0.001, metavar='FRACTION',
                   help='bags: a frame alarms when its mask covers more than this fraction of '
                        'it (default 0.001)')
    add_ray_arguments(p)
    p.set_defaults(func=run)


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """
    Add ``--ray`` and the options of the distributed evaluation.

    :param p: the ``evaluate`` parser.
    """
    g = p.add_argument_group('Ray (many bags, many machines; --dataset bag only)')
    g.add_argument('--ray', action='store_true',
                   help='evaluate shards (a bag, or --shard-frames frames of a long one) on '
                        'Ray workers; the metrics equal the serial run')
    g.add_argument('--workers', type=count_type(1), metavar='N',
                   help='Ray workers (default: the CPUs, or GPUs, of the cluster)')
    g.add_argument('--address', metavar='HOST:PORT',
                   help='join this Ray cluster (`ray start --head` prints it); default: start '
                        'a local one with one CPU per worker')
    g.add_argument('--shard-frames', type=count_type(1), default=500, metavar='N',
                   help='most frames of a shard (default 500)')
    g.add_argument('--threads-per-worker', type=count_type(1), default=1, metavar='N',
                   help='torch threads (and CPUs reserved) per worker (default 1); the '
                        'metrics equal a serial run with as many torch threads')
    g.add_argument('--gpus-per-worker', type=float, metavar='G',
                   help='GPUs reserved per worker (default 1 with --device cuda or the '
                        'tensorrt backend, else 0)')


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly evaluate``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    if args.ray:
        if args.dataset != 'bag' or args.limit is not None:
            raise ValueError('--ray evaluates bags: use it with --dataset bag and without '
                             '--limit')
        from pixel_anomaly_ros.evaluation.distributed import evaluate_on_ray
        result = evaluate_on_ray(
            args.bundle, args.root, dataset_options(args), workers=args.workers,
            address=args.address, baselines=args.baselines, binned=args.binned,
            backend=args.backend, device=args.device, precision=args.precision,
            track=args.track, examples=args.examples, out=args.out,
            progress=not args.no_progress, alarm_area=args.alarm_area,
            shard_frames=args.shard_frames, threads=args.threads_per_worker,
            gpus_per_worker=args.gpus_per_worker, operating_point=args.operating_point,
            threshold=args.threshold)
        print_summary(result, args.out)
        return 0
    from pixel_anomaly_ros.evaluation.evaluate import evaluate
    result = evaluate(args.bundle, args.dataset, args.root, dataset_options(args),
                      baselines=args.baselines, binned=args.binned, limit=args.limit,
                      backend=args.backend, device=args.device, precision=args.precision,
                      track=args.track, examples=args.examples, out=args.out,
                      progress=not args.no_progress, operating_point=args.operating_point,
                      threshold=args.threshold, alarm_area=args.alarm_area)
    print_summary(result, args.out)
    return 0


def print_summary(result, out) -> None:
    """
    Print the head of a report (the metric tables) and where it was written.

    :param result: an :class:`~pixel_anomaly_ros.evaluation.report.EvaluationResult`.
    :param out: the report directory, or None.
    """
    from pixel_anomaly_ros.evaluation.report import render_markdown
    text = render_markdown(result)
    end = text.find('\n## Bags') if result.bags else -1  # thousands of rows: report.md only
    print(text[:end if end >= 0 else text.find('\n## Run')].rstrip())
    if result.bags:
        failed = [name for name, bag in result.bags.items() if bag['status'] != 'ok']
        print(f'\n{len(result.bags)} bags, {sum(b["frames"] for b in result.bags.values())} '
              f'frames evaluated; {len(failed)} could not be read'
              + (f': {", ".join(failed[:5])}' + (' ...' if len(failed) > 5 else '')
                 if failed else '') + ' (per-bag table and alarm statistics in report.md)')
    print(f'wrote {out}/report.md' if out else 'no --out given: nothing written')
