# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What an :class:`~pixel_anomaly_ros.evaluation.evaluate.Evaluator` accumulated, in mergeable form.

A shard of a distributed evaluation (:mod:`~pixel_anomaly_ros.evaluation.distributed`) sends
this back to the driver, which adds it with ``Evaluator.merge``; the score spool of the
component pass stays with the shard.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from pixel_anomaly_ros.evaluation.report import Example
from pixel_anomaly_ros.evaluation.semantic_metrics import SemanticConfusion


@dataclass
class EvaluatorState:
    """
    The mergeable accumulators of an :class:`Evaluator`, without its spool (what a shard sends).

    Counts (pixel, semantic, saturation) merge in any order; names, latencies and examples are
    appended in merge order.
    """

    pixel: Dict[str, object] = field(default_factory=dict)
    semantic: Optional[SemanticConfusion] = None
    saturated: np.ndarray = field(default_factory=lambda: np.zeros(3, np.int64))
    names: List[str] = field(default_factory=list)
    latency: Dict[str, List[float]] = field(default_factory=dict)
    examples: List[Example] = field(default_factory=list)
    #: pixels anomalous, anomalous and flagged, inlier, inlier and flagged by the masks
    flagged: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
