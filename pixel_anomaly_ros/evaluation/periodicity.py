# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Periodic artefacts of a score map: the peak of its 2-D spectrum against the spectrum's median.

A network that up- or down-samples on a fixed grid can stamp a regular lattice on every output
(issue 15: a dot pattern of period 8 px in ``demo_light``'s score). Averaged over many frames
the scene content blurs out and the lattice stays, so the measurement reads the **mean** map:

1. average the maps, subtract their mean and multiply by a 2-D Hann window (no edge leakage);
2. take its 2-D power spectrum and sum it over :data:`LOBE` x :data:`LOBE` bins (the Hann
   window's main lobe: a periodic component lands there whole, while the noise of single bins
   averages out);
3. for every frequency whose period ``1 / |f|`` lies in ``[min_period, max_period]`` pixels,
   take the square root of that sum over the median sum of its spectral neighbourhood (bins
   at most :data:`NEIGHBOURHOOD` away, without the :data:`CORE` bins either side that the peak
   itself spreads to), a magnitude ratio, and report the largest.

A lattice is a spike: a few bins far above their neighbours (ratio ≫ 3). Scene content has a
smooth spectrum, falling with frequency, so it stays near its neighbourhood's median even where
it is strong, and so does noise (white noise: 1.7-1.9 on a 256x512 map). A median over the
whole spectrum or the whole band would flag that fall-off instead: the mean score of street
scenes exceeds the band's median 10-300x at 32 px without any lattice. Issue 15's acceptance:
ratio below :data:`MAX_RATIO` at 4-32 px.
"""

from typing import Iterable, NamedTuple, Optional, Union

import numpy as np
from scipy import ndimage

#: Issue 15's acceptance bound on :attr:`Periodicity.ratio`.
MAX_RATIO = 3.0
#: Half-width in bins of the neighbourhood a spectral bin is compared with.
NEIGHBOURHOOD = 10
#: Half-width in bins of the excluded centre (a peak's main lobe, widened by the LOBE sum).
CORE = 4
#: Side in bins of the box over which the power is summed (covers the Hann main lobe).
LOBE = 5


class Periodicity(NamedTuple):
    """The strongest periodic component of a (mean) map in a band of periods."""

    #: Peak magnitude (5x5 bins) over the median magnitude of its spectral neighbourhood.
    ratio: float
    #: Period of the peak in pixels, ``1 / |f|``.
    period: float
    #: Frequency of the peak in cycles per pixel (vertical, horizontal).
    frequency: tuple
    #: Amplitude of that component in the map's units (at most: the scene's own power in the
    #: peak's lobe counts too); tells a visible lattice from a spike in an empty spectrum.
    amplitude: float = float('nan')

    def as_dict(self) -> dict:
        """Plain values for JSON reports."""
        return {'ratio': float(self.ratio), 'period': float(self.period),
                'frequency': [float(f) for f in self.frequency],
                'amplitude': float(self.amplitude)}


def mean_map(maps: Union[np.ndarray, Iterable[np.ndarray]]) -> np.ndarray:
    """
    Average score maps of one size.

    :param maps: (N, H, W) array or an iterable of (H, W) arrays.
    :return: (H, W) float64 mean.
    :raises ValueError: if there is no map or the sizes differ.
    """
    running = MeanMap()
    for m in (maps if not isinstance(maps, np.ndarray) or maps.ndim == 3 else [maps]):
        running.add(m)
    return running.mean()


class MeanMap:
    """Running mean of score maps of one size, fed frame by frame (no map is kept)."""

    def __init__(self):
        """Start with no map."""
        self.total: Optional[np.ndarray] = None
        self.count = 0

    def add(self, score_map: np.ndarray) -> None:
        """
        Add one map.

        :param score_map: (H, W) map.
        :raises ValueError: if its size differs from the first map's.
        """
        m = np.asarray(score_map, dtype=np.float64)
        if self.total is None:
            self.total = np.zeros_like(m)
        elif m.shape != self.total.shape:
            raise ValueError(f'score maps differ in size: {m.shape} vs {self.total.shape}')
        self.total += m
        self.count += 1

    def periodicity(self, min_period: float = 4.0, max_period: float = 32.0) -> Periodicity:
        """
        Measure the mean map with :func:`spectrum_periodicity`.

        :param min_period: shortest period of the band in pixels.
        :param max_period: longest period of the band in pixels.
        :return: the strongest periodic component.
        :raises ValueError: if no map was added.
        """
        return spectrum_periodicity(self.mean(), min_period, max_period)

    def mean(self) -> np.ndarray:
        """
        Return the mean of the maps added so far.

        :return: (H, W) float64 mean.
        :raises ValueError: if no map was added.
        """
        if self.total is None:
            raise ValueError('no score map to average')
        return self.total / self.count


def _radial_median(power: np.ndarray, radius: np.ndarray, rings: float) -> np.ndarray:
    """Return each bin's ring median (rings 1 bin wide), so the spectrum's fall-off divides out."""
    ring = np.round(radius * rings).astype(np.int64)
    order = np.argsort(ring, axis=None)
    flat_ring, flat_power = ring.ravel()[order], power.ravel()[order]
    starts = np.flatnonzero(np.r_[True, np.diff(flat_ring) > 0])
    medians = np.array([np.median(part) for part in np.split(flat_power, starts[1:])])
    profile = np.zeros(int(flat_ring[-1]) + 1)
    profile[flat_ring[starts]] = medians
    floor = max(float(power.max()) * 1e-24, 1e-300)
    return np.maximum(profile[ring], floor)


def _line_footprints() -> list:
    """Return the four line neighbourhoods (rows, columns, diagonals) without the core."""
    size = 2 * NEIGHBOURHOOD + 1
    keep = np.abs(np.arange(size) - NEIGHBOURHOOD) > CORE
    row = np.zeros((size, size), dtype=bool)
    row[NEIGHBOURHOOD] = keep
    diagonal = np.diag(keep)
    return [row, row.T, diagonal, diagonal[::-1]]


def spectrum_periodicity(score_map: np.ndarray, min_period: float = 4.0,
                         max_period: float = 32.0, scale: float = 1.0) -> Periodicity:
    """
    Measure the strongest periodic component of one (mean) map.

    :param score_map: (H, W) map, e.g. :func:`mean_map` of a validation set's scores; NaNs
        count as the map's mean.
    :param min_period: shortest period of the band in pixels (≥ 2, the Nyquist period).
    :param max_period: longest period of the band in pixels.
    :param scale: pixels per map pixel (2 for a score map at half the input size): periods
        and frequencies are read and reported in those pixels.
    :return: the peak's ratio, period, frequency and amplitude.
    :raises ValueError: if the map is not 2-D or the band holds no frequency of this map.
    """
    m = np.asarray(score_map, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f'expected an (H, W) map, got shape {m.shape}')
    finite = np.isfinite(m)
    m = np.where(finite, m, m[finite].mean() if finite.any() else 0.0)
    h, w = m.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.fft.fftshift(np.abs(np.fft.fft2((m - m.mean()) * window)) ** 2)
    # a running-sum filter: round-off leaves tiny negatives where the power is near zero
    lobe = np.maximum(ndimage.uniform_filter(power, size=LOBE, mode='wrap'), 0.0)
    fy = np.fft.fftshift(np.fft.fftfreq(h, d=scale))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w, d=scale))[None, :]
    radius = np.hypot(fy, fx)
    period = 1.0 / np.maximum(radius, 1e-12)
    band = (radius > 0) & (period >= min_period) & (period <= max_period)
    if not band.any():
        raise ValueError(f'no frequency of a {h}x{w} map has a period in '
                         f'[{min_period}, {max_period}] px')
    power_in_lobe = lobe * (LOBE * LOBE)
    lobe = lobe / _radial_median(lobe, radius, max(h, w) * scale)
    local = np.max([ndimage.median_filter(lobe, footprint=f, mode='wrap')
                    for f in _line_footprints()], axis=0)
    floor = max(float(lobe.max()) * 1e-24, 1e-300)
    ratios = np.where(band, np.sqrt(lobe / np.maximum(local, floor)), -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
    # The highest ratio can sit beside the lobe's centre, where the neighbourhood is lower. A
    # sinusoid of amplitude A puts N * (A / 2) ** 2 * sum(window ** 2) into each of its two
    # lobes (Parseval); the LOBE x LOBE box holds nearly all of the Hann main lobe.
    near = np.ix_(np.arange(iy - CORE, iy + CORE + 1) % h, np.arange(ix - CORE, ix + CORE + 1) % w)
    amplitude = 2.0 * np.sqrt(power_in_lobe[near].max() / (h * w * np.sum(window ** 2)))
    return Periodicity(float(ratios[iy, ix]), float(period[iy, ix]),
                       (float(abs(fy[iy, 0])), float(abs(fx[0, ix]))), float(amplitude))
