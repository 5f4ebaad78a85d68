# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pixel-wise anomaly detection for ROS 2 cameras (SynBoost Light and PEBAL)."""

__version__ = '0.1.0'
