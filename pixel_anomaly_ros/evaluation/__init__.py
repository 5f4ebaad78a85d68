# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: anomaly metrics, dataset loaders, bags, reports."""
