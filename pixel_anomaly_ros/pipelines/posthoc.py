# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A user's ONNX segmentation network with a post-hoc scorer on its logits, as one graph."""

from pixel_anomaly_ros.pipelines.pebal import PEBAL


class PosthocScoring(PEBAL):
    """
    The ``segmentation_onnx`` pipeline: one graph from image to score and class ids.

    Like PEBAL, one stage gives the raw score and the arg-max classes; here the stage is the
    user's model composed with its scorer (energy, max logit, entropy, max softmax or SML) by
    :mod:`pixel_anomaly_ros.stages.external_graph`. The ensemble weights do not apply.
    """

    stage = 'posthoc'
