# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly calibrate``: score calibration of a bundle on an anomaly set."""

import argparse
import json

from pixel_anomaly_ros.bundle import MAX_SMOOTHING, SMOOTHING_CANDIDATES
from pixel_anomaly_ros.cli.args import (add_dataset_arguments, command_line, count_type,
                                        dataset_kinds, dataset_options)
from pixel_anomaly_ros.cli.train import EXAMPLES


def add_parser(subparsers) -> None:
    """
    Register ``calibrate``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'calibrate', help='fit ensemble weights, score range and operating points on an '
                          'anomaly set',
        description='Calibrate the scores of a bundle on a validation anomaly set (any dataset '
                    'kind of "evaluate", or --data: images/ + labels/ with 0 inlier, 1 anomaly, '
                    '255 void, or a synth output): the Gaussian smoothing of the raw score '
                    '(--smoothing) and the SynBoost ensemble weights by grid search '
                    '(--objective), score_lo/score_hi as robust percentiles, and the operating '
                    'points tpr95, best_f1, fpr1 and fpr5, each with its measured TPR and FPR; '
                    'the default is best_f1 when it flags at most 5 % of the inlier pixels, '
                    'else fpr5. Written into bundle.yaml atomically. A segmentation-onnx bundle '
                    'with the sml scorer first gets its SML class statistics (mean and std of '
                    'the max logit per predicted class, inlier pixels).',
        epilog=EXAMPLES + '  pixel-anomaly calibrate --bundle models/my_light --dataset '
                          'fs_lost_found --root data/Fishyscapes' + dataset_kinds(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bundle', required=True, help='bundle directory to calibrate')
    p.add_argument('--data', help='anomaly folder or synth output (same as --dataset folder '
                                  '--root DATA)')
    add_dataset_arguments(p, 'dataset root (instead of --data)', required=False)
    p.add_argument('--out', help='write the calibrated bundle here (default: in place, where '
                                 'only bundle.yaml is rewritten; exported graphs stay valid)')
    p.add_argument('--max-images', type=count_type(1), help='use at most this many images')
    p.add_argument('--grid-step', type=float, default=0.25, help='ensemble weight grid step')
    p.add_argument('--smoothing', type=float, nargs='+', metavar='SIGMA',
                   default=list(SMOOTHING_CANDIDATES),
                   help='Gaussian sigmas in raw-score pixels (SynBoost: the synthesis size; '
                        'PEBAL: the network size, on top of its 7x7 blur) that the search tries '
                        'for score.smoothing, 0 for none; one value fixes it (default: '
                        + ' '.join(f'{s:g}' for s in SMOOTHING_CANDIDATES) + ')')
    p.add_argument('--objective', choices=('ap_fpr95', 'ap'), default='ap_fpr95',
                   help='what the smoothing and ensemble weight search maximises: AP minus FPR95 '
                        '(default), or AP alone, which may buy a little AP with many false '
                        'alarms')
    p.add_argument('--percentiles', type=float, nargs=2, metavar=('LO', 'HI'),
                   help='raw-score percentiles mapped to 0 and 1 (default 1 99.99; scores '
                        'above HI tie at 1, so keep HI above the anomalous pixel share)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly calibrate``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    options = {}
    if args.percentiles:
        low, high = options['percentiles'] = tuple(args.percentiles)
        if not 0 <= low < high <= 100:
            raise ValueError(f'--percentiles LO HI need 0 <= LO < HI <= 100, got {low:g} '
                             f'{high:g}')
    if not all(0 <= s <= MAX_SMOOTHING for s in args.smoothing):
        raise ValueError('--smoothing sigmas must lie in [0, '
                         f'{MAX_SMOOTHING:g}] raw-score pixels (0 for none), got '
                         + ' '.join(f'{s:g}' for s in args.smoothing))
    if not 0 < args.grid_step <= 1:
        raise ValueError(f'--grid-step must lie in (0, 1], got {args.grid_step:g}')
    if args.data is not None:
        if args.dataset or args.root or args.option:
            raise ValueError('give either --data or --dataset/--root/--option, not both')
        data, dataset, dataset_opts = args.data, 'folder', {}
    elif args.dataset and args.root:
        data, dataset, dataset_opts = args.root, args.dataset, dataset_options(args)
    else:
        raise ValueError('say which data to calibrate on: --data DIR, or --dataset KIND '
                         '--root DIR')
    from pixel_anomaly_ros.training.score_calibration import calibrate
    result = calibrate(args.bundle, data, out=args.out, max_images=args.max_images,
                       grid_step=args.grid_step, objective=args.objective,
                       smoothing=args.smoothing,
                       progress=not args.quiet,
                       command=command_line(), dataset=dataset, options=dataset_opts,
                       **options)
    print(json.dumps(result, indent=2))
    return 0
