# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly replay``: a bag through the live detector_node over DDS, with a report."""

import argparse

from pixel_anomaly_ros.cli.args import add_backend_arguments, wrap

DESCRIPTION = ('Start detector_node (private ROS domain, localhost only, reliable input), play '
               'the camera topic of a bag into its image topic (a CompressedImage topic as it '
               'is, into image/compressed) at the recorded rate (or --rate, or each frame after '
               'the answer to the previous one with --lockstep), record '
               'anomaly/score, and report the metrics of the answered frames '
               "against the bag's label topic, end-to-end latency percentiles (arrival - stamp "
               'sent) and dropped frames, in the format of "evaluate". Needs rclpy.')


def add_parser(subparsers) -> None:
    """
    Register ``replay``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'replay', help='play a bag into detector_node over DDS and report',
        description=wrap(DESCRIPTION),
        epilog='Examples:\n'
               '  pixel-anomaly replay drive.mcap --image-topic /camera/image --label-topic '
               '/camera/anomaly_label \\\n'
               '      --bundle models/demo_light --out reports/replay\n'
               '  pixel-anomaly replay drive.mcap --image-topic /camera/image --rate 30 '
               '--bundle models/demo_pebal\n'
               '  pixel-anomaly replay drive.mcap --image-topic /camera/image --label-topic '
               '/camera/anomaly_label \\\n'
               '      --bundle models/demo_light --lockstep   # every frame, on a laptop too',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', help='rosbag2 directory or .mcap/.db3 file')
    p.add_argument('--image-topic', required=True,
                   help='sensor_msgs/Image or CompressedImage camera topic')
    p.add_argument('--label-topic', help='anomaly label topic (mono8 0/1/255) for metrics')
    p.add_argument('--semantic-topic', help='semantic train-id topic for mIoU')
    pace = p.add_mutually_exclusive_group()
    pace.add_argument('--rate', type=float, metavar='HZ',
                      help='publish rate (default: the recorded stamp spacing)')
    pace.add_argument('--lockstep', action='store_true',
                      help='send each frame once the node answered the previous one: every '
                           'frame is evaluated, however slow the machine; the latency then '
                           'has no queueing in it')
    p.add_argument('--bundle', required=True, help='bundle directory the node loads')
    add_backend_arguments(p, what="the node's")
    p.add_argument('--operating-point', default='', metavar='NAME',
                   help="the bundle's operating point for the node's mask (default: its "
                        'default)')
    p.add_argument('--binned', action='store_true', help='binned pixel metrics')
    p.add_argument('--track', choices=['anomaly', 'obstacle'], default='anomaly',
                   help='SegmentMeIfYouCan component size filters (default anomaly)')
    p.add_argument('--timeout', type=float, default=60.0, metavar='S',
                   help='seconds to wait for the node to start, answer and finish (default 60)')
    p.add_argument('--out', metavar='DIR', help='report directory')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly replay``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    from pixel_anomaly_ros.cli.evaluate import print_summary
    try:
        from pixel_anomaly_ros.ros.replay import replay
    except ImportError as exc:
        raise ValueError(f'replay needs rclpy and the ROS message packages ({exc}); source a '
                         f'ROS 2 installation') from exc
    result = replay(args.bag, args.image_topic, args.label_topic, args.rate,
                    bundle=args.bundle, out=args.out, backend=args.backend,
                    device=args.device, precision=args.precision,
                    semantic_topic=args.semantic_topic, binned=args.binned,
                    track=args.track, timeout_s=args.timeout, progress=not args.no_progress,
                    operating_point=args.operating_point, lockstep=args.lockstep)
    print_summary(result, args.out)
    return 0
