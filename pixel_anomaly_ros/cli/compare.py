# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly compare``: two evaluation runs bag by bag, flagging bags out of tolerance."""

import argparse

from pixel_anomaly_ros.cli.args import wrap

DESCRIPTION = ('Compare two runs of `pixel-anomaly evaluate --dataset bag --out DIR` (two '
               'bundles, two versions, two thresholds) bag by bag, without labels: frames '
               'evaluated, alarm rate (frames whose mask exceeds the alarm area), score '
               'quantiles and anomaly fraction. A bag whose values move beyond a tolerance, '
               'that only one run has, or that a run could not read is flagged. Exit status 0 '
               'when every bag is within tolerance, 1 when some are flagged.')

EXAMPLES = ('Examples:\n'
            '  pixel-anomaly compare reports/fleet_v1 reports/fleet_v2\n'
            '  pixel-anomaly compare reports/a reports/b --alarm-rate-tolerance 0.02 '
            '--json reports/a_vs_b.json')


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f'expected a number >= 0, got {text}')
    return value


def add_parser(subparsers) -> None:
    """
    Register ``compare``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'compare', help='compare two evaluation runs bag by bag (no labels needed)',
        description=wrap(DESCRIPTION), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('run_a', metavar='RUN_A', help='reference run (report directory)')
    p.add_argument('run_b', metavar='RUN_B', help='candidate run (report directory)')
    p.add_argument('--alarm-rate-tolerance', type=_fraction, default=0.05, metavar='X',
                   help='largest change of the alarm rate, a fraction (default 0.05)')
    p.add_argument('--quantile-tolerance', type=_fraction, default=0.05, metavar='X',
                   help='largest change of each score quantile (default 0.05)')
    p.add_argument('--fraction-tolerance', type=_fraction, default=0.01, metavar='X',
                   help='largest change of the anomaly fraction (default 0.01)')
    p.add_argument('--json', metavar='FILE', help='also write the comparison as JSON')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly compare``.

    :param args: the parsed arguments.
    :return: 0 when every bag is within tolerance, 1 when some are flagged.
    """
    from pixel_anomaly_ros.evaluation.compare import compare_runs, render_markdown, write_json
    comparison = compare_runs(args.run_a, args.run_b, {
        'alarm_rate': args.alarm_rate_tolerance, 'score_quantile': args.quantile_tolerance,
        'anomaly_fraction': args.fraction_tolerance})
    print(render_markdown(comparison).rstrip())
    if args.json:
        print(f'wrote {write_json(comparison, args.json)}')
    return 1 if comparison.flagged else 0
