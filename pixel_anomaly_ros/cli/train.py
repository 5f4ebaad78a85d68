# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly train {segmentation,synthesis,dissimilarity,pebal}``."""

import argparse
import json

from pixel_anomaly_ros.cli.args import (command_line, count_type, network_size,
                                        non_negative_number, positive_number, probability)

EXAMPLES = """\
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


def add_parser(subparsers) -> None:
    """
    Register ``train`` with its four trainers.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    train = subparsers.add_parser(
        'train', help='train networks of a bundle on a Cityscapes-layout root',
        description='Train one component of a bundle. --out is created from --init, an '
                    'existing --out or the --preset; at the end its weights and bundle.yaml '
                    'are replaced atomically and its other files kept. An --out that is not a '
                    'bundle is refused.',
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = train.add_subparsers(dest='trainer', metavar='TRAINER', required=True)
    for name, text in TRAINERS.items():
        p = kinds.add_parser(name, help=text, description=text + '.', epilog=EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument('--data', required=True,
                       help='Cityscapes root (leftImg8bit/, gtFine/) or a synth output')
        p.add_argument('--out', required=True, help='bundle directory to create or update')
        p.add_argument('--init', help='bundle to start from (pebal: the segmentation bundle)')
        p.add_argument('--preset', default='pebal_icnet_tiny' if name == 'pebal'
                       else 'light_tiny', help='preset when starting from scratch')
        p.add_argument('--input-size', type=network_size, metavar='WxH',
                       help='network input size when starting from the preset (default: '
                            "the preset's); every training image is first scaled to this "
                            'width, as the pipeline scales camera frames, then cropped')
        p.add_argument('--steps', type=count_type(1), default=1000,
                       help='optimisation steps')
        p.add_argument('--schedule-steps', type=count_type(1),
                       help='length of the poly LR schedule (default --steps; keep it fixed '
                            'when extending a run with --resume)')
        p.add_argument('--batch-size', type=count_type(1), default=2, help='images per step')
        crop = (128, 256) if name in ('synthesis', 'dissimilarity') else (64, 128)
        p.add_argument('--crop', type=network_size, default=crop, metavar='WxH',
                       help=f'random crop, width x height (default {crop[1]}x{crop[0]})')
        p.add_argument('--lr', type=float, help='initial learning rate (default per trainer)')
        p.add_argument('--seed', type=int, default=0, help='seed (data and initialisation)')
        p.add_argument('--checkpoint-every', type=count_type(1), default=100,
                       help='steps between checkpoints')
        p.add_argument('--resume', action='store_true',
                       help='continue from the checkpoint in the work directory')
        p.add_argument('--work', help='checkpoint/log directory (default <out>.train)')
        p.add_argument('--quiet', action='store_true', help='no progress bar')
        if name == 'segmentation':
            p.add_argument('--optimizer', choices=('sgd', 'adam'), default='sgd')
            p.add_argument('--class-weights', choices=('none', 'enet'), default='none',
                           help="cross-entropy class weights: ENet's 1/ln(1.02 + p) of each "
                                "class's pixel share p in 64 training crops, so thin and rare "
                                'classes count, or none (default none)')
            p.add_argument('--mix-prob', type=probability, default=0.0,
                           help='outlier exposure: probability of an AnomalyMix object per '
                                'whole frame (before the crop), on which --outlier-loss '
                                'teaches the network to be uncertain, so that its entropy or '
                                'energy marks unknown objects (default 0: plain segmentation)')
            p.add_argument('--outlier-loss', choices=('entropy', 'energy'), default='entropy',
                           help='entropy: prediction towards uniform on the objects; energy: '
                                "PEBAL's squared energy hinge on every pixel (default entropy)")
            p.add_argument('--outlier-weight', type=positive_number, default=1.0,
                           help='weight of that outlier loss against the cross-entropy '
                                '(default 1)')
        if name == 'dissimilarity':
            p.add_argument('--void', choices=('anomaly', 'ignore', 'inlier'),
                           default='anomaly', help='how void pixels count in the target')
            p.add_argument('--semantic', choices=('ground-truth', 'predicted'),
                           default='ground-truth',
                           help='label map to alter and re-synthesise: the ground truth '
                                "(SynBoost's generator) or the segmentation network's "
                                'prediction, as at run time (default ground-truth)')
            p.add_argument('--mix-prob', type=probability, default=0.0,
                           help='probability of an AnomalyMix object per image, anomalous in '
                                'the target and absent from the label map (default 0: '
                                "SynBoost's generator alone, as published)")
        if name == 'pebal':
            p.add_argument('--mix-prob', type=probability, default=0.5,
                           help='probability of an AnomalyMix object per image; it is pasted '
                                'into the whole frame before the crop, so its size follows '
                                'the camera perspective (default 0.5)')
            p.add_argument('--block', choices=('decoder', 'classifier', 'all'),
                           default='decoder',
                           help="part to fine-tune: the network's final decoder block "
                                "(PEBAL's choice: DeepWV3+'s final block, ICNet's cascade "
                                'fusion head), its last 1x1 classifier alone, or all of it '
                                '(default decoder)')
            p.add_argument('--inlier-ce-weight', type=non_negative_number, default=0.0,
                           help='weight of a plain cross-entropy over the inlier classes '
                                "added to PEBAL's loss; it keeps the segmentation's mIoU when "
                                "--block all fine-tunes the whole network (default 0: PEBAL's "
                                'loss as published)')
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly train <trainer>``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    from pixel_anomaly_ros.training import trainers
    from pixel_anomaly_ros.training.loop import TrainConfig
    extra = {k: getattr(args, k) for k in ('optimizer', 'class_weights', 'void', 'semantic',
                                           'mix_prob', 'outlier_loss', 'outlier_weight', 'block',
                                           'inlier_ce_weight')
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
