# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Annotationless alarm statistics per bag: how often and how much the detector fires.

Fleet logs are mostly unlabelled, so ``evaluate`` records for every bag, labelled or not, what
the detector did on it; ``compare`` checks two runs against each other bag by bag
(:mod:`pixel_anomaly_ros.evaluation.compare`). Per bag:

* ``frames`` evaluated and ``alarm_frames``: frames whose mask (calibrated score >= the
  bundle's threshold) covers more than ``alarm_area`` of the frame (a fraction of its pixels);
  ``alarm_rate`` = alarm frames / frames.
* ``score_quantiles`` of the calibrated score over all pixels (p50, p90, p99, p99.9), read from
  a histogram of :data:`SCORE_BINS` bins over [0, 1]: the upper edge of the first bin where the
  cumulative count reaches the quantile (resolution ``1 / SCORE_BINS``).
* ``fraction_histogram``: frames per bin of the anomaly fraction (mask pixels / frame pixels)
  with the edges :data:`FRACTION_EDGES`; ``anomaly_fraction`` pools mask pixels over the bag,
  ``max_anomaly_fraction`` is the largest of one frame.

Every state is an integer count (or a maximum), so :meth:`AlarmStatistics.merge` of partial
statistics from many workers equals one pass exactly.
"""

import math
from typing import Dict, List, Optional

import numpy as np

#: Default smallest anomalous area of an alarm frame, as a fraction of the frame's pixels.
DEFAULT_ALARM_AREA = 0.001
#: Bins of the score histogram over [0, 1].
SCORE_BINS = 1000
#: Score quantiles reported, by name.
QUANTILES = {'p50': 0.5, 'p90': 0.9, 'p99': 0.99, 'p99.9': 0.999}
#: Edges of the anomaly-fraction histogram; the last bin includes 1.
FRACTION_EDGES = (0.0, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.25, 0.5, 1.0)


class AlarmStatistics:
    """Alarm statistics of one bag (or any group of frames); see the module docstring."""

    def __init__(self, alarm_area: float = DEFAULT_ALARM_AREA, score_bins: int = SCORE_BINS):
        """
        Create empty statistics.

        :param alarm_area: a frame alarms when its mask covers more than this fraction.
        :param score_bins: bins of the score histogram over [0, 1].
        :raises ValueError: for an area outside [0, 1) or fewer than one bin.
        """
        if not 0.0 <= alarm_area < 1.0 or score_bins < 1:
            raise ValueError(f'need 0 <= alarm_area < 1 and score_bins >= 1, got {alarm_area}, '
                             f'{score_bins}')
        self.alarm_area, self.score_bins = float(alarm_area), int(score_bins)
        self.frames = 0
        self.alarm_frames = 0
        self.pixels = 0
        self.mask_pixels = 0
        self.max_fraction = 0.0
        self.score_counts = np.zeros(self.score_bins, np.int64)
        self.fraction_counts = np.zeros(len(FRACTION_EDGES) - 1, np.int64)

    def update(self, score: np.ndarray, mask: np.ndarray) -> None:
        """
        Add one frame.

        :param score: (H, W) calibrated score in [0, 1] (values outside are clipped).
        :param mask: (H, W) bool anomaly mask of the frame.
        """
        mask = np.asarray(mask, bool)
        area, size = int(np.count_nonzero(mask)), int(mask.size)
        fraction = area / size if size else 0.0
        self.frames += 1
        self.alarm_frames += int(fraction > self.alarm_area)
        self.pixels += size
        self.mask_pixels += area
        self.max_fraction = max(self.max_fraction, fraction)
        index = min(int(np.searchsorted(FRACTION_EDGES, fraction, side='right')) - 1,
                    len(self.fraction_counts) - 1)
        self.fraction_counts[index] += 1
        bins = np.clip(np.asarray(score, np.float32) * self.score_bins, 0, self.score_bins - 1)
        self.score_counts += np.bincount(bins.astype(np.intp).ravel(), minlength=self.score_bins)

    def merge(self, other: 'AlarmStatistics') -> None:
        """
        Add the frames of other statistics with the same area and bins.

        :param other: statistics to add (left unchanged).
        :raises ValueError: if the area or the bins differ.
        """
        if (other.alarm_area, other.score_bins) != (self.alarm_area, self.score_bins):
            raise ValueError('cannot merge alarm statistics of different areas or bins')
        self.frames += other.frames
        self.alarm_frames += other.alarm_frames
        self.pixels += other.pixels
        self.mask_pixels += other.mask_pixels
        self.max_fraction = max(self.max_fraction, other.max_fraction)
        self.score_counts += other.score_counts
        self.fraction_counts += other.fraction_counts

    def quantile(self, q: float) -> float:
        """
        Return a score quantile at histogram resolution (NaN without frames).

        :param q: the quantile in [0, 1].
        :return: the upper edge of the first bin where the cumulative count reaches ``q``.
        """
        total = int(self.score_counts.sum())
        if not total:
            return math.nan
        cumulative = np.cumsum(self.score_counts)
        index = int(np.searchsorted(cumulative, q * total, side='left'))
        return min(index + 1, self.score_bins) / self.score_bins

    def summary(self) -> Dict[str, object]:
        """Return the statistics as a JSON-ready dictionary (rates NaN without frames)."""
        frames = self.frames
        return {
            'frames': frames, 'alarm_area': self.alarm_area, 'alarm_frames': self.alarm_frames,
            'alarm_rate': self.alarm_frames / frames if frames else math.nan,
            'anomaly_fraction': self.mask_pixels / self.pixels if self.pixels else math.nan,
            'max_anomaly_fraction': self.max_fraction if frames else math.nan,
            'score_quantiles': {name: self.quantile(q) for name, q in QUANTILES.items()},
            'fraction_histogram': {'edges': list(FRACTION_EDGES),
                                   'counts': self.fraction_counts.tolist()}}


class AlarmTable:
    """:class:`AlarmStatistics` per bag name, created on first use."""

    def __init__(self, alarm_area: float = DEFAULT_ALARM_AREA):
        """
        Create an empty table.

        :param alarm_area: see :class:`AlarmStatistics`.
        """
        self.alarm_area = float(alarm_area)
        AlarmStatistics(self.alarm_area)  # check the area now
        self.bags: Dict[str, AlarmStatistics] = {}

    def get(self, bag: str) -> AlarmStatistics:
        """
        Return the statistics of a bag, empty ones when it has none yet.

        :param bag: bag name.
        :return: its statistics (kept in the table).
        """
        if bag not in self.bags:
            self.bags[bag] = AlarmStatistics(self.alarm_area)
        return self.bags[bag]

    def update(self, bag: str, score: np.ndarray, mask: np.ndarray) -> None:
        """
        Add one frame of a bag (see :meth:`AlarmStatistics.update`).

        :param bag: bag name.
        :param score: (H, W) calibrated score.
        :param mask: (H, W) bool mask.
        """
        self.get(bag).update(score, mask)


def bag_entries(described: Dict[str, Dict[str, object]],
                table: AlarmTable) -> Dict[str, Dict[str, object]]:
    """
    Join what is known of each bag with its alarm statistics: the ``bags`` of a report.

    :param described: per bag, ``labelled``, ``paired``, ``unmatched`` and ``error``.
    :param table: alarm statistics of the frames evaluated.
    :return: per bag, those keys plus ``frames`` (evaluated), ``status`` (``'ok'`` or
        ``'failed'``) and ``alarms`` (:meth:`AlarmStatistics.summary`).
    """
    out = {}
    for name, facts in described.items():
        stats = table.bags.get(name)
        out[name] = dict(facts, status='failed' if facts.get('error') else 'ok',
                         frames=stats.frames if stats else 0,
                         alarms=(stats or AlarmStatistics(table.alarm_area)).summary())
    return out


def _rate(value: Optional[float]) -> str:
    return '—' if value is None or not math.isfinite(value) else f'{100.0 * value:.2f}'


def _score(value: Optional[float]) -> str:
    return '—' if value is None or not math.isfinite(value) else f'{value:.3f}'


def bags_section(bags: Optional[Dict[str, Dict[str, object]]]) -> List[str]:
    """
    Render the per-bag table of a report (frames, labels, alarm statistics, failures).

    :param bags: the ``bags`` of a result (:func:`bag_entries`), or None.
    :return: Markdown lines (none without bags).
    """
    if not bags:
        return []
    area = next(iter(bags.values()))['alarms']['alarm_area']
    lines = ['## Bags', '',
             f'Alarm frames: mask over {100 * area:g} % of the frame. Scores are calibrated '
             '(quantiles over all pixels, resolution 0.001).', '',
             '| bag | frames / paired | labelled | alarm frames % | anomaly % | score p50 | '
             'score p99 | status |', '|---|---:|:---:|---:|---:|---:|---:|---|']
    for name, bag in bags.items():
        a = bag['alarms']
        paired = '—' if bag.get('paired') is None else bag['paired']
        labelled = {True: 'yes', False: 'no'}.get(bag.get('labelled'), '—')
        q = a['score_quantiles']
        lines.append(f"| {name} | {bag['frames']} / {paired} | {labelled} | "
                     f"{_rate(a['alarm_rate'])} | {_rate(a['anomaly_fraction'])} | "
                     f"{_score(q['p50'])} | {_score(q['p99'])} | {bag['status']} |")
    lines.append('')
    failed = [(name, bag['error']) for name, bag in bags.items() if bag.get('error')]
    if failed:
        lines += ['Bags that could not be read (their frames evaluated before the failure, if '
                  'any, still count):', '']
        lines += [f'- `{name}`: {error}' for name, error in failed] + ['']
    return lines
