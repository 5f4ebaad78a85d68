# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks and the random-weight bundles they (and the tests) run on."""
