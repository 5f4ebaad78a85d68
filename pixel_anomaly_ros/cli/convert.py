# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly convert``: official checkpoints or your own ONNX model -> a model bundle."""

import argparse

from pixel_anomaly_ros.cli.args import size_type
from pixel_anomaly_ros.external_segmentation import CLASS_SETS, LOGITS_RESIZE, SCORERS

VARIANT_FILES = {
    'synboost_light': ('segmentation', 'synthesis', 'perceptual', 'dissimilarity'),
    'pebal': ('checkpoint',),
    'segmentation-onnx': ('model',),
}


def float_triple(text: str):
    """
    Read ``R,G,B`` as three floats.

    :param text: e.g. ``0.485,0.456,0.406``.
    :return: the tuple.
    :raises argparse.ArgumentTypeError: unless there are three numbers.
    """
    try:
        values = tuple(float(v) for v in text.split(','))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f'expected three numbers R,G,B, got {text!r}')
    return values


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
               '  pixel-anomaly convert pebal --checkpoint best_ad_ckpt.pth --out models/pebal\n'
               '  pixel-anomaly convert segmentation-onnx --model my_net.onnx --classes '
               'cityscapes \\\n      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 '
               '--input-scale 1 --scorer sml --out models/my_net\n'
               '  pixel-anomaly convert synboost_light --segmentation-onnx my_net.onnx '
               '--synthesis latest_net_G.pth \\\n      --perceptual vgg19-dcbb9e9d.pth '
               '--dissimilarity best_net_..._mult_3.pth --out models/my_synboost',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('variant', choices=list(VARIANT_FILES), help='pipeline variant')
    p.add_argument('--out', required=True, help='bundle directory to create')
    p.add_argument('--name', help='bundle name (default: the directory name)')
    p.add_argument('--segmentation', help='synboost_light: Fast_Seg ICNet checkpoint')
    p.add_argument('--segmentation-onnx', metavar='FILE',
                   help='synboost_light: your ONNX segmentation model (19 Cityscapes classes) '
                        'instead of ICNet; the options for --model below apply to it')
    p.add_argument('--synthesis', help='synboost_light: NVlabs SPADE Cityscapes latest_net_G.pth')
    p.add_argument('--perceptual', help='synboost_light: torchvision VGG19 ImageNet weights')
    p.add_argument('--dissimilarity', help='synboost_light: SynBoost dissimilarity checkpoint')
    p.add_argument('--checkpoint', help='pebal: PEBAL best_ad_ckpt.pth, NVIDIA '
                   'cityscapes_best.pth (energy baseline) or an ICNet checkpoint')
    p.add_argument('--input-size', type=size_type(), metavar='WxH',
                   help='resolution the segmentation runs at (default 2048x1024; for an ONNX '
                        'model: its static input size, which a dynamic model needs given)')
    p.add_argument('--tiny', action='store_true', help='tiny architectures (tests, demo)')
    p.add_argument('--trust-pickle', action='store_true',
                   help='allow full unpickling of files the safe loader refuses (runs code '
                        'from the file: only for files from a source you trust)')
    p.add_argument('--force', action='store_true',
                   help='update an existing bundle: its weights and bundle.yaml are replaced, '
                        'its other files kept (a directory that is not a bundle is refused)')
    p.add_argument('--uint8-round-trips', action=argparse.BooleanOptionalAction, default=True,
                   help='synboost_light: truncate the re-synthesis, entropy, distance and '
                        'perceptual difference to 8 bits before the dissimilarity network, as '
                        'the official pipeline does (default on)')
    model = p.add_argument_group(
        'your ONNX model (segmentation-onnx --model, synboost_light --segmentation-onnx)',
        'The model needs one Nx3xHxW float input and a 1xCxhxw logits output; h x w may be '
        'smaller than H x W and is resized bilinearly.')
    model.add_argument('--model', metavar='FILE', help='segmentation-onnx: the .onnx file')
    model.add_argument('--num-classes', type=int, metavar='N', help='class count C of the logits')
    model.add_argument('--classes', choices=sorted(CLASS_SETS),
                       help='a named class set instead of --num-classes (cityscapes: the 19 '
                            'train ids, coloured with the Cityscapes palette)')
    model.add_argument('--mean', type=float_triple, metavar='R,G,B',
                       help='per-channel mean the model subtracts, R,G,B order, in the units of '
                            '--input-scale (default ImageNet 0.485,0.456,0.406)')
    model.add_argument('--std', type=float_triple, metavar='R,G,B',
                       help='per-channel std the model divides by, R,G,B order, in the units of '
                            '--input-scale (default ImageNet 0.229,0.224,0.225)')
    model.add_argument('--channel-order', choices=('rgb', 'bgr'), default='rgb',
                       help='channel order the model expects (default rgb)')
    model.add_argument('--input-scale', type=int, choices=(1, 255), default=1,
                       help='pixel range the model expects before normalisation: 1 for 0..1, '
                            '255 for 0..255 (default 1)')
    model.add_argument('--logits-output', metavar='NAME',
                       help='the logits output (default: the single 4-D output)')
    model.add_argument('--logits-resize', choices=LOGITS_RESIZE, default='align_corners',
                       help='bilinear resize of smaller logits: align_corners as the official '
                            'SynBoost/PEBAL/SML pipelines (default) or half_pixel')
    scorer = p.add_argument_group('post-hoc scorer (segmentation-onnx)')
    scorer.add_argument('--scorer', choices=SCORERS, default='energy',
                        help='anomaly score of the logits (default energy); sml needs '
                             '`pixel-anomaly calibrate` to measure its class statistics')
    scorer.add_argument('--blur', action=argparse.BooleanOptionalAction,
                        help="PEBAL's 7x7 Gaussian (sigma 1) on the score (default: on for "
                             'energy)')
    scorer.add_argument('--boundary-suppression', action=argparse.BooleanOptionalAction,
                        help="SML's iterative boundary suppression (default: on for sml)")
    scorer.add_argument('--dilated-smoothing', action=argparse.BooleanOptionalAction,
                        help="SML's dilated smoothing (default: on for sml)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly convert``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    needed = VARIANT_FILES[args.variant]
    if args.variant == 'synboost_light' and args.segmentation_onnx:
        if args.segmentation:
            raise ValueError('give --segmentation (ICNet) or --segmentation-onnx, not both')
        needed = needed[1:]
    missing = [f'--{n}' for n in needed if not getattr(args, n)]
    if missing:
        raise ValueError(f'{args.variant} needs {", ".join(missing)}')
    if args.variant == 'segmentation-onnx' or args.segmentation_onnx:
        bundle = _convert_onnx(args)
    else:
        bundle = _convert_checkpoints(args)
    print(f'wrote {bundle.path} ({bundle.spec.variant}: '
          + ', '.join([f'{c}={n.builder}' for c, n in bundle.spec.networks.items()]
                      + ([f'segmentation={bundle.spec.external.file}']
                         if bundle.spec.external else [])) + ')')
    return 0


def _convert_onnx(args: argparse.Namespace):
    from pixel_anomaly_ros import convert_onnx
    options = convert_onnx.ModelOptions(
        path=args.model or args.segmentation_onnx, num_classes=args.num_classes,
        classes=args.classes, channel_order=args.channel_order, input_scale=args.input_scale,
        input_size=args.input_size, logits_output=args.logits_output,
        logits_resize=args.logits_resize)
    if args.mean:
        options.mean = args.mean
    if args.std:
        options.std = args.std
    if args.variant == 'segmentation-onnx':
        bundle = convert_onnx.convert_segmentation_onnx(
            args.out, options, args.scorer, args.blur, args.boundary_suppression,
            args.dilated_smoothing, name=args.name, overwrite=args.force)
        if args.scorer in ('sml', 'energy', 'max_logit'):
            print('next: `pixel-anomaly calibrate --bundle ' + str(bundle.path) + ' --data '
                  'DIR` measures the score range' + (' and the SML class statistics'
                                                     if args.scorer == 'sml' else ''))
        return bundle
    if args.variant != 'synboost_light':
        raise ValueError('--segmentation-onnx goes with synboost_light')
    bundle = convert_onnx.convert_synboost_light_onnx(
        args.out, options, args.synthesis, args.perceptual, args.dissimilarity, name=args.name,
        preset='light_tiny' if args.tiny else 'light', trust_pickle=args.trust_pickle,
        overwrite=args.force, uint8_round_trips=args.uint8_round_trips)
    print(f'next: `pixel-anomaly export --bundle {bundle.path}` writes the synthesis and '
          f'dissimilarity graphs (then run it with --backend onnxruntime or tensorrt)')
    return bundle


def _convert_checkpoints(args: argparse.Namespace):
    from pixel_anomaly_ros import convert
    if args.variant == 'synboost_light':
        return convert.convert_synboost_light(
            args.out, args.segmentation, args.synthesis, args.perceptual, args.dissimilarity,
            name=args.name, preset='light_tiny' if args.tiny else 'light',
            input_size=args.input_size, trust_pickle=args.trust_pickle, overwrite=args.force,
            uint8_round_trips=args.uint8_round_trips)
    return convert.convert_pebal(args.out, args.checkpoint, name=args.name, tiny=args.tiny,
                                 input_size=args.input_size, trust_pickle=args.trust_pickle,
                                 overwrite=args.force)
