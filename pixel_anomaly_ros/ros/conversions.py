# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
sensor_msgs/Image <-> numpy without avoidable copies.

Incoming data is viewed with ``np.frombuffer`` (zero-copy); outgoing data is handed over as an
``array.array`` filled with one ``frombytes`` (assigning an ndarray or memoryview to
``msg.data`` costs 100+ ms per frame in rclpy).
"""

import array

import cv2
import numpy as np
from sensor_msgs.msg import Image

#: Encodings accepted as camera input: channels, and the OpenCV conversion to RGB (if any).
_DECODERS = {'rgb8': (3, None), 'bgr8': (3, cv2.COLOR_BGR2RGB), 'mono8': (1, cv2.COLOR_GRAY2RGB)}


class ImageError(ValueError):
    """An incoming image message cannot be decoded; the message says why."""


def image_to_rgb(msg: Image) -> np.ndarray:
    """
    Decode an Image message into an (H, W, 3) uint8 RGB array.

    :param msg: rgb8, bgr8 or mono8 image.
    :return: RGB array (a zero-copy view of ``msg.data`` for rgb8 with a packed step).
    :raises ImageError: for unsupported encodings, bad sizes or steps.
    """
    if msg.encoding not in _DECODERS:
        raise ImageError(f'unsupported encoding {msg.encoding!r} (supported: '
                         f'{", ".join(_DECODERS)})')
    channels, code = _DECODERS[msg.encoding]
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ImageError(f'empty image {width}x{height}')
    if step < width * channels:
        raise ImageError(f'step {step} is smaller than width*channels = {width * channels}')
    if len(msg.data) != step * height:
        raise ImageError(f'data has {len(msg.data)} bytes, expected step*height = '
                         f'{step * height}')
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, :width * channels].reshape(height, width, channels)
    return pixels if code is None else cv2.cvtColor(pixels, code)


def numpy_to_image(data: np.ndarray, encoding: str, header) -> Image:
    """
    Build an Image message from a packed array.

    :param data: (H, W) or (H, W, C) array whose dtype matches the encoding.
    :param encoding: e.g. ``32FC1``, ``mono8``, ``rgb8``.
    :param header: header copied from the input message.
    :return: the message (``step`` = row size in bytes, little-endian).
    """
    data = np.ascontiguousarray(data)
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(data.shape[0]), int(data.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(data.strides[0])
    payload = array.array('B')
    payload.frombytes(data.view(np.uint8).reshape(-1))
    msg.data = payload
    return msg
