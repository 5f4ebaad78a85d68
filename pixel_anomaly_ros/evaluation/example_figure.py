# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The example grid of a report: image | ground truth | score | mask, one row per frame.

Every score panel has its own colour bar (the heatmap colours of the node, 0 to 1, with the
mask threshold marked) and one legend under the grid says what the ground-truth and mask
colours mean. Drawn on matplotlib's Agg canvas (no display, no pyplot state).
"""

import os
from pathlib import Path
from typing import Optional, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
import numpy as np

#: Ground-truth colours (RGB): inlier grey, anomaly orange, void black.
GT_COLOURS = {'inlier': (90, 90, 90), 'anomaly': (255, 120, 0), 'void (not scored)': (0, 0, 0)}
LABEL_LUT = np.zeros((256, 3), np.uint8)
LABEL_LUT[0], LABEL_LUT[1] = GT_COLOURS['inlier'], GT_COLOURS['anomaly']
#: matplotlib name of the node's heatmap colour map (OpenCV's COLORMAP_INFERNO).
SCORE_COLOURMAP = 'inferno'


def legend_handles(threshold: Optional[float]) -> list:
    """
    Return the legend entries of the ground-truth and mask colours.

    :param threshold: the mask threshold, or None when unknown.
    :return: matplotlib patches.
    """
    at = '' if threshold is None else f' (score >= {threshold:.3g})'
    handles = [Patch(facecolor=np.asarray(rgb) / 255, edgecolor='grey',
                     label=f'ground truth: {name}') for name, rgb in GT_COLOURS.items()]
    return handles + [Patch(facecolor='white', edgecolor='grey', label=f'mask: flagged{at}'),
                      Patch(facecolor='black', edgecolor='grey', label='mask: not flagged')]


def plot_examples(examples: Sequence, path: os.PathLike,
                  threshold: Optional[float] = None) -> None:
    """
    Plot a grid of example frames: image | ground truth | score with colour bar | mask.

    :param examples: frames with ``name``, ``image`` (h, w, 3) RGB, ``label`` (h, w) 0/1/255,
        ``score`` (h, w) in [0, 1] and ``mask`` (h, w) bool.
    :param path: PNG file to write.
    :param threshold: the mask threshold, marked on each colour bar and named in the legend.
    """
    h, w = examples[0].label.shape
    width = 13.0
    height = max(2.2, len(examples) * (width / 4.2) * h / w + 0.4 * len(examples) + 0.8)
    figure = Figure(figsize=(width, height), layout='constrained')
    titles = ('image', 'ground truth', 'anomaly score', 'mask')
    for row, ex in enumerate(examples):
        panels = (ex.image, LABEL_LUT[ex.label], ex.score.astype(np.float32),
                  ex.mask.astype(np.uint8) * 255)
        for col, panel in enumerate(panels):
            ax = figure.add_subplot(len(examples), 4, row * 4 + col + 1)
            if col == 2:
                shown = ax.imshow(panel, cmap=SCORE_COLOURMAP, vmin=0.0, vmax=1.0,
                                  interpolation='nearest')
                bar = figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
                bar.ax.tick_params(labelsize='x-small')
                if threshold is not None:
                    bar.ax.axhline(threshold, color='cyan', linewidth=1.5)
            else:
                ax.imshow(panel, cmap='gray' if panel.ndim == 2 else None, vmin=0, vmax=255,
                          interpolation='nearest')
            ax.set_axis_off()
            ax.set_title(ex.name if col == 0 else titles[col] if row == 0 else '',
                         fontsize='small')
    marker = [] if threshold is None else [
        Patch(facecolor='cyan', label=f'colour bar line: mask threshold {threshold:.3g}')]
    figure.legend(handles=legend_handles(threshold) + marker, loc='outside lower center',
                  ncol=3, fontsize='small', frameon=False)
    FigureCanvasAgg(figure)
    figure.savefig(Path(path), dpi=100)
