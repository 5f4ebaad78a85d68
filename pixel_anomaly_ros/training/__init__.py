# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training of the tiny (and full) networks: losses, data, trainers, calibration and the CLI.

Nothing here imports ROS; the heavy modules are imported by the commands that need them.
"""
