# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the periodic-artefact measurement of score maps (issue 15)."""

import numpy as np
from pixel_anomaly_ros.evaluation.periodicity import (MAX_RATIO, mean_map, MeanMap,
                                                      spectrum_periodicity)
import pytest


def _street_like(rng: np.random.Generator, size=(256, 512)) -> np.ndarray:
    """
    Return one smooth frame: a horizon, a road trapezoid, blobs and noise.

    Scores of networks are smooth, and horizon and road move from frame to frame.
    """
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    horizon, centre = h * rng.uniform(0.4, 0.5), w * rng.uniform(0.4, 0.6)
    m = 0.1 + 0.2 / (1 + np.exp(-(y - horizon) / 3))
    m += 0.3 / (1 + np.exp(-((y - horizon) * rng.uniform(0.7, 1.2) - np.abs(x - centre)) / 3))
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 20)
        m += 0.4 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
    return m + rng.normal(0, 0.02, size)


def _frames(lattice: float, count: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = [_street_like(rng) for _ in range(count)]
    if lattice:
        h, w = frames[0].shape
        y, x = np.mgrid[0:h, 0:w]
        dots = np.isin(y % 8, (2, 3)) & np.isin(x % 8, (2, 3))
        frames = [f + lattice * dots for f in frames]
    return frames


def test_street_like_maps_have_no_peak():
    result = spectrum_periodicity(mean_map(_frames(0.0)))
    assert result.ratio < MAX_RATIO
    assert 4.0 <= result.period <= 32.0


def test_white_noise_stays_below_the_bound():
    rng = np.random.default_rng(3)
    for _ in range(3):
        assert spectrum_periodicity(rng.normal(size=(256, 512))).ratio < MAX_RATIO


@pytest.mark.parametrize('amplitude', [0.02, 0.05])
def test_a_planted_dot_lattice_is_found(amplitude):
    # the pattern: brighter pixels where (y mod 8, x mod 8) in {2, 3}
    result = spectrum_periodicity(mean_map(_frames(amplitude)))
    assert result.ratio > MAX_RATIO
    # its spectrum has lines at multiples of 1/8 cycle per pixel along both axes
    fy, fx = result.frequency
    assert abs(fy * 8 - round(fy * 8)) < 0.05 and abs(fx * 8 - round(fx * 8)) < 0.05


@pytest.mark.parametrize('amplitude,frequency', [(0.01, (0.125, 0.0)), (0.05, (0.13, 0.02)),
                                                 (0.002, (0.0625, 0.0625)), (1e-4, (0.25, 0.0))])
def test_the_amplitude_of_a_planted_wave_is_measured(amplitude, frequency):
    # a wave on and off the FFT grid, over a smooth scene, in the map's units; the last one
    # stands far above its empty neighbourhood, yet is a fortieth of an 8-bit colour step
    y, x = np.mgrid[0:256, 0:512]
    scene = 0.5 * np.exp(-((y - 128) ** 2 + (x - 256) ** 2) / 5000.0)
    wave = amplitude * np.cos(2 * np.pi * (frequency[0] * y + frequency[1] * x) + 0.7)
    result = spectrum_periodicity(scene + wave)
    assert result.ratio > MAX_RATIO
    assert result.amplitude == pytest.approx(amplitude, rel=0.05)


def test_scale_reports_periods_in_input_pixels():
    frames = np.stack(_frames(0.05))
    half = frames[:, ::2, ::2]  # a map at half the input size: the lattice has period 4 there
    full = spectrum_periodicity(mean_map(frames), 8.0, 8.0)
    reduced = spectrum_periodicity(mean_map(half), 8.0, 8.0, scale=2.0)
    assert full.period == pytest.approx(8.0) and reduced.period == pytest.approx(8.0)
    assert reduced.ratio > MAX_RATIO


def test_band_outside_the_map_and_bad_shapes_are_refused():
    with pytest.raises(ValueError, match='no frequency'):
        spectrum_periodicity(np.zeros((16, 16)), 64.0, 128.0)
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        spectrum_periodicity(np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match='no score map'):
        mean_map([])
    with pytest.raises(ValueError, match='differ in size'):
        mean_map([np.zeros((4, 4)), np.zeros((4, 5))])


def test_nan_pixels_count_as_the_mean():
    m = mean_map(_frames(0.0, count=2))
    m[10:20, 30:40] = np.nan
    assert np.isfinite(spectrum_periodicity(m).ratio)


def test_running_mean_map_equals_the_mean_of_the_frames():
    frames = _frames(0.05, count=4)
    running = MeanMap()
    for frame in frames:
        running.add(frame)
    np.testing.assert_allclose(running.total / running.count, mean_map(frames))
    assert running.periodicity() == spectrum_periodicity(mean_map(frames))
    with pytest.raises(ValueError, match='differ in size'):
        running.add(np.zeros((8, 8)))
    with pytest.raises(ValueError, match='no score map'):
        MeanMap().periodicity()
