# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one base class of the errors a user can fix (a wrong file, value or backend).

It lives at the bottom of the package and imports nothing, so that the command line can catch
every such error without importing torch, ONNX Runtime or rosbags to learn their classes.
"""


class PixelAnomalyError(Exception):
    """A problem the user can fix; the message names the file or value and says what to do."""
