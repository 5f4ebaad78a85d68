# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy re-computations of the post-hoc scorers, written from the papers and official code.

Independent of the ONNX graphs they check: float64, scipy's morphology filters, the diamond
structuring elements built directly (the graph dilates with the cross repeatedly), and the
convolutions as explicit sums of shifted images.
"""

import math

import numpy as np
from scipy import ndimage


def resize_bilinear(logits: np.ndarray, size, align_corners: bool) -> np.ndarray:
    """
    Resize (C, h, w) maps bilinearly to ``size`` (PyTorch ``interpolate`` conventions).

    :param logits: (C, h, w) array.
    :param size: (H, W).
    :param align_corners: corner pixels aligned (True) or half-pixel centres (False).
    :return: (C, H, W) float64.
    """
    def coordinates(out, inp):
        index = np.arange(out, dtype=np.float64)
        if align_corners:
            return index * ((inp - 1) / (out - 1)) if out > 1 else np.zeros(out)
        return np.clip((index + 0.5) * (inp / out) - 0.5, 0, inp - 1)
    x = logits.astype(np.float64)
    for axis, (out, inp) in zip((1, 2), zip(size, x.shape[1:])):
        position = coordinates(out, inp)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, inp - 1)
        weight = (position - low).reshape([-1 if a == axis else 1 for a in range(3)])
        x = np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight
    return x


def softmax_terms(logits: np.ndarray):
    """Return max, shifted logits, exp and their sum over classes of (C, H, W) logits."""
    top = logits.max(axis=0)
    shifted = logits - top
    exp = np.exp(shifted)
    return top, shifted, exp, exp.sum(axis=0)


def gaussian(size: int, sigma: float) -> np.ndarray:
    """Return SML's ``np.fromfunction`` Gaussian (torchvision's too), normalised, (k, k)."""
    centre = (size - 1) / 2
    kernel = np.fromfunction(lambda y, x: np.exp(-((x - centre) ** 2 + (y - centre) ** 2)
                                                 / (2 * sigma ** 2)), (size, size))
    return kernel / kernel.sum()


def convolve(score: np.ndarray, kernel: np.ndarray, dilation: int, pad_mode: str) -> np.ndarray:
    """Correlate an (H, W) map with a (k, k) kernel, padding ``dilation * (k // 2)``."""
    size = kernel.shape[0]
    pad = dilation * (size // 2)
    padded = np.pad(score, pad, mode=pad_mode)
    h, w = score.shape
    out = np.zeros((h, w))
    for dy in range(size):
        for dx in range(size):
            out += kernel[dy, dx] * padded[dy * dilation:dy * dilation + h,
                                           dx * dilation:dx * dilation + w]
    return out


def boundary_suppression(score: np.ndarray, prediction: np.ndarray, width: int = 4,
                         iterations: int = 4) -> np.ndarray:
    """Suppress boundaries as SML does (shjung13/Standardized-max-logits deepv3.py)."""
    labels = prediction.astype(np.float64)
    cross = ndimage.generate_binary_structure(2, 1)
    dilated = ndimage.maximum_filter(labels, footprint=cross, mode='constant', cval=0.0)
    eroded = ndimage.minimum_filter(labels, size=3, mode='constant', cval=1.0)
    boundaries = (dilated != eroded).astype(np.float64)
    step = width // iterations
    out = score.astype(np.float64)
    for iteration in range(iterations):
        radius = 0 if iteration == iterations - 1 else width - step * iteration - 1
        expanded = boundaries
        if radius:
            diamond = ndimage.iterate_structure(cross, radius)
            expanded = ndimage.maximum_filter(boundaries, footprint=diamond, mode='constant',
                                              cval=0.0)
        keep = (expanded == 0).astype(np.float64)
        ones = np.ones((3, 3))
        total = convolve(out * keep, ones, 1, 'edge')
        count = convolve(keep, ones, 1, 'edge')
        with np.errstate(divide='ignore', invalid='ignore'):
            averaged = np.where(count == 0, out, total / count)
        out = np.where(keep == 0, averaged, out)
    return out


def posthoc_score(logits: np.ndarray, scorer: str, means=None, stds=None, blur=False,
                  suppress=False, smooth=False) -> np.ndarray:
    """
    Score (C, H, W) logits; higher = more anomalous.

    :param logits: logits at input resolution.
    :param scorer: energy, max_logit, entropy, max_softmax or sml.
    :param means: SML class means.
    :param stds: SML class standard deviations.
    :param blur: PEBAL's 7x7 Gaussian (sigma 1, reflect padding).
    :param suppress: SML boundary suppression.
    :param smooth: SML dilated smoothing (7x7, sigma 1, dilation 6, replicate padding).
    :return: (H, W) float64 score.
    """
    logits = logits.astype(np.float64)
    top, shifted, exp, total = softmax_terms(logits)
    prediction = logits.argmax(axis=0)
    if scorer == 'energy':
        score = -(top + np.log(total))
    elif scorer == 'max_logit':
        score = -top
    elif scorer == 'max_softmax':
        score = 1 - 1 / total
    elif scorer == 'entropy':
        p = exp / total
        score = -(p * np.log(np.maximum(p, 1e-300))).sum(axis=0) / math.log(logits.shape[0])
    else:
        score = -(top - np.asarray(means)[prediction]) / np.asarray(stds)[prediction]
    if suppress:
        score = boundary_suppression(score, prediction)
    if smooth:
        score = convolve(score, gaussian(7, 1.0), 6, 'edge')
    if blur:
        score = convolve(score, gaussian(7, 1.0), 1, 'reflect')
    return score


def uncertainty_maps(logits: np.ndarray):
    """Return SynBoost's entropy and softmax distance of (C, H, W) logits (official code)."""
    logits = logits.astype(np.float64)
    p = np.exp(logits - logits.max(axis=0))
    p /= p.sum(axis=0)
    entropy = -(p * np.log(np.maximum(p, 1e-300))).sum(axis=0)
    top2 = np.sort(p, axis=0)[-2:]
    margin = top2[1] - top2[0]

    def normalise(x):
        return (x - x.min()) / x.max()
    return normalise(entropy), 1 - normalise(margin)
