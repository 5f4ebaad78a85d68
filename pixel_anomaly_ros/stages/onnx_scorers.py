# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Post-hoc anomaly scorers on a user's logits, written as ONNX nodes (no torch).

Each function adds nodes to a :class:`~.onnx_builder.GraphBuilder` and returns the name of a
(1, 1, H, W) map; higher always means more anomalous. The formulas are those of
:mod:`pixel_anomaly_ros.scoring` (same reductions, same order of operations):

* energy ``-logsumexp(logits)`` (PEBAL, temperature 1), optionally smoothed with PEBAL's 7x7
  Gaussian (sigma 1, reflect padding);
* max logit ``-max_c l_c``; max softmax ``1 - max_c p_c``; entropy ``H(p) / ln C``;
* standardised max logit (SML, Jung et al., ICCV 2021, Eq. 1): for the predicted class
  ``c = argmax l``, ``-(max l - mu_c) / sigma_c`` with the class statistics measured by
  ``calibrate``; optionally followed by SML's iterative boundary suppression and dilated
  smoothing (Sec. 3.3, 3.4), reproduced from the official code
  (shjung13/Standardized-max-logits ``network/deepv3.py``; constants below);
* SynBoost's uncertainty maps (normalised entropy and softmax distance) for a SynBoost bundle
  around the user's model.

The SML post-processing is applied to the standardised score (inliers high) in the paper; all of
its steps are averages and selections, so applying them to the negated score gives exactly the
negated result.
"""

import math
from typing import Dict, List, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.stages.onnx_builder import FLOAT, GraphBuilder, UINT8

#: SML boundary width and number of suppression iterations (official ``eval.py`` defaults
#: ``--boundary_width 4 --boundary_iteration 4``; the paper's Sec. 4.1 uses the same).
SML_BOUNDARY_WIDTH = 4
SML_BOUNDARY_ITERATIONS = 4
#: SML dilated smoothing: 7x7 Gaussian with sigma 1, dilation 6 (``eval.py``
#: ``--smoothing_kernel_size 7 --smoothing_kernel_dilation 6``; sigma in
#: ``BoundarySuppressionWithSmoothing.__init__``), replicate padding ``dilation * 3``.
SML_SMOOTHING_SIZE = 7
SML_SMOOTHING_DILATION = 6
SML_SMOOTHING_SIGMA = 1.0
#: PEBAL's smoothing of the energy: 7x7 Gaussian, sigma 1 (torchvision ``GaussianBlur``).
BLUR_SIZE = 7
BLUR_SIGMA = 1.0


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """
    Return the 1-D factor of the normalised 2-D Gaussian of ``scoring.gaussian_kernel``.

    The 2-D kernel (torchvision's, and SML's ``np.fromfunction`` one) is its outer product.

    :param size: odd kernel size.
    :param sigma: standard deviation in pixels.
    :return: (size,) float32 taps summing to 1.
    """
    half = (size - 1) / 2
    x = np.linspace(-half, half, size, dtype=np.float32)
    g = np.exp(-0.5 * (x / np.float32(sigma)) ** 2)
    return (g / g.sum()).astype(np.float32)


class SoftmaxTerms:
    """The channel reductions every softmax quantity is built from, added once on demand."""

    def __init__(self, g: GraphBuilder, logits: str, num_classes: int):
        """
        Start from the (1, C, H, W) float32 logits.

        :param g: the builder.
        :param logits: logits name.
        :param num_classes: C.
        """
        self.g, self.logits, self.num_classes = g, logits, num_classes
        self._cache: Dict[str, str] = {}

    def _get(self, key: str, make) -> str:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def top(self) -> str:
        """Largest logit (1, 1, H, W)."""
        return self._get('max', lambda: self.g.reduce('ReduceMax', self.logits, [1],
                                                      'max_logit'))

    @property
    def shifted(self) -> str:
        """``logits - max``."""
        return self._get('shifted', lambda: self.g.op('Sub', [self.logits, self.top],
                                                      'shifted'))

    @property
    def exp(self) -> str:
        """Exponential of the shifted logits."""
        return self._get('exp', lambda: self.g.op('Exp', [self.shifted], 'exp'))

    @property
    def total(self) -> str:
        """``S = sum_c exp(l_c - max)`` (1, 1, H, W)."""
        return self._get('total', lambda: self.g.reduce('ReduceSum', self.exp, [1], 'total'))

    @property
    def winner(self) -> str:
        """Arg-max class (1, 1, H, W) int64 (first one on ties, as torch and numpy)."""
        return self._get('winner', lambda: self.g.op('ArgMax', [self.logits], 'winner',
                                                     axis=1, keepdims=1))

    @property
    def entropy(self) -> str:
        """Softmax entropy in nats: ``log S - sum(e * z) / S``."""
        def make():
            g = self.g
            weighted = g.reduce('ReduceSum', g.op('Mul', [self.exp, self.shifted]), [1])
            return g.op('Sub', [g.op('Log', [self.total]), g.op('Div', [weighted, self.total])],
                        'entropy')
        return self._get('entropy', make)


def max_logit(t: SoftmaxTerms) -> str:
    """Max-logit score ``-max_c l_c``."""
    return t.g.op('Neg', [t.top], 'max_logit_score')


def energy(t: SoftmaxTerms) -> str:
    """Free energy ``-logsumexp_c l_c = -(max + log S)``."""
    g = t.g
    return g.op('Neg', [g.op('Add', [t.top, g.op('Log', [t.total])])], 'energy')


def max_softmax(t: SoftmaxTerms) -> str:
    """Maximum-softmax score ``1 - max_c p_c = 1 - 1 / S``."""
    g = t.g
    one = g.const(1.0)
    return g.op('Sub', [one, g.op('Div', [one, t.total])], 'max_softmax')


def normalised_entropy(t: SoftmaxTerms) -> str:
    """Entropy divided by ``ln C``, in [0, 1]."""
    return t.g.op('Div', [t.entropy, t.g.const(math.log(t.num_classes))], 'entropy_score')


def standardised_max_logit(t: SoftmaxTerms, means: Sequence[float], stds: Sequence[float]
                           ) -> str:
    """
    SML score ``-(max l - mu_c) / sigma_c`` of the predicted class ``c``.

    :param t: the softmax terms.
    :param means: per-class mean of the max logit.
    :param stds: per-class standard deviation of the max logit.
    :return: the score name.
    """
    g = t.g
    mean = g.op('Gather', [g.const(means, hint='sml_mean'), t.winner], 'class_mean', axis=0)
    std = g.op('Gather', [g.const(stds, hint='sml_std'), t.winner], 'class_std', axis=0)
    standard = g.op('Div', [g.op('Sub', [t.top, mean]), std], 'sml')
    return g.op('Neg', [standard], 'sml_score')


def _cross_max(g: GraphBuilder, x: str, size: Tuple[int, int]) -> str:
    """Maximum over the 4-neighbourhood and the pixel (zero outside the image)."""
    h, w = size
    padded = g.pad(x, 1, 'constant', 0.0)
    windows = [g.spatial_slice(padded, top, left, h, w)
               for top, left in ((1, 1), (0, 1), (2, 1), (1, 0), (1, 2))]
    return g.op('Max', windows, 'cross_max')


def _box_sum(g: GraphBuilder, x: str, size: Tuple[int, int]) -> str:
    """3x3 sum with replicate padding (the official ``first_conv``)."""
    return g.separable_filter(g.pad(x, 1, 'edge'), [1.0, 1.0, 1.0], size)


def boundary_suppression(g: GraphBuilder, score: str, winner: str, size: Tuple[int, int],
                         width: int = SML_BOUNDARY_WIDTH,
                         iterations: int = SML_BOUNDARY_ITERATIONS) -> str:
    """
    Suppress a score map at class boundaries, SML's way (official ``network/deepv3.py``).

    Boundaries are where the prediction's dilation by the 3x3 cross differs from its erosion by
    the 3x3 square (kornia at the pinned commit: dilation pads with 0, erosion with 1, so the
    image border counts as a boundary for classes above 1). In iteration ``i`` the boundary is
    widened by the L1 ball of radius ``width - i * width / iterations - 1`` (0 in the last),
    and every pixel on it takes the mean of its 3x3 non-boundary neighbours (replicate
    padding), or keeps its value when it has none.

    :param g: the builder.
    :param score: (1, 1, H, W) score.
    :param winner: (1, 1, H, W) int64 predicted class.
    :param size: (H, W).
    :param width: boundary width.
    :param iterations: number of iterations (``width`` must be a multiple of it).
    :return: the suppressed score.
    """
    labels = g.op('Cast', [winner], 'labels', to=FLOAT)
    dilated = _cross_max(g, labels, size)
    padded = g.pad(labels, 1, 'constant', 1.0)
    shrunk = g.op('MaxPool', [g.op('Neg', [padded])], kernel_shape=[3, 3], strides=[1, 1])
    eroded = g.op('Neg', [shrunk], 'eroded')
    boundary = g.op('Cast', [g.op('Not', [g.op('Equal', [dilated, eroded])])], 'boundary',
                    to=FLOAT)
    expanded: List[str] = [boundary]  # expanded[r]: dilated by the L1 ball of radius r
    for _ in range(max(0, width - 1)):
        expanded.append(_cross_max(g, expanded[-1], size))
    step = width // iterations
    out = score
    one, zero = g.const(1.0), g.const(0.0)
    for iteration in range(iterations):
        radius = 0 if iteration == iterations - 1 else width - step * iteration - 1
        keep = g.op('Sub', [one, expanded[radius]], 'non_boundary')
        total = _box_sum(g, g.op('Mul', [out, keep]), size)
        count = _box_sum(g, keep, size)
        mean = g.op('Div', [total, g.op('Max', [count, one])])
        averaged = g.op('Where', [g.op('Equal', [count, zero]), out, mean])
        out = g.op('Where', [g.op('Equal', [keep, zero]), averaged, out], 'suppressed')
    return out


def dilated_smoothing(g: GraphBuilder, score: str, size: Tuple[int, int],
                      kernel: int = SML_SMOOTHING_SIZE, dilation: int = SML_SMOOTHING_DILATION,
                      sigma: float = SML_SMOOTHING_SIGMA) -> str:
    """
    Smooth as SML does: replicate padding ``dilation * (kernel // 2)``, dilated Gaussian.

    :param g: the builder.
    :param score: (1, 1, H, W) score.
    :param size: (H, W).
    :param kernel: kernel size.
    :param dilation: kernel dilation.
    :param sigma: Gaussian sigma.
    :return: the smoothed score.
    """
    padded = g.pad(score, dilation * (kernel // 2), 'edge')
    return g.separable_filter(padded, gaussian_taps(kernel, sigma), size, dilation,
                              'dilated_smoothing')


def gaussian_blur(g: GraphBuilder, score: str, size: Tuple[int, int]) -> str:
    """
    Blur with PEBAL's 7x7 Gaussian (sigma 1, reflect padding), as ``scoring.gaussian_blur``.

    :param g: the builder.
    :param score: (1, 1, H, W) score.
    :param size: (H, W).
    :return: the blurred score.
    """
    padded = g.pad(score, BLUR_SIZE // 2, 'reflect')
    return g.separable_filter(padded, gaussian_taps(BLUR_SIZE, BLUR_SIGMA), size,
                              hint='blurred')


def posthoc_score(t: SoftmaxTerms, scorer: str, size: Tuple[int, int],
                  sml: Tuple[Sequence[float], Sequence[float]] = None, blur: bool = False,
                  suppress_boundaries: bool = False, smooth: bool = False) -> str:
    """
    Add one scorer and its post-processing.

    :param t: the softmax terms of the logits.
    :param scorer: one of :data:`pixel_anomaly_ros.external_segmentation.SCORERS`.
    :param size: (H, W) of the logits.
    :param sml: (means, stds) of the SML scorer.
    :param blur: PEBAL's Gaussian blur, last.
    :param suppress_boundaries: SML's boundary suppression, first.
    :param smooth: SML's dilated smoothing, after the boundary suppression.
    :return: the score name.
    """
    if scorer == 'sml':
        score = standardised_max_logit(t, *sml)
    else:
        score = {'energy': energy, 'max_logit': max_logit, 'entropy': normalised_entropy,
                 'max_softmax': max_softmax}[scorer](t)
    if suppress_boundaries:
        score = boundary_suppression(t.g, score, t.winner, size)
    if smooth:
        score = dilated_smoothing(t.g, score, size)
    if blur:
        score = gaussian_blur(t.g, score, size)
    return score


def train_ids(t: SoftmaxTerms) -> str:
    """Arg-max class as uint8 (the ``train_ids`` output)."""
    return t.g.op('Cast', [t.winner], 'train_ids_uint8', to=UINT8)


def _normalise_like_synboost(g: GraphBuilder, x: str) -> str:
    """Return ``(x - min) / max(max, 1e-12)`` over the image (``normalise_like_synboost``)."""
    low = g.reduce('ReduceMin', x, [1, 2, 3])
    high = g.op('Max', [g.reduce('ReduceMax', x, [1, 2, 3]), g.const(1e-12)])
    return g.op('Div', [g.op('Sub', [x, low]), high])


def uncertainty_maps(t: SoftmaxTerms) -> Tuple[str, str]:
    """
    Compute SynBoost's entropy and softmax-distance maps, as :func:`scoring.uncertainty_maps`.

    :param t: the softmax terms of the logits.
    :return: (entropy, distance), each (1, 1, H, W) in [0, 1].
    """
    g = t.g
    channels = g.const(np.arange(t.num_classes).reshape(1, -1, 1, 1), np.int64, 'channels')
    runner_up = g.op('Where', [g.op('Equal', [channels, t.winner]), g.const(-np.inf),
                               t.shifted], 'runner_up')
    second = g.op('Exp', [g.reduce('ReduceMax', runner_up, [1])])
    margin = g.op('Div', [g.op('Sub', [g.const(1.0), second]), t.total], 'margin')
    entropy = _normalise_like_synboost(g, t.entropy)
    distance = g.op('Sub', [g.const(1.0), _normalise_like_synboost(g, margin)])
    return entropy, distance


def baseline_scores(t: SoftmaxTerms) -> List[str]:
    """Max softmax, max logit, entropy / ln C and energy, in ``BASELINE_OUTPUTS`` order."""
    return [max_softmax(t), max_logit(t), normalised_entropy(t), energy(t)]
