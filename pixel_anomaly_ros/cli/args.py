# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Argument types and argument groups shared by the ``pixel-anomaly`` commands.

Nothing here imports torch, ONNX Runtime or rosbags, so every ``--help`` answers at once.
"""

import argparse
import json
import shlex
import sys
import textwrap
from typing import Callable, Optional, Tuple

from pixel_anomaly_ros.runtime import BACKEND_CHOICES, PRECISION_CHOICES


def size_type(multiple: int = 1, minimum: Tuple[int, int] = (1, 1)
              ) -> Callable[[str], Tuple[int, int]]:
    """
    Make an argparse type that reads ``WIDTHxHEIGHT`` (e.g. ``2048x1024``) as (height, width).

    :param multiple: both sides must be multiples of this (8 for network sizes).
    :param minimum: smallest (width, height).
    :return: the type function.
    """
    def parse(text: str) -> Tuple[int, int]:
        try:
            width, height = (int(v) for v in text.lower().split('x'))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'expected WIDTHxHEIGHT such as 2048x1024, got {text!r}') from None
        if width < minimum[0] or height < minimum[1]:
            raise argparse.ArgumentTypeError(
                f'{text}: the smallest size is {minimum[0]}x{minimum[1]}')
        if width % multiple or height % multiple:
            raise argparse.ArgumentTypeError(
                f'{text}: width and height must be multiples of {multiple}')
        return height, width
    parse.__name__ = 'WxH'
    return parse


#: A network input size: positive multiples of 8 (the networks downsample by 8).
network_size = size_type(multiple=8, minimum=(8, 8))


def count_type(minimum: int) -> Callable[[str], int]:
    """
    Make an argparse type for a whole number of at least ``minimum``.

    :param minimum: the smallest accepted value.
    :return: the type function.
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'expected a number >= {minimum}, got {value}')
        return value
    parse.__name__ = f'integer >= {minimum}'
    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None


def _finite_non_negative(text: str, zero: bool) -> float:
    value = _number(text)
    if not (0 <= value if zero else 0 < value) or value == float('inf'):
        raise argparse.ArgumentTypeError(f'expected a number {">=" if zero else ">"} 0, '
                                         f'got {text}')
    return value


def positive_number(text: str) -> float:
    """
    Read a finite number greater than zero (rates, durations) for argparse.

    :param text: the argument.
    :return: the number.
    :raises argparse.ArgumentTypeError: for anything else.
    """
    return _finite_non_negative(text, zero=False)


positive_number.__name__ = 'number > 0'


def non_negative_number(text: str) -> float:
    """
    Read a finite number of zero or more (loss weights, where 0 turns a term off) for argparse.

    :param text: the argument.
    :return: the number.
    :raises argparse.ArgumentTypeError: for anything else.
    """
    return _finite_non_negative(text, zero=True)


non_negative_number.__name__ = 'number >= 0'


def probability(text: str) -> float:
    """
    Parse a probability, a number from 0 to 1.

    :param text: the argument.
    :return: the value.
    :raises argparse.ArgumentTypeError: for anything else.
    """
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'expected a probability from 0 to 1, got {text}')
    return value


probability.__name__ = 'probability'


def parse_option(text: str) -> Tuple[str, object]:
    """
    Parse a ``--option key=value`` dataset option; the value is read as JSON when it can be.

    :param text: e.g. ``image_topic=/camera/image``, ``anomaly_values=[255]`` or
        ``tolerance_ns=5000000``.
    :return: (key, value); values that are not JSON stay strings.
    :raises argparse.ArgumentTypeError: without ``=`` or with an empty key.
    """
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f'expected KEY=VALUE, got {text!r}')
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def add_backend_arguments(parser: argparse.ArgumentParser, backend: str = 'torch',
                          precision: str = 'auto', device: str = 'cpu',
                          what: str = 'inference') -> None:
    """
    Add ``--backend``, ``--device`` and ``--precision``, with choices from the registries.

    :param parser: the command's parser.
    :param backend: default backend.
    :param precision: default precision.
    :param device: default device.
    :param what: whose backend it is, for the help texts (e.g. "the node's").
    """
    parser.add_argument('--backend', default=backend, choices=BACKEND_CHOICES,
                        help=f'{what} backend (default {backend}); auto picks the fastest one '
                             f'available here')
    parser.add_argument('--device', default=device,
                        help=f'{what} device: cpu or cuda[:N] (default {device})')
    parser.add_argument('--precision', default=precision, choices=PRECISION_CHOICES,
                        help=f'numeric precision (default {precision}; auto: fp16 on CUDA, fp32 '
                             f'on the CPU); int8 only when asked: with tensorrt, or with '
                             f'onnxruntime on the CPU after `export --int8`')


def add_operating_point_argument(parser: argparse.ArgumentParser) -> None:
    """
    Add ``--operating-point`` (a named threshold of the bundle) and ``--threshold``.

    :param parser: the command's parser.
    """
    from pixel_anomaly_ros.operating_point import OPERATING_POINTS
    parser.add_argument('--operating-point', default='', metavar='NAME',
                        help='mask threshold recorded by calibrate: ' + ', '.join(
                            OPERATING_POINTS) + ' (default: the bundle default)')
    parser.add_argument('--threshold', type=float, metavar='T',
                        help='mask threshold on the score in [0, 1] instead of an operating '
                             'point')


def wrap(text: str) -> str:
    """
    Wrap a description for ``RawDescriptionHelpFormatter`` (which keeps the epilog's lines).

    :param text: one paragraph.
    :return: the paragraph wrapped at 79 columns.
    """
    return textwrap.fill(text, 79)


def command_line(argv: Optional[list] = None) -> str:
    """
    Return this process's command line as a user would type it (for provenance records).

    :param argv: the arguments after the program name (default ``sys.argv[1:]``).
    :return: e.g. ``pixel-anomaly train segmentation --data world ...``.
    """
    return shlex.join(['pixel-anomaly'] + list(sys.argv[1:] if argv is None else argv))


def add_dataset_arguments(parser: argparse.ArgumentParser, root_help: str = 'dataset root',
                          required: bool = True) -> None:
    """
    Add ``--dataset``, ``--root`` and ``--option``, with the kinds of the dataset registry.

    :param parser: the command's parser (its epilog should end with :func:`dataset_kinds`).
    :param root_help: help of ``--root``.
    :param required: whether ``--dataset`` and ``--root`` must be given.
    """
    from pixel_anomaly_ros.evaluation.datasets import DATASETS
    parser.add_argument('--dataset', required=required, metavar='KIND',
                        help=f'dataset kind: {", ".join(DATASETS)} (see "Dataset kinds" below)')
    parser.add_argument('--root', required=required, help=root_help)
    parser.add_argument('--option', action='append', type=parse_option, metavar='KEY=VALUE',
                        help='keyword of the dataset opener, repeatable (values are read as JSON '
                             'when possible; lists also as 1,2); a wrong key lists the valid '
                             'ones')


def dataset_kinds() -> str:
    """Return the epilog section that lists each dataset kind with its description."""
    from pixel_anomaly_ros.evaluation.datasets import DATASETS
    lines = [textwrap.fill(entry.description, 79, initial_indent=f'  {kind:<16}',
                           subsequent_indent=' ' * 18) for kind, entry in DATASETS.items()]
    return ('\n\nDataset kinds (--option KEY=VALUE sets a keyword of the opener):\n'
            + '\n'.join(lines))


def dataset_options(args: argparse.Namespace) -> dict:
    """
    Return the checked opener keywords of ``--option`` (lists accept ``1,2`` or ``1``).

    :param args: parsed arguments with ``dataset`` and ``option``.
    :return: keyword arguments for ``open_dataset``.
    :raises DatasetError: for a key the opener does not take, naming the valid ones.
    """
    from pixel_anomaly_ros.evaluation.datasets import dataset_options as check
    return check(args.dataset, dict(args.option or ()))
