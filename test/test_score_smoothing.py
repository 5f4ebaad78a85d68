# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The Gaussian smoothing of the raw score (``score.smoothing``)."""

import numpy as np
from pixel_anomaly_ros.score_smoothing import smooth_score


def test_no_smoothing_returns_the_map_itself():
    raw = np.random.default_rng(0).uniform(size=(8, 16)).astype(np.float32)
    assert smooth_score(raw, 0.0) is raw


def test_a_lone_peak_spreads_and_keeps_its_mass():
    raw = np.zeros((41, 41), np.float32)
    raw[20, 20] = 1.0
    smoothed = smooth_score(raw, 2.0)
    assert smoothed is not raw and raw[20, 20] == 1.0  # the input is left alone
    assert abs(smoothed.sum() - 1.0) < 1e-5
    assert 0.03 < smoothed[20, 20] < 0.05  # 1 / (2 pi sigma^2) = 0.0398
    np.testing.assert_allclose(smoothed, smoothed.T, atol=1e-7)  # isotropic
    profile = smoothed[20, 20:26]
    assert np.all(np.diff(profile) < 0)


def test_half_precision_is_smoothed_in_single_precision():
    raw = np.full((16, 16), 0.25, np.float16)
    smoothed = smooth_score(raw, 1.0)
    assert smoothed.dtype == np.float32
    np.testing.assert_allclose(smoothed, 0.25, atol=1e-6)  # a constant map stays constant
