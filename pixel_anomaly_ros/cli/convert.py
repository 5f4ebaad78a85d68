# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly convert``: official checkpoints -> a model bundle."""

import argparse

from pixel_anomaly_ros.cli.args import network_size

VARIANT_FILES = {
    'synboost_light': ('segmentation', 'synthesis', 'perceptual', 'dissimilarity'),
    'pebal': ('checkpoint',),
}


def add_parser(subparsers) -> None:
    """
    Register ``convert``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'convert', help='build a model bundle from official checkpoint files',
        description='Build a model bundle (bundle.yaml + weights.safetensors) from official '
                    'checkpoints. Files are read with torch.load(weights_only=True) and loaded '
                    'strictly; a wrong file is refused with the first mismatching keys.',
        epilog='Examples:\n  pixel-anomaly convert synboost_light --segmentation icnet.pth '
               '--synthesis latest_net_G.pth \\\n      --perceptual vgg19-dcbb9e9d.pth '
               '--dissimilarity best_net_..._mult_3.pth --out models/synboost_light\n'
               '  pixel-anomaly convert pebal --checkpoint best_ad_ckpt.pth --out models/pebal',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('variant', choices=list(VARIANT_FILES), help='pipeline variant')
    p.add_argument('--out', required=True, help='bundle directory to create')
    p.add_argument('--name', help='bundle name (default: the directory name)')
    p.add_argument('--segmentation', help='synboost_light: Fast_Seg ICNet checkpoint')
    p.add_argument('--synthesis', help='synboost_light: NVlabs SPADE Cityscapes latest_net_G.pth')
    p.add_argument('--perceptual', help='synboost_light: torchvision VGG19 ImageNet weights')
    p.add_argument('--dissimilarity', help='synboost_light: SynBoost dissimilarity checkpoint')
    p.add_argument('--checkpoint', help='pebal: PEBAL best_ad_ckpt.pth, NVIDIA '
                   'cityscapes_best.pth (energy baseline) or an ICNet checkpoint')
    p.add_argument('--input-size', type=network_size, metavar='WxH',
                   help='resolution the segmentation runs at (default 2048x1024)')
    p.add_argument('--tiny', action='store_true', help='tiny architectures (tests, demo)')
    p.add_argument('--trust-pickle', action='store_true',
                   help='allow full unpickling of files the safe loader refuses (runs code '
                        'from the file: only for files from a source you trust)')
    p.add_argument('--force', action='store_true',
                   help='update an existing bundle: its weights and bundle.yaml are replaced, '
                        'its other files kept (a directory that is not a bundle is refused)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly convert``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    missing = [f'--{n}' for n in VARIANT_FILES[args.variant] if not getattr(args, n)]
    if missing:
        raise ValueError(f'{args.variant} needs {", ".join(missing)}')
    from pixel_anomaly_ros import convert
    if args.variant == 'synboost_light':
        bundle = convert.convert_synboost_light(
            args.out, args.segmentation, args.synthesis, args.perceptual, args.dissimilarity,
            name=args.name, preset='light_tiny' if args.tiny else 'light',
            input_size=args.input_size, trust_pickle=args.trust_pickle, overwrite=args.force)
    else:
        bundle = convert.convert_pebal(args.out, args.checkpoint, name=args.name,
                                       tiny=args.tiny, input_size=args.input_size,
                                       trust_pickle=args.trust_pickle, overwrite=args.force)
    print(f'wrote {bundle.path} ({bundle.spec.variant}: '
          + ', '.join(f'{c}={n.builder}' for c, n in bundle.spec.networks.items()) + ')')
    return 0
