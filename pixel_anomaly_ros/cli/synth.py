# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly synth``: a synthetic driving world in Cityscapes and Fishyscapes layouts."""

import argparse
import sys
import time

from pixel_anomaly_ros.cli.args import count_type, size_type

DESCRIPTION = """\
Generate a synthetic driving world (numpy + OpenCV, nothing downloaded):

  <out>/cityscapes/   leftImg8bit + gtFine (labelIds, labelTrainIds, instanceIds) for the
                      train and val splits, exactly as Cityscapes lays them out;
  <out>/anomaly/      images/, labels/ (0 inlier, 1 anomaly, 255 void: ego vehicle, static
                      objects and a 2 px ring per 512 columns around each anomaly) and
                      semantic/ (train ids, anomalies 255): open_dataset('folder',
                      <out>/anomaly, semantic='semantic');
  <out>/fishyscapes_static/  the same anomaly set as Fishyscapes Static (NNNN_<id>_labels.png,
                      NNNN_<id>_rgb.npz overlays, clean scenes): open_dataset('fs_static', ...);
  <out>/anomaly_bag/  with --bag: the anomaly scenes with ego-motion, 5 frames each at 10 Hz,
                      /camera/image_raw (rgb8), /camera/anomaly_label and /camera/semantic
                      (mono8), equal stamps;
  <out>/manifest.json seed, arguments, counts.

Streets have lanes and markings, sidewalks, terrain, buildings, walls, fences, hedges, trees,
poles, lamps, signs, traffic lights, cars, trucks, buses, people, riders and bicycles under
random light, colour temperature, blur and sensor noise. Anomalies (blobs, boxes, barrels,
cones, balls, animals, debris, tyres, planks, bags) lie mostly on the road, far and small to
near and large. The same seed and arguments give byte-identical files; re-running on a
complete output with the same arguments reuses it. Output appears atomically (a temporary
sibling directory renamed at the end), so an interrupted run leaves nothing behind."""

EXAMPLES = """\
examples:
  pixel-anomaly synth --out data/synth
  pixel-anomaly synth --out data/synth --train 2000 --val 200 --anomalies 200 --bag
  pixel-anomaly synth --out /tmp/tiny --size 128x64 --train 8 --val 2 --anomalies 4 --seed 3"""


def add_parser(subparsers) -> None:
    """
    Register the ``synth`` subcommand.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'synth', help='generate synthetic driving scenes (Cityscapes) and anomalies '
                      '(Fishyscapes)',
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output directory (created atomically)')
    p.add_argument('--seed', type=int, default=0, help='master seed (default 0)')
    p.add_argument('--train', type=count_type(0), default=300,
                   help='training images (default 300)')
    p.add_argument('--val', type=count_type(0), default=50, help='validation images (default 50)')
    p.add_argument('--anomalies', type=count_type(0), default=50,
                   help='anomaly images (default 50)')
    p.add_argument('--size', type=size_type(minimum=(32, 16)), default=(256, 512), metavar='WxH',
                   help='image size, width x height (default 512x256)')
    p.add_argument('--bag', action='store_true',
                   help='also write <out>/anomaly_bag, the anomaly scenes in motion (MCAP)')
    p.add_argument('--workers', type=int, default=0,
                   help='rendering processes; 0 picks from the CPU count (the files do not '
                        'depend on it)')
    p.add_argument('--realism', choices=('none', 'camera'), default='none',
                   help='none (default): the world as always; camera: every image also '
                        'passes a camera model (exposure, white balance, vignetting, chromatic '
                        'aberration, defocus or motion blur, shot noise, JPEG); same scenes '
                        'and labels')
    p.add_argument('--force', action='store_true',
                   help='replace an existing output written with other arguments')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly synth``.

    :param args: the parsed arguments.
    :return: exit status (0, or 2 when the output exists with other arguments).
    """
    from pixel_anomaly_ros.synthetic.writer import generate
    start = time.perf_counter()
    try:
        result = generate(args.out, seed=args.seed, train=args.train, val=args.val,
                          anomalies=args.anomalies, size=tuple(args.size), bag=args.bag,
                          progress=not args.quiet, workers=args.workers or None,
                          overwrite=args.force, realism=args.realism)
    except FileExistsError as exc:
        print(f'pixel-anomaly synth: error: {exc}', file=sys.stderr)
        return 2
    counts, paths = result['counts'], result['paths']
    images = counts['train'] + counts['val'] + counts['anomalies']
    if result['reused']:
        print(f'reused {result["out_dir"]} ({images} images, seed {args.seed})')
    else:
        elapsed = time.perf_counter() - start
        print(f'wrote {counts["train"]} train, {counts["val"]} val and {counts["anomalies"]} '
              f'anomaly images to {result["out_dir"]} in {elapsed:.1f} s '
              f'({images / max(elapsed, 1e-9):.1f} images/s)')
    print(f'  cityscapes: {paths["cityscapes"]}')
    print(f'  anomalies:  {paths["anomaly"]} (folder, semantic=semantic), '
          f'{paths["fishyscapes_static"]} (fs_static)')
    if paths.get('bag'):
        print(f'  bag:        {paths["bag"]} ({counts["bag_frames"]} frames)')
    return 0
