# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``pixel-anomaly`` command: one console script, one module per subcommand.

Each module in :data:`COMMANDS` has ``add_parser(subparsers)`` (argparse only, no heavy
imports, so ``--help`` answers at once) and ``run(args)``, which imports what the command needs
and calls the library. A mistake the user can fix (a wrong argument, a missing file, a library
error derived from :class:`~pixel_anomaly_ros.errors.PixelAnomalyError`) prints one line and
exits with status 2, never a traceback.
"""

import argparse
import importlib
import sys
from typing import List, Optional

from pixel_anomaly_ros.errors import PixelAnomalyError

#: Subcommand -> module of this package, in the order ``--help`` lists them.
COMMANDS = {
    'synth': 'synth',
    'train': 'train',
    'calibrate': 'calibrate',
    'convert': 'convert',
    'export': 'export',
    'bench': 'bench',
    'run': 'run',
    'evaluate': 'evaluate',
    'compare': 'compare',
    'dataset-to-bag': 'dataset_to_bag',
    'replay': 'replay',
    'demo': 'demo',
}

EPILOG = 'Run "pixel-anomaly <command> --help" for the options of a command.'


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line that points to ``--help``, not the usage."""

    def error(self, message: str) -> None:
        """
        Print ``<prog>: error: <message>`` on one line and exit with status 2.

        :param message: argparse's message.
        """
        self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``pixel-anomaly``."""
    parser = OneLineParser(
        prog='pixel-anomaly',
        description='Pixel-wise anomaly detection for driving cameras (SynBoost Light, PEBAL): '
                    'model bundles, benchmarks and tools.',
        epilog=EPILOG)
    sub = parser.add_subparsers(dest='command', metavar='command', required=True)
    for module in COMMANDS.values():
        importlib.import_module(f'{__name__}.{module}').add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run ``pixel-anomaly``; errors the user can fix print one line and exit with status 2.

    :param argv: arguments (default: ``sys.argv[1:]``).
    :return: process exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PixelAnomalyError, ValueError, OSError) as exc:
        print(f'pixel-anomaly {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'pixel-anomaly {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
