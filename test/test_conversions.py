# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image message <-> numpy conversions, without spinning any node."""

import array

import numpy as np
import pytest

pytest.importorskip('rclpy')
from pixel_anomaly_ros.ros.conversions import image_to_rgb, ImageError, numpy_to_image  # noqa
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402


def _msg(pixels, encoding, step=None):
    msg = Image()
    msg.height, msg.width = pixels.shape[:2]
    msg.encoding = encoding
    row = pixels.reshape(msg.height, -1)
    msg.step = step or row.shape[1]
    padded = np.zeros((msg.height, msg.step), np.uint8)
    padded[:, :row.shape[1]] = row
    data = array.array('B')
    data.frombytes(padded.tobytes())
    msg.data = data
    return msg


def test_decode_rgb_bgr_mono_and_padded_rows():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
    np.testing.assert_array_equal(image_to_rgb(_msg(rgb, 'rgb8')), rgb)
    np.testing.assert_array_equal(image_to_rgb(_msg(rgb[..., ::-1].copy(), 'bgr8')), rgb)
    np.testing.assert_array_equal(image_to_rgb(_msg(rgb, 'rgb8', step=32)), rgb)
    mono = rgb[..., 0].copy()
    np.testing.assert_array_equal(image_to_rgb(_msg(mono, 'mono8')), np.stack([mono] * 3, -1))


def test_rgb8_decoding_is_zero_copy():
    msg = _msg(np.zeros((4, 4, 3), np.uint8), 'rgb8')
    view = image_to_rgb(msg)
    msg.data[0] = 200
    assert view[0, 0, 0] == 200


@pytest.mark.parametrize('mutate, reason', [
    (lambda m: setattr(m, 'encoding', 'yuv999'), 'unsupported encoding'),
    (lambda m: setattr(m, 'step', 3), 'step'),
    (lambda m: setattr(m, 'height', 9), 'bytes'),
    (lambda m: setattr(m, 'width', 0), 'empty'),
])
def test_bad_messages_are_rejected(mutate, reason):
    msg = _msg(np.zeros((4, 4, 3), np.uint8), 'rgb8')
    mutate(msg)
    with pytest.raises(ImageError, match=reason):
        image_to_rgb(msg)


def test_encode_round_trip_keeps_header():
    header = Header(frame_id='cam')
    score = np.random.default_rng(1).random((6, 9), dtype=np.float32)
    msg = numpy_to_image(score, '32FC1', header)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (6, 9, 36, '32FC1')
    assert msg.header.frame_id == 'cam'
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.float32).reshape(6, 9), score)
