# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Offline tools that turn a bundle's networks into deployable graphs (``pixel-anomaly export``).

:mod:`.onnx_export` writes and checks one ONNX graph per stage, :mod:`.int8_calibration`
(INT8 range calibration) records the inputs each stage sees on camera images,
:mod:`.quantization` turns those into int8 graphs for ONNX Runtime, and :mod:`.tensorrt` builds
and checks TensorRT engines ahead of time (INT8 ones calibrated on the same inputs). They use
the pipelines, so they sit above them; the runtime only loads what they write.
"""
