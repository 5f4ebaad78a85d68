# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``python -m pixel_anomaly_ros.cli``: the ``pixel-anomaly`` command without its script."""

import sys

from pixel_anomaly_ros.cli import main

if __name__ == '__main__':
    sys.exit(main())
