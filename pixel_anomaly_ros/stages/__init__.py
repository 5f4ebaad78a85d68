# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The stage graphs: what is exported to ONNX and what every executor runs.

:mod:`.graph_io` is the contract (stage names, inputs and outputs) and imports nothing heavy, so
that ONNX Runtime and TensorRT run bundles without torch; :mod:`.graphs` holds the
``nn.Module`` of each stage exactly as it is exported; :mod:`.external_graph` builds the stage
graph around a user's own ONNX segmentation model with onnx alone (no torch module exists for
it).
"""
