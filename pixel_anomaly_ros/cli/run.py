# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly run``: a bundle over your own photos, videos or bags; no labels needed."""

import argparse

from pixel_anomaly_ros.cli.args import (add_backend_arguments, add_operating_point_argument,
                                        command_line, count_type, wrap)

DESCRIPTION = ('Run a bundle over an image, a folder of images (recursive; jpg, png, webp, '
               'bmp; any sizes), a video (whatever OpenCV reads: mp4, avi, mkv) or a bag (raw '
               'or compressed camera topic, found automatically when the bag has one). For '
               'every frame DIR gets overlays/<name>.jpg (camera + heatmap + mask outline), '
               'masks/<name>.png (0/255 at the operating point) and scores/<name>.png (16-bit, '
               'score = value / 65535) or .npy (float32); videos and bags also give '
               'overlay.mp4 at the source rate with a colour bar, and --bag an MCAP of the '
               "node's output topics for Foxglove or RViz. DIR/summary.json lists every frame "
               '(anomaly fraction, max score, latency) and the run (bundle, backend, precision, '
               'operating point). Frames that cannot be decoded are reported and skipped; '
               'Ctrl-C keeps the frames done so far and a summary that says so.')

EXAMPLES = ('Examples:\n'
            '  pixel-anomaly run photos/ --bundle models/demo_light --out out/photos\n'
            '  pixel-anomaly run drive.mp4 --bundle models/demo_pebal --out out/drive --every 5\n'
            '  pixel-anomaly run drive.mcap --bundle models/demo_pebal --out out/bag --bag '
            '--image-topic /front/image/compressed')


def add_parser(subparsers) -> None:
    """
    Register ``run``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'run', help='anomaly overlays, masks and scores for your images, videos or bags',
        description=wrap(DESCRIPTION), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', metavar='INPUT', help='image, folder of images, video or bag')
    p.add_argument('--bundle', required=True, help='bundle directory (e.g. models/demo_light)')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='output directory (a previous run there is replaced)')
    p.add_argument('--image-topic', help='camera topic of a bag (default: its one camera topic)')
    p.add_argument('--limit', type=count_type(1), metavar='N', help='process at most N frames')
    p.add_argument('--every', type=count_type(1), default=1, metavar='N',
                   help='process every N-th frame (default 1)')
    add_backend_arguments(p, backend='auto')
    add_operating_point_argument(p)
    p.add_argument('--score-format', choices=('png16', 'npy'), default='png16',
                   help='score files: 16-bit PNG (score = value / 65535, default) or float32 '
                        '.npy')
    p.add_argument('--bag', action='store_true',
                   help="also write the node's output topics into the MCAP bag DIR/outputs_bag")
    p.add_argument('--overlay-alpha', type=float, default=0.5, metavar='A',
                   help='heatmap weight of the overlay at score 1 (default 0.5)')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly run``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    from pixel_anomaly_ros.inference.run import run as run_bundle
    summary = run_bundle(args.bundle, args.input, args.out, image_topic=args.image_topic,
                         limit=args.limit, every=args.every, backend=args.backend,
                         device=args.device, precision=args.precision,
                         operating_point=args.operating_point, threshold=args.threshold,
                         score_format=args.score_format, bag=args.bag,
                         overlay_alpha=args.overlay_alpha, progress=not args.no_progress,
                         command=command_line())
    point = summary['operating_point']
    print(f"{summary['frames_processed']} frames processed, {summary['frames_skipped']} "
          f"skipped; masks at {point['description']}")
    for skipped in summary['skipped']:
        print(f"  skipped {skipped['name']}: {skipped['error']}")
    if summary.get('latency_ms'):
        print(f"pipeline latency median {summary['latency_ms']['median']:.1f} ms on "
              f"{summary['backend']} {summary['device']} {summary['precision']}")
    print(f'wrote {args.out}/summary.json')
    return 0
