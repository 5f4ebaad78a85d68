# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The detector's output rendering: encodings, contents, buffer reuse, only wanted topics."""

import numpy as np
from pixel_anomaly_ros import visualisation
from pixel_anomaly_ros.pipelines.result import AnomalyResult
from pixel_anomaly_ros.resizing import resize_linear
import pytest

pytest.importorskip('rclpy')
from pixel_anomaly_ros.ros.outputs import OUTPUTS, OutputTopics  # noqa: E402, I100
from std_msgs.msg import Header  # noqa: E402


class _Publisher:
    """Keeps the last message; reports a fixed subscriber count."""

    def __init__(self, subscribers=1):
        self.last, self.subscribers = None, subscribers

    def publish(self, msg):
        self.last = msg

    def get_subscription_count(self):
        return self.subscribers


def _image(msg, channels, dtype=np.uint8):
    shape = (msg.height, msg.width) + ((channels,) if channels > 1 else ())
    return np.frombuffer(msg.data, dtype).reshape(shape)


@pytest.mark.parametrize('topics', [list(OUTPUTS), ['anomaly/overlay'],
                                    ['anomaly/overlay', 'anomaly/heatmap']])
def test_outputs_have_the_documented_encodings_and_contents(topics):
    publishers = {}
    outputs = OutputTopics(lambda kind, topic, qos: publishers.setdefault(topic, _Publisher()))
    rng = np.random.default_rng(0)
    score = rng.random((24, 40), dtype=np.float32)
    result = AnomalyResult(score=score, mask=score >= 0.5, timings_ms={},
                           train_ids=rng.integers(0, 19, (24, 40), dtype=np.uint8))
    camera = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)  # resized to the output size
    header = Header(frame_id='camera')
    for _ in range(2):  # the second frame reuses every buffer
        outputs.publish(topics, result, camera, header)
    sent = {t: p.last for t, p in publishers.items() if p.last is not None}
    assert set(sent) == set(topics)
    for topic, msg in sent.items():
        assert msg.encoding == OUTPUTS[topic][0] and msg.header.frame_id == 'camera'
        assert (msg.height, msg.width) == (24, 40)
    expected = {
        'anomaly/score': (score, 1, np.float32),
        'anomaly/heatmap': (visualisation.heatmap_bgr(score), 3, np.uint8),
        'anomaly/mask': (np.where(score >= 0.5, 255, 0), 1, np.uint8),
        'semantic/labels': (result.train_ids, 1, np.uint8),
        'semantic/color': (visualisation.colour_train_ids(result.train_ids), 3, np.uint8),
        'anomaly/overlay': (visualisation.overlay_bgr(
            resize_linear(camera, (24, 40)), score, score >= 0.5), 3, np.uint8)}
    for topic, msg in sent.items():
        value, channels, dtype = expected[topic]
        np.testing.assert_array_equal(_image(msg, channels, dtype), value, err_msg=topic)


def test_only_subscribed_topics_are_wanted():
    counts = {'anomaly/mask': 1, 'semantic/color': 2}
    outputs = OutputTopics(lambda kind, topic, qos: _Publisher(counts.get(topic, 0)))
    assert outputs.wanted() == ['anomaly/mask', 'semantic/color']
