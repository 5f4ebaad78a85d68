# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The explanations a report gives beside its numbers.

What the metrics mean, which operating point the masks use and what it flags, and how loaded
the machine was while frames were timed.

Shared by the evaluation and replay reports (:mod:`.report`) and the demo report.
"""

import math
from typing import Dict, List, Optional


def _percent(value: Optional[float], digits: int = 1) -> str:
    return '—' if value is None or not math.isfinite(value) else f'{100 * value:.{digits}f} %'


def metrics_paragraph(positives: int, negatives: int) -> str:
    """
    Explain AP, FPR95 and AUROC and which way is better, with the chance level of AP.

    :param positives: anomalous pixels evaluated.
    :param negatives: inlier pixels evaluated.
    :return: one Markdown paragraph.
    """
    share = positives / max(1, positives + negatives)
    return ('How to read the table: every pixel gets an anomaly score, and a threshold on it '
            'decides which pixels are flagged; the three metrics look at all thresholds at once. '
            '**AP** (average precision; higher is better, 100 % is perfect) is the precision of '
            'the flagged pixels averaged over the recall levels; a score that knows nothing '
            f'gets the anomalous share of the pixels, here {_percent(share, 2)}. **FPR95** '
            '(lower is better, 0 % is perfect) is the share of normal pixels flagged once the '
            'threshold is low enough to catch 95 % of the anomalous ones. **AUROC** (higher is '
            'better; 50 % is chance, 100 % perfect) is the probability that an anomalous pixel '
            'scores above a normal one. When anomalies are rare, AP is the strictest of the '
            'three: an AUROC that looks high can still come with a mask full of false alarms.')


def operating_point_lines(figures: Optional[Dict[str, object]]) -> List[str]:
    """
    Say which threshold the masks use, what it measured when calibrated and what it flags here.

    :param figures: ``{'name', 'threshold', 'calibration_tpr', 'calibration_fpr', 'tpr',
        'fpr'}`` (:meth:`Evaluator._mask_figures`), or None.
    :return: Markdown lines (empty without figures).
    """
    if not figures:
        return []
    name, threshold = figures['name'], figures['threshold']
    named = f"the bundle's operating point `{name}`"
    what = {'threshold': "the bundle's score.threshold (the bundle records no operating points; "
                         '`pixel-anomaly calibrate` measures them)',
            'given': 'a threshold given by hand'}.get(name, named)
    lines = ['## Mask (operating point)', '',
             "Masks (the examples, the node's `anomaly/mask`) flag pixels with score >= "
             f'{threshold:.4g}: {what}.']
    if figures.get('calibration_tpr') is not None:
        lines[-1] += (f' On its calibration set it flagged {_percent(figures["calibration_tpr"])} '
                      f'of the anomalous and {_percent(figures["calibration_fpr"])} of the '
                      'inlier pixels.')
    if figures.get('tpr') is not None or figures.get('fpr') is not None:
        lines[-1] += (f' On these frames it flags {_percent(figures.get("tpr"))} of the '
                      f'anomalous (TPR) and {_percent(figures.get("fpr"))} of the inlier pixels '
                      '(FPR).')
    return lines + ['']


def load_line(load: Optional[Dict[str, object]]) -> str:
    """
    Say how loaded the machine was while frames were timed.

    :param load: ``{'before', 'after', 'cores'}`` one-minute load averages, or None.
    :return: one Markdown line ('' without figures).
    """
    if not load:
        return ''
    cores = load.get('cores') or 0
    busy = max(load.get('before') or 0.0, load.get('after') or 0.0) > cores > 0
    return (f'Machine load while timing: one-minute load average {load.get("before")} before '
            f'and {load.get("after")} after, on {cores or "?"} cores'
            + ('; above the core count, so other processes competed for the CPU and these '
               'times are slower than on an idle machine.' if busy else
               '; at or below the core count, so the times are those of a machine that was '
               'mostly free.'))
