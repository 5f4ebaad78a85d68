# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The detector's output topics: computed only while subscribed, into reused buffers.

Every output carries the input header. Topic, encoding and content:

* ``anomaly/score`` 32FC1 calibrated score in [0, 1]
* ``anomaly/heatmap`` bgr8 colour-mapped score
* ``anomaly/mask`` mono8, 255 where ``score >= threshold``
* ``semantic/labels`` mono8 Cityscapes train ids
* ``semantic/color`` rgb8 Cityscapes colours
* ``anomaly/overlay`` bgr8 camera image with the heatmap blended in over the mask
"""

from typing import Callable, Dict, List, Tuple

import numpy as np
from pixel_anomaly_ros import visualisation
from pixel_anomaly_ros.pipelines.result import AnomalyResult
from pixel_anomaly_ros.resizing import resize_linear
from pixel_anomaly_ros.ros.conversions import numpy_to_image
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

#: topic -> (encoding, channels, dtype)
OUTPUTS: Dict[str, Tuple[str, int, type]] = {
    'anomaly/score': ('32FC1', 1, np.float32),
    'anomaly/heatmap': ('bgr8', 3, np.uint8),
    'anomaly/mask': ('mono8', 1, np.uint8),
    'semantic/labels': ('mono8', 1, np.uint8),
    'semantic/color': ('rgb8', 3, np.uint8),
    'anomaly/overlay': ('bgr8', 3, np.uint8),
}


class OutputTopics:
    """Publishers of every output, and the per-size buffers their images are built in."""

    def __init__(self, create_publisher: Callable, depth: int = 2):
        """
        Create one reliable publisher per output topic (RViz subscribes reliably).

        :param create_publisher: the node's ``create_publisher``.
        :param depth: keep-last depth.
        """
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self.publishers = {topic: create_publisher(Image, topic, qos) for topic in OUTPUTS}
        self.overlay_alpha = 0.5
        self._buffers: Dict[Tuple[str, int, int], np.ndarray] = {}
        self._heatmap_ready = False

    def wanted(self) -> List[str]:
        """Return the topics that currently have at least one subscriber."""
        return [t for t, p in self.publishers.items() if p.get_subscription_count() > 0]

    def publish(self, topics: List[str], result: AnomalyResult, image_rgb: np.ndarray,
                header) -> None:
        """
        Build and publish the requested outputs of one result.

        :param topics: which outputs to publish (see :meth:`wanted`).
        :param result: the pipeline result (maps at the output resolution).
        :param image_rgb: the camera image, for the overlay (resized when the output
            resolution differs).
        :param header: the input header, copied to every output.
        """
        self._heatmap_ready = False
        for topic in topics:
            self.publishers[topic].publish(
                numpy_to_image(self._render(topic, result, image_rgb), OUTPUTS[topic][0], header))
            self._heatmap_ready |= topic == 'anomaly/heatmap'

    def destroy(self, destroy_publisher: Callable) -> None:
        """
        Destroy the publishers and drop the buffers.

        :param destroy_publisher: the node's ``destroy_publisher``.
        """
        for publisher in self.publishers.values():
            destroy_publisher(publisher)
        self.publishers = {}
        self._buffers = {}

    def _render(self, topic: str, result: AnomalyResult, image_rgb: np.ndarray) -> np.ndarray:
        if topic == 'anomaly/score':
            return result.score
        if topic == 'semantic/labels':
            return result.train_ids
        out = self._buffer(topic, result.score.shape)
        if topic == 'anomaly/mask':
            return np.multiply(result.mask.view(np.uint8), np.uint8(255), out=out)
        if topic == 'semantic/color':
            return visualisation.colour_train_ids(result.train_ids, out=out)
        if topic == 'anomaly/heatmap':
            return visualisation.heatmap_bgr(result.score, out=out)
        camera = resize_linear(image_rgb, result.score.shape)
        # The heatmap topic is rendered (and already copied into its message) before the
        # overlay; reuse it, the blend may then overwrite it.
        heat = self._buffer('anomaly/heatmap', result.score.shape)
        if not self._heatmap_ready:
            visualisation.heatmap_bgr(result.score, out=heat)
        return visualisation.overlay_bgr(camera, result.score, result.mask,
                                         self.overlay_alpha, out=out, heatmap=heat)

    def _buffer(self, topic: str, size: Tuple[int, int]) -> np.ndarray:
        _, channels, dtype = OUTPUTS[topic]
        key = (topic, *size)
        if key not in self._buffers:
            shape = size if channels == 1 else (*size, channels)
            self._buffers = {k: v for k, v in self._buffers.items() if k[0] != topic}
            self._buffers[key] = np.empty(shape, dtype=dtype)
        return self._buffers[key]
