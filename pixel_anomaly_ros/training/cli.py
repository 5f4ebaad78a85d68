# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``train`` (segmentation, synthesis, dissimilarity, pebal) and ``calibrate`` subcommands.

Wire them with ``add_train_parsers(subparsers)``; each parser's ``func`` default is its
``run_*`` function, which returns the exit code.
"""

import argparse
import json
import shlex
import sys

TRAIN_EXAMPLES = """\
examples:
  pixel-anomaly synth --out world --train 300 --val 50 --anomalies 50
  pixel-anomaly train segmentation --data world --out models/my_light --steps 2000
  pixel-anomaly train synthesis --data world --out models/my_light --steps 2000
  pixel-anomaly train dissimilarity --data world --out models/my_light --steps 2000
  pixel-anomaly train pebal --data world --init models/my_light --out models/my_pebal
  pixel-anomaly calibrate --bundle models/my_light --data world
  # interrupted? add --resume to continue from the last checkpoint in <out>.train/
"""

TRAINERS = {
    'segmentation': 'train the ICNet segmentation network (CE, ignore 255, poly LR)',
    'synthesis': 'train the SPADE re-synthesis generator (L1 + VGG perceptual, no GAN)',
    'dissimilarity': "train SynBoost's dissimilarity network on generated unknown examples",
    'pebal': 'fine-tune the final classifier block with PEBAL losses and AnomalyMix',
}


def _crop(text: str) -> tuple:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT, got {text!r}') from None
    if w <= 0 or h <= 0 or w % 8 or h % 8:
        raise argparse.ArgumentTypeError('crop sides must be positive multiples of 8')
    return h, w


def add_train_parsers(subparsers) -> None:
    """
    Register ``train`` (with its four trainers) and ``calibrate``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    train = subparsers.add_parser(
        'train', help='train networks of a bundle on a Cityscapes-layout root',
        description='Train one component of a bundle. --out is created from --init, an '
                    'existing --out or the --preset, and replaced atomically at the end.',
        epilog=TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = train.add_subparsers(dest='trainer', metavar='TRAINER', required=True)
    for name, text in TRAINERS.items():
        p = kinds.add_parser(name, help=text, description=text + '.', epilog=TRAIN_EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument('--data', required=True,
                       help='Cityscapes root (leftImg8bit/, gtFine/) or a synth output')
        p.add_argument('--out', required=True, help='bundle directory to create or update')
        p.add_argument('--init', help='bundle to start from (pebal: the segmentation bundle)')
        p.add_argument('--preset', default='pebal_icnet_tiny' if name == 'pebal'
                       else 'light_tiny', help='preset when starting from scratch')
        p.add_argument('--input-size', type=_crop, metavar='WxH',
                       help='network input size when starting from the preset (default: '
                            "the preset's)")
        p.add_argument('--steps', type=int, default=1000, help='optimisation steps')
        p.add_argument('--schedule-steps', type=int,
                       help='length of the poly LR schedule (default --steps; keep it fixed '
                            'when extending a run with --resume)')
        p.add_argument('--batch-size', type=int, default=2, help='images per step')
        crop = (128, 256) if name in ('synthesis', 'dissimilarity') else (64, 128)
        p.add_argument('--crop', type=_crop, default=crop, metavar='WxH',
                       help=f'random crop, width x height (default {crop[1]}x{crop[0]})')
        p.add_argument('--lr', type=float, help='initial learning rate (default per trainer)')
        p.add_argument('--seed', type=int, default=0, help='seed (data and initialisation)')
        p.add_argument('--checkpoint-every', type=int, default=100,
                       help='steps between checkpoints')
        p.add_argument('--resume', action='store_true',
                       help='continue from the checkpoint in the work directory')
        p.add_argument('--work', help='checkpoint/log directory (default <out>.train)')
        p.add_argument('--quiet', action='store_true', help='no progress bar')
        if name == 'segmentation':
            p.add_argument('--optimizer', choices=('sgd', 'adam'), default='sgd')
        if name == 'dissimilarity':
            p.add_argument('--void', choices=('anomaly', 'ignore', 'inlier'),
                           default='anomaly', help='how void pixels count in the target')
            p.add_argument('--semantic', choices=('ground-truth', 'predicted'),
                           default='ground-truth',
                           help='label map to alter and re-synthesise: the ground truth '
                                "(SynBoost's generator) or the segmentation network's "
                                'prediction, as at run time (default ground-truth)')
        if name == 'pebal':
            p.add_argument('--mix-prob', type=float, default=0.5,
                           help='probability of an AnomalyMix object per image')
        p.set_defaults(func=run_train)
    cal = subparsers.add_parser(
        'calibrate', help='fit ensemble weights, score range and threshold on an anomaly set',
        description='Calibrate a bundle on a validation anomaly set (images/ + labels/ with '
                    '0 inlier, 1 anomaly, 255 void, or a synth output): SynBoost ensemble '
                    'weights by AP grid search, score_lo/score_hi as robust percentiles, the '
                    'threshold at 95 % TPR; written into bundle.yaml atomically.',
        epilog=TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    cal.add_argument('--bundle', required=True, help='bundle directory to calibrate')
    cal.add_argument('--data', required=True, help='anomaly folder or synth output')
    cal.add_argument('--out', help='write the calibrated bundle here (default: in place)')
    cal.add_argument('--max-images', type=int, help='use at most this many images')
    cal.add_argument('--grid-step', type=float, default=0.25, help='ensemble weight grid step')
    cal.add_argument('--percentiles', type=float, nargs=2, metavar=('LO', 'HI'),
                     help='raw-score percentiles mapped to 0 and 1 (default 1 99.99; scores '
                          'above HI tie at 1, so keep HI above the anomalous pixel share)')
    cal.add_argument('--quiet', action='store_true', help='no progress bar')
    cal.set_defaults(func=run_calibrate)


def command_line() -> str:
    """Return this process's command line as a user would type it (for provenance)."""
    return shlex.join(['pixel-anomaly'] + sys.argv[1:])


def run_train(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly train <trainer>``.

    :param args: parsed arguments of :func:`add_train_parsers`.
    :return: exit code.
    """
    from pixel_anomaly_ros.training import trainers
    from pixel_anomaly_ros.training.loop import TrainConfig
    extra = {k: getattr(args, k) for k in ('optimizer', 'void', 'semantic', 'mix_prob')
             if hasattr(args, k)}
    cfg = TrainConfig(data=args.data, out=args.out, preset=args.preset,
                      input_size=args.input_size, steps=args.steps,
                      schedule_steps=args.schedule_steps,
                      batch_size=args.batch_size, crop=tuple(args.crop), seed=args.seed,
                      lr=args.lr, checkpoint_every=args.checkpoint_every, resume=args.resume,
                      init=args.init, work=args.work, progress=not args.quiet,
                      command=command_line(), extra=extra)
    summary = getattr(trainers, f'train_{args.trainer}')(cfg)
    print(json.dumps(summary, indent=2))
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly calibrate``.

    :param args: parsed arguments of :func:`add_train_parsers`.
    :return: exit code.
    """
    from pixel_anomaly_ros.training.calibrate import calibrate, DEFAULT_PERCENTILES
    result = calibrate(args.bundle, args.data, out=args.out, max_images=args.max_images,
                       percentiles=tuple(args.percentiles or DEFAULT_PERCENTILES),
                       grid_step=args.grid_step,
                       progress=not args.quiet, command=command_line())
    print(json.dumps(result, indent=2))
    return 0
