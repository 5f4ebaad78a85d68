# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Compare two evaluation runs bag by bag (``pixel-anomaly compare``): annotationless regression.

Each run is a report directory of ``evaluate`` (its ``metrics.json``): two bundles, two
versions of one, or two thresholds on the same bags. Run A is the reference, run B the
candidate. Like a log replayer's pass ranges, every bag must stay within a tolerance of the
reference on each check, or it is *flagged*:

* it is in both runs and both could read it;
* the same number of frames was evaluated;
* ``alarm_rate`` (fraction of frames whose mask exceeds the alarm area) moved by at most
  ``alarm_rate`` (absolute, default 0.05);
* each score quantile (p50, p90, p99, p99.9 of the calibrated score) moved by at most
  ``score_quantile`` (default 0.05);
* ``anomaly_fraction`` (mask pixels / pixels) moved by at most ``anomaly_fraction``
  (default 0.01).

No label is needed. When both runs have labelled frames, the dataset-level pixel and component
metrics are compared too (reported, not flagged: one number cannot point at a bag).
"""

from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import tempfile
from typing import Dict, List, Optional, Tuple

from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.evaluation.report import jsonable, METRICS_FILE

#: Default tolerances (absolute differences of fractions and calibrated scores).
DEFAULT_TOLERANCES = {'alarm_rate': 0.05, 'score_quantile': 0.05, 'anomaly_fraction': 0.01}
#: Dataset-level metrics compared when both runs have them: (section, key).
DATASET_METRICS = (('pixel', 'ap'), ('pixel', 'auroc'), ('pixel', 'fpr95'),
                   ('components', 'mean_f1'), ('components', 'siou'), ('semantic', 'miou'))


class CompareError(PixelAnomalyError, ValueError):
    """A run that cannot be compared (no metrics.json, or no per-bag statistics)."""


@dataclass
class BagComparison:
    """
    One bag in both runs.

    :ivar values: per statistic, ``(run A, run B)`` (None where a run lacks it).
    :ivar flags: why the bag left its pass range (empty: it passes).
    """

    values: Dict[str, Tuple[Optional[float], Optional[float]]] = field(default_factory=dict)
    flags: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return whether every check passed."""
        return not self.flags


@dataclass
class Comparison:
    """Two runs compared: per bag, and the dataset-level metrics."""

    run_a: str
    run_b: str
    tolerances: Dict[str, float]
    bags: Dict[str, BagComparison]
    dataset: Dict[str, Tuple[Optional[float], Optional[float]]]

    @property
    def flagged(self) -> List[str]:
        """Return the names of the flagged bags."""
        return [name for name, bag in self.bags.items() if not bag.passed]

    def to_dict(self) -> Dict[str, object]:
        """Return the comparison as JSON-ready data (NaN written as null)."""
        return jsonable({
            'run_a': self.run_a, 'run_b': self.run_b, 'tolerances': self.tolerances,
            'flagged': self.flagged, 'dataset': {k: list(v) for k, v in self.dataset.items()},
            'bags': {name: {'passed': bag.passed, 'flags': bag.flags,
                            'values': {k: list(v) for k, v in bag.values.items()}}
                     for name, bag in self.bags.items()}})


def load_run(path: str | os.PathLike) -> Dict[str, object]:
    """
    Read the ``metrics.json`` of a run.

    :param path: a report directory or its ``metrics.json``.
    :return: the metrics.
    :raises CompareError: when it is missing, unreadable or has no per-bag statistics.
    """
    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    try:
        run = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise CompareError(f'cannot read {file}: {err}; pass a report directory written by '
                           '`pixel-anomaly evaluate --out`') from None
    if not isinstance(run, dict) or not run.get('bags'):
        raise CompareError(f'{file} has no per-bag statistics: compare needs runs of '
                           '`pixel-anomaly evaluate --dataset bag`')
    return run


def _number(value) -> Optional[float]:
    return None if value is None else float(value)


def _bag_values(bag: Optional[dict]) -> Dict[str, Optional[float]]:
    if bag is None:
        return {}
    alarms = bag.get('alarms') or {}
    values = {'frames': _number(bag.get('frames')),
              'alarm_rate': _number(alarms.get('alarm_rate')),
              'anomaly_fraction': _number(alarms.get('anomaly_fraction'))}
    for name, value in (alarms.get('score_quantiles') or {}).items():
        values[f'score_{name}'] = _number(value)
    return values


def _moved(a: Optional[float], b: Optional[float], tolerance: float) -> bool:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return (a is None) != (b is None)
    return abs(b - a) > tolerance


def compare_bag(a: Optional[dict], b: Optional[dict],
                tolerances: Dict[str, float]) -> BagComparison:
    """
    Compare one bag's entries of two runs.

    :param a: the bag in run A (``bags`` of metrics.json), or None when absent.
    :param b: the bag in run B, or None.
    :param tolerances: see :data:`DEFAULT_TOLERANCES`.
    :return: the values side by side and the flags.
    """
    va, vb = _bag_values(a), _bag_values(b)
    out = BagComparison({k: (va.get(k), vb.get(k)) for k in dict.fromkeys([*va, *vb])})
    if a is None or b is None:
        out.flags.append(f'only in run {"B" if a is None else "A"}')
        return out
    for run, bag in (('A', a), ('B', b)):
        if bag.get('error'):
            out.flags.append(f'unreadable in run {run}: {bag["error"]}')
    if va['frames'] != vb['frames']:
        out.flags.append(f'frames {va["frames"]:.0f} -> {vb["frames"]:.0f}')
    for key, (x, y) in out.values.items():
        tolerance = tolerances['score_quantile'] if key.startswith('score_') else \
            tolerances.get(key)
        if tolerance is not None and _moved(x, y, tolerance):
            out.flags.append(f'{key} {_fmt(x)} -> {_fmt(y)} (tolerance {tolerance:g})')
    return out


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike,
                 tolerances: Optional[Dict[str, float]] = None) -> Comparison:
    """
    Compare two runs bag by bag (see the module docstring).

    :param run_a: the reference run (report directory or metrics.json).
    :param run_b: the candidate run.
    :param tolerances: overrides of :data:`DEFAULT_TOLERANCES`.
    :return: the comparison; :attr:`Comparison.flagged` lists the bags out of range.
    :raises CompareError: for a run that cannot be read or a negative or unknown tolerance.
    """
    given = dict(tolerances or {})
    unknown = sorted(set(given) - set(DEFAULT_TOLERANCES))
    if unknown or any(v < 0 for v in given.values()):
        raise CompareError(f'tolerances must be >= 0 and among {sorted(DEFAULT_TOLERANCES)}, '
                           f'got {given}')
    tolerances = dict(DEFAULT_TOLERANCES, **given)
    a, b = load_run(run_a), load_run(run_b)
    names = list(dict.fromkeys([*a['bags'], *b['bags']]))
    bags = {name: compare_bag(a['bags'].get(name), b['bags'].get(name), tolerances)
            for name in names}
    dataset = {}
    for section, key in DATASET_METRICS:
        x, y = (_dataset_value(run, section, key) for run in (a, b))
        if x is not None or y is not None:
            dataset[f'{section}.{key}'] = (x, y)
    return Comparison(str(run_a), str(run_b), tolerances, bags, dataset)


def _dataset_value(run: dict, section: str, key: str) -> Optional[float]:
    block = run.get(section) or {}
    if section == 'pixel':
        block = block.get('bundle') or {}
    return _number(block.get(key))


def _fmt(value: Optional[float]) -> str:
    return '—' if value is None or not math.isfinite(value) else f'{value:.4g}'


def render_markdown(comparison: Comparison) -> str:
    """
    Render the comparison: the flagged bags first, then every bag's values side by side.

    :param comparison: the comparison.
    :return: Markdown text.
    """
    c = comparison
    flagged = c.flagged
    lines = [f'# Compare {c.run_a} (A) with {c.run_b} (B)', '',
             f'{len(c.bags) - len(flagged)} of {len(c.bags)} bags within tolerance; '
             f'{len(flagged)} flagged. Tolerances: '
             + ', '.join(f'{k} {v:g}' for k, v in c.tolerances.items()) + '.', '']
    if flagged:
        lines += ['## Flagged bags', '']
        lines += [f'- `{name}`: ' + '; '.join(c.bags[name].flags) for name in flagged] + ['']
    lines += ['## Bags', '', '| bag | result | frames A / B | alarm rate A / B | '
              'anomaly fraction A / B | score p99 A / B |', '|---|---|---:|---:|---:|---:|']
    for name, bag in c.bags.items():
        cells = [' / '.join(_fmt(v) for v in bag.values.get(key, (None, None)))
                 for key in ('frames', 'alarm_rate', 'anomaly_fraction', 'score_p99')]
        lines.append(f'| {name} | {"pass" if bag.passed else "**flagged**"} | '
                     + ' | '.join(cells) + ' |')
    lines.append('')
    if c.dataset:
        lines += ['## Dataset metrics (labelled frames)', '', '| metric | A | B | B - A |',
                  '|---|---:|---:|---:|']
        for key, (x, y) in c.dataset.items():
            delta = y - x if x is not None and y is not None else None
            lines.append(f'| {key} | {_fmt(x)} | {_fmt(y)} | {_fmt(delta)} |')
        lines.append('')
    return '\n'.join(lines)


def write_json(comparison: Comparison, path: str | os.PathLike) -> Path:
    """
    Write the comparison as JSON, atomically (a temporary sibling renamed into place).

    :param comparison: the comparison.
    :param path: the file to write.
    :return: the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(json.dumps(comparison.to_dict(), indent=2, allow_nan=False) + '\n')
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
