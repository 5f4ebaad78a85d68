# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 glue: the only package that imports rclpy."""
