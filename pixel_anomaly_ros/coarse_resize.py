# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How a score map taken on a network's coarse logits reaches the full size (``coarse_resize``).

ICNet's logits come from a 1/8 grid (``coarse_scores``). Two things of that grid reach a score
that is resized bilinearly, and both show in the mean score map of many frames (issue 15):

* the bilinear kernel (a triangle 16 pixels wide) passes part of the map's large, smooth
  structure (horizon, road) on as images near the 8-pixel grid frequency, a faint ripple of
  period 8;
* ICNet's 1/16 branch is resized into the 1/8 grid inside the network (its 33 columns become 64
  at a 512-pixel width), which leaves a pattern of about two coarse cells (15.5 pixels) in the
  coarse map itself, at the coarse grid's Nyquist frequency.

``smooth`` removes both with fixed linear filters: a [1 2 1] / 4 filter on the coarse grid (a
zero at its Nyquist frequency), then a cubic B-spline up-sampling: the bilinear resize followed
by a triangle ``2k - 1`` pixels wide along each axis, ``k`` the up-sampling factor (two running
means of ``k``: triangle * box * box = the cubic B-spline, whose spectrum has fourth-order zeros
at the grid frequency and its multiples). For integer factors with half-pixel centres (ICNet's)
the same values come from one transposed convolution of stride ``k`` per axis, which never
filters the full-size map. Every step keeps a constant map constant, borders replicate, and
each is a plain pad, convolution or resize, so the graphs export to ONNX and TensorRT as they
are. ``bilinear`` is the resize as before.
"""

from functools import lru_cache
from typing import Callable, Dict, Tuple

import numpy as np
import torch
from torch.nn import functional as F


@lru_cache(maxsize=16)
def _triangle(length: int) -> Tuple[float, ...]:
    """
    Return the normalised triangle of ``2 * length - 1`` taps (two running means of ``length``).

    :param length: running-mean length (1: the one-tap identity).
    :return: 2 * length - 1 taps summing to 1 (computed once per length).
    """
    rise = np.arange(1, length + 1, dtype=np.float64)
    taps = np.concatenate([rise, rise[-2::-1]])
    return tuple(taps / taps.sum())


def _convolve_axis(x: torch.Tensor, taps: Tuple[float, ...], dim: int, before: int,
                   transposed_stride: int = 0) -> torch.Tensor:
    """
    Run a 1-D kernel along one axis of every map, borders replicated.

    :param x: (B, C, H, W) maps.
    :param taps: the kernel's K taps.
    :param dim: 2 for columns (vertical), 3 for rows (horizontal).
    :param before: replicated pixels added before (and as many after) the axis.
    :param transposed_stride: 0 for a convolution; else the stride of a transposed one.
    :return: (B, C, ...) maps, the other axis unchanged.
    """
    b, c, h, w = x.shape
    kernel = torch.tensor(taps, dtype=x.dtype, device=x.device)
    weight = kernel.view(1, 1, -1, 1) if dim == 2 else kernel.view(1, 1, 1, -1)
    pad = (0, 0, before, before) if dim == 2 else (before, before, 0, 0)
    x = F.pad(x.reshape(b * c, 1, h, w), pad, mode='replicate')
    if transposed_stride:
        stride = (transposed_stride, 1) if dim == 2 else (1, transposed_stride)
        x = F.conv_transpose2d(x, weight, stride=stride)
    else:
        x = F.conv2d(x, weight)
    return x.reshape(b, c, *x.shape[-2:])


def _filter_axis(x: torch.Tensor, taps: Tuple[float, ...], dim: int) -> torch.Tensor:
    """
    Convolve every map along one axis with a symmetric kernel, with replicate borders.

    :param x: (B, C, H, W) maps.
    :param taps: the kernel's K taps, K odd.
    :param dim: 2 for columns (vertical), 3 for rows (horizontal).
    :return: the filtered maps, same size.
    """
    return x if len(taps) == 1 else _convolve_axis(x, taps, dim, len(taps) // 2)


def resize_bilinear(maps: torch.Tensor, size: Tuple[int, int],
                    align_corners: bool) -> torch.Tensor:
    """
    Resize coarse maps bilinearly.

    :param maps: (B, C, h, w) maps.
    :param size: output (H, W).
    :param align_corners: the network's resize convention.
    :return: (B, C, H, W) maps.
    """
    return F.interpolate(maps, size=tuple(size), mode='bilinear', align_corners=align_corners)


@lru_cache(maxsize=16)
def _spline_taps(factor: int) -> Tuple[float, ...]:
    """
    Return the response of :func:`_spline_resize` to one coarse cell, along one axis.

    :param factor: integer up-sampling factor ``k``.
    :return: 5k taps for the full-size offsets -2k .. 3k - 1 from the cell's first pixel
        (computed once per factor).
    """
    triangle = _triangle(factor)
    # bilinear with half-pixel centres: the cell's weight falls linearly from its centre;
    # computed over the triangle's reach beyond the 5k offsets, then the triangle applied
    offset = np.arange(-3 * factor + 1, 4 * factor - 1, dtype=np.float64)
    bilinear = np.clip(1.0 - np.abs(offset - (factor - 1) / 2.0) / factor, 0.0, None)
    return tuple(np.convolve(bilinear, triangle, mode='valid'))


def _upsample_axis(maps: torch.Tensor, factor: int, dim: int) -> torch.Tensor:
    """
    Up-sample along one axis by an integer factor (half-pixel centres) as :func:`_spline_resize`.

    A transposed convolution of stride ``factor`` with :func:`_spline_taps`: each output pixel
    adds up five coarse cells instead of filtering the full-size map.

    :param maps: (B, C, h, w) maps.
    :param factor: up-sampling factor.
    :param dim: 2 for columns (vertical), 3 for rows (horizontal).
    :return: the maps, ``factor`` times longer along ``dim``.
    """
    margin = 2  # coarse cells each side: the taps reach two cells back and three on
    full = _convolve_axis(maps, _spline_taps(factor), dim, margin, transposed_stride=factor)
    return full.narrow(dim, (2 + margin) * factor, maps.shape[dim] * factor)


def _spline_resize(maps: torch.Tensor, size: Tuple[int, int],
                   align_corners: bool) -> torch.Tensor:
    """Up-sample with a cubic B-spline at any sizes: bilinear, then a triangle along each axis."""
    h, w = maps.shape[-2:]
    maps = resize_bilinear(maps, size, align_corners)
    maps = _filter_axis(maps, _triangle(max(size[0] // h, 1)), 2)
    return _filter_axis(maps, _triangle(max(size[1] // w, 1)), 3)


def resize_smooth(maps: torch.Tensor, size: Tuple[int, int],
                  align_corners: bool) -> torch.Tensor:
    """
    Filter coarse maps with [1 2 1] / 4, then up-sample them with a cubic B-spline.

    :param maps: (B, C, h, w) maps.
    :param size: output (H, W), at least (h, w); the B-spline's width follows ``H // h`` and
        ``W // w`` (8 for ICNet).
    :param align_corners: the network's resize convention (for the bilinear step).
    :return: (B, C, H, W) maps.
    """
    h, w = maps.shape[-2:]
    binomial = _triangle(2)
    maps = _filter_axis(_filter_axis(maps, binomial, 2), binomial, 3)
    if align_corners or size[0] % h or size[1] % w:
        return _spline_resize(maps, size, align_corners)
    # integer factors with half-pixel centres (ICNet's): the same values, several times faster
    return _upsample_axis(_upsample_axis(maps, size[0] // h, 2), size[1] // w, 3)


#: ``bundle.yaml`` ``coarse_resize`` -> ``resize(maps, size, align_corners)``.
COARSE_RESIZES: Dict[str, Callable[..., torch.Tensor]] = {
    'bilinear': resize_bilinear,
    'smooth': resize_smooth,
}
