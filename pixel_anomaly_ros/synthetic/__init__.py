# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Procedural driving scenes in Cityscapes layout with anomalies in Fishyscapes layout.

``pixel-anomaly synth`` (:func:`add_synth_parser`, :func:`run_synth`) and :func:`generate` write
a small synthetic world: training/validation scenes with Cityscapes label ids, train ids and
instance ids, an anomaly set readable by ``open_dataset('folder')`` and ``('fs_static')``, and
optionally a bag with ego-motion. :func:`paste_anomaly` puts a random anomaly object into any
image (AnomalyMix). Modules: :mod:`.scene` (street renderer), :mod:`.things`,
:mod:`.placement`, :mod:`.anomalies`, :mod:`.textures`, :mod:`.canvas`, :mod:`.writer`. Heavy
imports happen on first use, so the CLI parser stays fast.
"""

import argparse
import os
import sys
import time

__all__ = ['add_synth_parser', 'generate', 'paste_anomaly', 'render_object', 'run_synth']

_LAZY = {'generate': 'writer', 'paste_anomaly': 'anomalies', 'render_object': 'anomalies'}

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


def __getattr__(name: str):
    """Import :func:`generate`, :func:`paste_anomaly` and :func:`render_object` on first use."""
    if name in _LAZY:
        import importlib
        module = importlib.import_module(f'{__name__}.{_LAZY[name]}')
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def parse_size(text: str) -> tuple[int, int]:
    """
    Parse ``WIDTHxHEIGHT`` (e.g. ``512x256``) into ``(height, width)``.

    :param text: the size as typed.
    :return: ``(height, width)``.
    :raises argparse.ArgumentTypeError: for anything else or a size below 32x16.
    """
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 512x256, got {text!r}')
    if width < 32 or height < 16:
        raise argparse.ArgumentTypeError(f'{text}: the smallest size is 32x16')
    return height, width


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a count >= 0, got {text}')
    return value


def add_synth_parser(subparsers) -> argparse.ArgumentParser:
    """
    Register the ``synth`` subcommand.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    :return: the ``synth`` parser (its ``func`` default is :func:`run_synth`).
    """
    p = subparsers.add_parser(
        'synth', help='generate synthetic driving scenes (Cityscapes) and anomalies '
                      '(Fishyscapes)',
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output directory (created atomically)')
    p.add_argument('--seed', type=int, default=0, help='master seed (default 0)')
    p.add_argument('--train', type=_count, default=300,
                   help='training images (default 300)')
    p.add_argument('--val', type=_count, default=50, help='validation images (default 50)')
    p.add_argument('--anomalies', type=_count, default=50,
                   help='anomaly images (default 50)')
    p.add_argument('--size', type=parse_size, default=(256, 512), metavar='WxH',
                   help='image size, width x height (default 512x256)')
    p.add_argument('--bag', action='store_true',
                   help='also write <out>/anomaly_bag, the anomaly scenes in motion (MCAP)')
    p.add_argument('--workers', type=int, default=0,
                   help='rendering processes; 0 picks from the CPU count (the files do not '
                        'depend on it)')
    p.add_argument('--force', action='store_true',
                   help='replace an existing output written with other arguments')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.set_defaults(func=run_synth)
    return p


def run_synth(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly synth``.

    :param args: parsed arguments of :func:`add_synth_parser`.
    :return: exit status (0, or 2 when the output exists with other arguments).
    """
    from pixel_anomaly_ros.synthetic.writer import generate as _generate
    start = time.perf_counter()
    try:
        result = _generate(args.out, seed=args.seed, train=args.train, val=args.val,
                           anomalies=args.anomalies, size=tuple(args.size), bag=args.bag,
                           progress=not args.quiet, workers=args.workers or None,
                           overwrite=args.force)
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


def default_workers(jobs: int) -> int:
    """
    Choose the number of rendering processes for a job count.

    :param jobs: images to render.
    :return: 1 for small jobs, else up to 8 and the CPU count.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return max(1, min(8, cpus or 1, jobs // 32))
