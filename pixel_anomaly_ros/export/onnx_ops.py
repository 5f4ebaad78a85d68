# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ONNX operators every exported stage graph may use: TensorRT's parser takes them all."""

from functools import lru_cache
from pathlib import Path

ALLOWED_OPS_FILE = Path(__file__).parent / 'data' / 'tensorrt_onnx_ops.txt'


@lru_cache(maxsize=1)
def allowed_op_types() -> frozenset:
    """Return the ONNX operator types the exported graphs may use (TensorRT-parsable)."""
    lines = ALLOWED_OPS_FILE.read_text().splitlines()
    return frozenset(line.strip() for line in lines
                     if line.strip() and not line.startswith('#'))
