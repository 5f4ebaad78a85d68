# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
``detector_node``: camera images in, anomaly score / mask and semantic labels out.

Thin ROS glue around a pipeline: decode, run, encode, publish. Every output carries the
input header; outputs are computed only while somebody subscribes to them.
"""

import sys
from typing import Optional

import numpy as np
from pixel_anomaly_ros.bundle import BundleError, load_bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.ros.conversions import image_to_rgb, ImageError, numpy_to_image
from pixel_anomaly_ros.runtime import BackendError
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


class DetectorNode(Node):
    """Runs an anomaly pipeline on every image it can keep up with."""

    def __init__(self, **kwargs):
        """
        Declare parameters, load the bundle and create the topics.

        :param kwargs: passed to ``rclpy.node.Node`` (e.g. ``parameter_overrides``).
        :raises BundleError: if the bundle is missing or broken.
        :raises BackendError: if the backend cannot run here.
        """
        super().__init__('detector_node', **kwargs)
        bundle_path = self.declare_parameter('bundle', '').value
        backend = self.declare_parameter('backend', 'torch').value
        device = self.declare_parameter('device', 'cpu').value
        precision = self.declare_parameter('precision', 'fp32').value
        reliable = self.declare_parameter('input.reliable', False).value
        if not bundle_path:
            raise BundleError('parameter "bundle" is empty; set it to a bundle directory, e.g. '
                              '--ros-args -p bundle:=models/demo_light')
        self.pipeline = create_pipeline(load_bundle(bundle_path), backend, device, precision)
        self.frames_received = 0
        self.frames_rejected = 0
        out_qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_score = self.create_publisher(Image, 'anomaly/score', out_qos)
        self.pub_mask = self.create_publisher(Image, 'anomaly/mask', out_qos)
        self.pub_labels = self.create_publisher(Image, 'semantic/labels', out_qos)
        in_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE if reliable
                            else ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(Image, 'image', self.on_image, in_qos)
        spec = self.pipeline.spec
        self.get_logger().info(f'ready: {spec.name} ({spec.variant}) on {backend} {device} '
                               f'{precision}')

    def on_image(self, msg: Image) -> None:
        """Decode, run the pipeline, publish the outputs that have subscribers."""
        self.frames_received += 1
        wanted = [p for p in (self.pub_score, self.pub_mask, self.pub_labels)
                  if p.get_subscription_count() > 0]
        if not wanted:
            return
        try:
            rgb = image_to_rgb(msg)
        except ImageError as exc:
            self.frames_rejected += 1
            self.get_logger().warning(f'rejected frame: {exc}', throttle_duration_sec=5.0)
            return
        result = self.pipeline(rgb)
        if self.pub_score in wanted:
            self.pub_score.publish(numpy_to_image(result.score, '32FC1', msg.header))
        if self.pub_mask in wanted:
            mask = result.mask.view(np.uint8) * np.uint8(255)
            self.pub_mask.publish(numpy_to_image(mask, 'mono8', msg.header))
        if self.pub_labels in wanted:
            self.pub_labels.publish(numpy_to_image(result.train_ids, 'mono8', msg.header))


def main(args: Optional[list] = None) -> int:
    """
    Run the node until interrupted.

    :param args: command-line arguments (``--ros-args ...``).
    :return: exit status (1 when the node cannot start).
    """
    rclpy.init(args=args)
    node = None
    try:
        node = DetectorNode()
        rclpy.spin(node)
    except (BundleError, BackendError) as exc:
        print(f'detector_node: cannot start: {exc}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
