# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly dataset-to-bag``: a dataset's frames into a rosbag2 bag for replay."""

import argparse

from pixel_anomaly_ros.cli.args import (add_dataset_arguments, count_type, dataset_kinds,
                                        dataset_options, wrap)

DESCRIPTION = ('Write the frames of a dataset into a new rosbag2 bag: rgb8 camera images (or '
               'JPEG/PNG CompressedImage) and mono8 0/1/255 anomaly labels with equal header '
               'stamps, frame i at i / rate seconds. The bag is written into a temporary '
               'directory and renamed when complete.')


def add_parser(subparsers) -> None:
    """
    Register ``dataset-to-bag``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'dataset-to-bag', help='write a dataset into a rosbag2 bag for replay',
        description=wrap(DESCRIPTION),
        epilog='Examples:\n'
               '  pixel-anomaly dataset-to-bag --dataset road_anomaly --root data/RoadAnomaly '
               '--out ra.mcap --rate 5\n'
               '  pixel-anomaly dataset-to-bag --dataset folder --root data/val --out val_db3 '
               '--storage sqlite3' + dataset_kinds(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.add_argument('--out', required=True, metavar='BAG',
                   help='bag to create: NAME.mcap (NAME.db3) is one MCAP (sqlite3) file, '
                        'another name a rosbag2 directory')
    p.add_argument('--rate', type=float, default=10.0, metavar='HZ',
                   help='frame rate of the stamps (default 10)')
    p.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap',
                   help='rosbag2 storage (default mcap)')
    p.add_argument('--image-topic', default='/camera/image', help='camera topic')
    p.add_argument('--label-topic', default='/camera/anomaly_label', help='label topic')
    p.add_argument('--semantic-topic', help='also write semantic train ids on this topic')
    p.add_argument('--compressed', choices=['jpeg', 'png'],
                   help='write the camera images as CompressedImage')
    p.add_argument('--limit', type=count_type(1), metavar='N', help='write at most N frames')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly dataset-to-bag``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    import itertools

    from pixel_anomaly_ros.evaluation.bag_writer import dataset_to_bag
    from pixel_anomaly_ros.evaluation.datasets import open_dataset
    dataset = open_dataset(args.dataset, args.root, **dataset_options(args))
    frames = dataset if args.limit is None else itertools.islice(dataset, args.limit)
    path = dataset_to_bag(frames, args.out, args.image_topic, args.label_topic, args.rate,
                          args.storage, args.compressed or False, args.semantic_topic)
    print(f'wrote {path} ({args.storage}): {args.image_topic}, {args.label_topic}'
          + (f', {args.semantic_topic}' if args.semantic_topic else ''))
    return 0
