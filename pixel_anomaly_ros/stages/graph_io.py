# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The I/O contract of the stage graphs: input and output names of every stage, in order.

The exporter names the ONNX graph's tensors after it, every executor feeds and reads them by
it, and the pipelines chain stages through it. Shapes come from the bundle
(:meth:`~pixel_anomaly_ros.bundle.BundleSpec.stage_inputs`).
"""

#: Input and output names of every stage graph, in forward-argument / return order.
GRAPH_IO = {
    'segmentation': (('image',), ('train_ids', 'entropy', 'distance')),
    'synthesis': (('train_ids',), ('synthesis',)),
    'dissimilarity': (('image', 'synthesis', 'train_ids', 'entropy', 'distance', 'weights'),
                      ('score', 'p_anomaly', 'perceptual')),
    'energy': (('image',), ('score', 'train_ids')),
    'posthoc': (('image',), ('score', 'train_ids')),
}

#: Extra outputs of the stages in :data:`BASELINE_STAGES` when built with ``baselines=True``
#: (evaluation only; the exported graphs never have them).
BASELINE_OUTPUTS = ('baseline_max_softmax', 'baseline_max_logit', 'baseline_entropy',
                    'baseline_energy')
BASELINE_STAGES = ('segmentation', 'energy', 'posthoc')
