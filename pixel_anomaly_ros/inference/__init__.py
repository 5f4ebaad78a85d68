# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly run``: a bundle over photos, folders, videos or bags, no labels needed."""
