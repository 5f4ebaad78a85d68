# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Evaluation reports: ``metrics.json``, ``report.md`` and PNG plots in one directory.

Shared by ``evaluate`` (offline, :mod:`pixel_anomaly_ros.evaluation.evaluate`) and ``replay``
(through the running node, :mod:`pixel_anomaly_ros.ros.replay`). ``report.md`` opens with a
table of AP / FPR95 / AUROC per method (the bundle and each baseline), then the component
metrics, semantic mIoU, latency, replay figures and the plots: PR and ROC curves of every
method, a latency histogram per stage and a grid of example frames (image | ground truth |
score heatmap with colour bar | mask, with a legend). Beside the numbers it says what the
metrics mean, which operating point the masks use and what it flags, and how loaded the machine
was while frames were timed (:mod:`.report_text`). Plots are drawn with matplotlib's Agg canvas
(no display, no pyplot state).

The directory is written into a hidden temporary sibling and renamed into place when complete,
so a failed run never leaves a partial report. An existing report directory (one holding
``metrics.json``) or an empty directory is replaced; anything else is refused.
"""

from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import shutil
import tempfile
from typing import Dict, List, Optional

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.evaluation.alarms import bags_section
from pixel_anomaly_ros.evaluation.components import ComponentMetrics
from pixel_anomaly_ros.evaluation.example_figure import plot_examples
from pixel_anomaly_ros.evaluation.metrics import PixelMetrics
from pixel_anomaly_ros.evaluation.report_text import (load_line, metrics_paragraph,
                                                      operating_point_lines)
from pixel_anomaly_ros.evaluation.semantic_metrics import SemanticMetrics

METRICS_FILE = 'metrics.json'
REPORT_FILE = 'report.md'
PR_PLOT = 'pr_curves.png'
ROC_PLOT = 'roc_curves.png'
LATENCY_PLOT = 'latency_histogram.png'
EXAMPLES_PLOT = 'examples.png'

#: Display names of the methods; other names are shown as they are.
METHOD_LABELS = {'bundle': 'bundle', 'baseline_max_softmax': 'max softmax',
                 'baseline_max_logit': 'max logit', 'baseline_entropy': 'entropy',
                 'baseline_energy': 'energy'}


class ReportError(PixelAnomalyError, ValueError):
    """The report directory cannot be written (e.g. it exists and is not a report)."""


@dataclass
class Example:
    """One frame of the example grid, downscaled; all maps share one (h, w)."""

    name: str
    image: np.ndarray
    label: np.ndarray
    score: np.ndarray
    mask: np.ndarray


@dataclass
class EvaluationResult:
    """
    Everything an evaluation or replay measured, ready to be written as a report.

    :ivar title: one line naming the bundle and the data.
    :ivar info: facts about the run (bundle, backend, dataset, mode, ...), JSON-ready.
    :ivar names: names of the labelled frames evaluated, in order.
    :ivar pixel: pixel metrics per method (``'bundle'`` first, then ``baseline_*``).
    :ivar components: SegmentMeIfYouCan component metrics of the bundle, or None.
    :ivar semantic: semantic metrics when the data had semantic labels, or None.
    :ivar latency_ms: per stage, the milliseconds of every frame.
    :ivar examples: frames of the example grid.
    :ivar notes: remarks printed under the method table.
    :ivar replay: replay figures (frames sent, answered, dropped, node diagnostics), or None.
    :ivar operating_point: the masks' operating point and the pixels they flagged, or None.
    :ivar bags: per bag of a bag dataset, its frames, alarm statistics and any read failure
        (:func:`~pixel_anomaly_ros.evaluation.alarms.bag_entries`), or None.
    """

    title: str
    info: Dict[str, object]
    names: List[str]
    pixel: Dict[str, PixelMetrics]
    components: Optional[ComponentMetrics] = None
    semantic: Optional[SemanticMetrics] = None
    latency_ms: Dict[str, np.ndarray] = field(default_factory=dict)
    examples: List[Example] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    replay: Optional[Dict[str, object]] = None
    operating_point: Optional[Dict[str, object]] = None
    bags: Optional[Dict[str, Dict[str, object]]] = None

    @property
    def frames(self) -> int:
        """Return the number of labelled frames evaluated."""
        return len(self.names)

    def latency_summary(self) -> Dict[str, Dict[str, float]]:
        """
        Summarise the latency of each stage.

        :return: ``{stage: {'median', 'p95', 'mean', 'max', 'count'}}`` in milliseconds.
        """
        summary = {}
        for stage, values in self.latency_ms.items():
            values = np.asarray(values, dtype=np.float64)
            if values.size:
                summary[stage] = {'median': float(np.median(values)),
                                  'p95': float(np.percentile(values, 95)),
                                  'mean': float(values.mean()), 'max': float(values.max()),
                                  'count': int(values.size)}
        return summary

    def to_dict(self) -> Dict[str, object]:
        """Return the JSON content of ``metrics.json`` (NaN written as null)."""
        return jsonable({
            'title': self.title, 'info': self.info, 'frames': self.frames,
            'pixel': {m: p.to_dict() for m, p in self.pixel.items()},
            'components': self.components.to_dict() if self.components else None,
            'semantic': self.semantic.to_dict() if self.semantic else None,
            'latency_ms': self.latency_summary(), 'replay': self.replay,
            'operating_point': self.operating_point, 'notes': self.notes,
            'frame_names': self.names, 'bags': self.bags})


def jsonable(value):
    """
    Convert a value to plain JSON types: NaN and infinities become None, arrays lists.

    :param value: nested dicts, lists, tuples, numpy scalars and arrays, paths.
    :return: the converted value.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def method_label(method: str) -> str:
    """
    Return the display name of a method.

    :param method: key of :attr:`EvaluationResult.pixel`.
    :return: e.g. ``'max softmax'`` for ``'baseline_max_softmax'``.
    """
    return METHOD_LABELS.get(method, method)


def check_output_dir(out: os.PathLike) -> Path:
    """
    Check that a report may be written to a directory (before a long run starts).

    :param out: the report directory.
    :return: the path.
    :raises ReportError: if it exists and is neither empty nor a previous report.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ReportError(f'{out} exists and is not a directory; choose another --out')
        if any(out.iterdir()) and not (out / METRICS_FILE).is_file():
            raise ReportError(f'{out} exists and is not a report directory (no {METRICS_FILE})'
                              '; choose another --out or empty it')
    return out


def write_report(result: EvaluationResult, out: os.PathLike) -> Path:
    """
    Write ``metrics.json``, ``report.md`` and the plots into a directory, atomically.

    :param result: what to report.
    :param out: the report directory; a previous report there is replaced.
    :return: the directory.
    :raises ReportError: if ``out`` exists and is not a report directory.
    """
    out = check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.partial', dir=out.parent))
    try:
        plots = write_plots(result, tmp)
        (tmp / METRICS_FILE).write_text(
            json.dumps(result.to_dict(), indent=2, allow_nan=False) + '\n')
        (tmp / REPORT_FILE).write_text(render_markdown(result, plots))
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _move_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.old', dir=out.parent))
    os.rename(out, old / out.name)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old / out.name, out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


# Markdown ----------------------------------------------------------------------------------


def percent(value: Optional[float]) -> str:
    """Format a rate in [0, 1] as a percentage with two decimals, ``'—'`` when undefined."""
    return '—' if value is None or not math.isfinite(value) else f'{100.0 * value:.2f}'


def _num(value: Optional[float], digits: int = 4) -> str:
    return '—' if value is None or not math.isfinite(value) else f'{value:.{digits}g}'


def render_markdown(result: EvaluationResult, plots: Optional[List[str]] = None) -> str:
    """
    Render the report as Markdown; it opens with the AP / FPR95 / AUROC table.

    :param result: what to report.
    :param plots: file names of the plots written next to the report.
    :return: the Markdown text.
    """
    lines = [f'# {result.title}', '']
    lines += _method_table(result)
    lines += operating_point_lines(result.operating_point)
    lines += _components_section(result.components)
    lines += _semantic_section(result.semantic)
    lines += _latency_section(result)
    lines += _replay_section(result.replay)
    lines += bags_section(result.bags)
    if plots:
        lines += ['## Plots', '']
        captions = {PR_PLOT: 'precision-recall curves', ROC_PLOT: 'ROC curves',
                    LATENCY_PLOT: 'latency per stage', EXAMPLES_PLOT: 'example frames'}
        lines += [f'![{captions.get(p, p)}]({p})' for p in plots] + ['']
    lines += ['## Run', '']
    lines += [f'- {key}: {_inline(value)}' for key, value in result.info.items()] + ['']
    return '\n'.join(lines)


def _inline(value) -> str:
    if isinstance(value, dict):
        return ', '.join(f'{k}={v}' for k, v in value.items()) or '—'
    if isinstance(value, (list, tuple)):
        return ', '.join(str(v) for v in value) or '—'
    return str(value)


def _method_table(result: EvaluationResult) -> List[str]:
    lines = ['| method | AP % | FPR95 % | AUROC % |', '|---|---:|---:|---:|']
    for method, m in result.pixel.items():
        lines.append(f'| {method_label(method)} | {percent(m.ap)} | {percent(m.fpr95)} | '
                     f'{percent(m.auroc)} |')
    if not result.pixel:
        lines.append('| (no labelled frames) | — | — | — |')
    lines.append('')
    first = next(iter(result.pixel.values()), None)
    if first is not None:
        lines.append(
            f'{result.frames} frames; {first.positives:,} anomalous and {first.negatives:,} '
            'inlier pixels pooled over the dataset at label resolution (void pixels left '
            'out). AP is step-wise (sklearn); FPR95 is the FPR at the first threshold with TPR '
            '>= 95 % (Fishyscapes); higher scores mean more anomalous for every method.')
        lines += ['', metrics_paragraph(first.positives, first.negatives), '']
    lines += [f'> {note}' for note in result.notes] + ([''] if result.notes else [])
    if result.pixel:
        lines += ['| method | best F1 % | at score >= | TPR 95 % at score >= |',
                  '|---|---:|---:|---:|']
        for method, m in result.pixel.items():
            lines.append(f'| {method_label(method)} | {percent(m.best_f1)} | '
                         f'{_num(m.best_f1_threshold)} | {_num(m.tpr95_threshold)} |')
        lines.append('')
    return lines


def _components_section(c: Optional[ComponentMetrics]) -> List[str]:
    lines = ['## Component metrics (SegmentMeIfYouCan)', '']
    if c is None:
        return lines + ['Not computed (no anomalous pixels, so no best-F1 threshold).', '']
    lines += ['| sIoU % | PPV % | mean F1 % | GT components | predicted components | '
              'score threshold |', '|---:|---:|---:|---:|---:|---:|',
              f'| {percent(c.siou)} | {percent(c.ppv)} | {percent(c.mean_f1)} | '
              f'{c.gt_components} | {c.pred_components} | {_num(c.score_threshold)} |', '',
              'Predicted components are the 8-connected regions of score >= the pixel best-F1 '
              'threshold of the bundle on this dataset (as SegmentMeIfYouCan does); mean F1 '
              'averages F1 over sIoU/PPV thresholds 0.25, 0.30, ..., 0.75.', '']
    return lines


def _semantic_section(s: Optional[SemanticMetrics]) -> List[str]:
    if s is None:
        return []
    return ['## Semantic segmentation', '', '| mIoU % | pixel accuracy % | pixels |',
            '|---:|---:|---:|',
            f'| {percent(s.miou)} | {percent(s.pixel_accuracy)} | {s.pixels:,} |', '']


def _latency_section(result: EvaluationResult) -> List[str]:
    summary = result.latency_summary()
    if not summary:
        return []
    lines = ['## Latency', '', '| stage | median ms | p95 ms | mean ms | max ms | frames |',
             '|---|---:|---:|---:|---:|---:|']
    for stage, s in summary.items():
        lines.append(f"| {stage} | {s['median']:.2f} | {s['p95']:.2f} | {s['mean']:.2f} | "
                     f"{s['max']:.2f} | {s['count']} |")
    load = load_line(result.info.get('load_average'))
    return lines + [''] + ([load, ''] if load else [])


def _replay_section(replay: Optional[Dict[str, object]]) -> List[str]:
    if not replay:
        return []
    lines = ['## Replay', '', '| figure | value |', '|---|---:|']
    for key, value in replay.items():
        if not isinstance(value, dict):
            lines.append(f'| {key.replace("_", " ")} | {value} |')
    lines.append('')
    for key, value in replay.items():
        if isinstance(value, dict) and value:
            lines += [f'{key.replace("_", " ")}: ' + _inline(value), '']
    return lines


# Plots -------------------------------------------------------------------------------------


def write_plots(result: EvaluationResult, out_dir: os.PathLike) -> List[str]:
    """
    Draw every plot the result has data for.

    :param result: what to plot.
    :param out_dir: directory to write the PNG files into.
    :return: the file names written.
    """
    out_dir = Path(out_dir)
    written = []
    curves = {m: p for m, p in result.pixel.items()
              if p.curve is not None and p.positives > 0 and p.negatives > 0}
    if curves:
        plot_pr_curves(curves, out_dir / PR_PLOT)
        plot_roc_curves(curves, out_dir / ROC_PLOT)
        written += [PR_PLOT, ROC_PLOT]
    if any(np.size(v) for v in result.latency_ms.values()):
        plot_latency(result.latency_ms, out_dir / LATENCY_PLOT)
        written.append(LATENCY_PLOT)
    if result.examples:
        plot_examples(result.examples, out_dir / EXAMPLES_PLOT,
                      (result.operating_point or {}).get('threshold'))
        written.append(EXAMPLES_PLOT)
    return written


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)


def plot_pr_curves(pixel: Dict[str, PixelMetrics], path: os.PathLike) -> None:
    """
    Plot the precision-recall curve of every method.

    :param pixel: metrics with curves, per method.
    :param path: PNG file to write.
    """
    figure = Figure(figsize=(6.4, 4.8), layout='constrained')
    ax = figure.add_subplot()
    for method, m in pixel.items():
        ax.plot(m.curve.recall, m.curve.precision,
                label=f'{method_label(method)} (AP {percent(m.ap)} %)', drawstyle='steps-post')
    positive_rate = next(iter(pixel.values()))
    rate = positive_rate.positives / max(1, positive_rate.positives + positive_rate.negatives)
    ax.axhline(rate, color='grey', linestyle=':', linewidth=1, label='chance')
    ax.set(xlabel='recall (TPR)', ylabel='precision', xlim=(0, 1), ylim=(0, 1.02),
           title='Precision-recall (pixels)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small')
    _save(figure, Path(path))


def plot_roc_curves(pixel: Dict[str, PixelMetrics], path: os.PathLike) -> None:
    """
    Plot the ROC curve of every method, with the 95 % TPR line.

    :param pixel: metrics with curves, per method.
    :param path: PNG file to write.
    """
    figure = Figure(figsize=(6.4, 4.8), layout='constrained')
    ax = figure.add_subplot()
    for method, m in pixel.items():
        ax.plot(m.curve.fpr, m.curve.tpr, label=f'{method_label(method)} (AUROC '
                f'{percent(m.auroc)} %, FPR95 {percent(m.fpr95)} %)')
    ax.plot([0, 1], [0, 1], color='grey', linestyle=':', linewidth=1)
    ax.axhline(0.95, color='grey', linestyle='--', linewidth=1)
    ax.set(xlabel='false positive rate', ylabel='true positive rate', xlim=(0, 1),
           ylim=(0, 1.02), title='ROC (pixels)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small', loc='lower right')
    _save(figure, Path(path))


def plot_latency(latency_ms: Dict[str, np.ndarray], path: os.PathLike) -> None:
    """
    Plot a histogram of the milliseconds of each stage, with median and p95 marked.

    :param latency_ms: per stage, the milliseconds of every frame.
    :param path: PNG file to write.
    """
    stages = [(s, np.asarray(v, np.float64)) for s, v in latency_ms.items() if np.size(v)]
    columns = min(3, len(stages))
    rows = math.ceil(len(stages) / columns)
    figure = Figure(figsize=(4.0 * columns, 3.0 * rows), layout='constrained')
    for i, (stage, values) in enumerate(stages):
        ax = figure.add_subplot(rows, columns, i + 1)
        ax.hist(values, bins=min(50, max(5, values.size // 2)), color='tab:blue', alpha=0.8)
        median, p95 = np.median(values), np.percentile(values, 95)
        ax.axvline(median, color='black', linewidth=1, label=f'median {median:.2f}')
        ax.axvline(p95, color='tab:red', linestyle='--', linewidth=1, label=f'p95 {p95:.2f}')
        ax.set(title=stage, xlabel='ms', ylabel='frames')
        ax.legend(fontsize='x-small')
    _save(figure, Path(path))
