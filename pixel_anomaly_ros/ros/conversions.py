# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Build rclpy sensor_msgs/Image and CompressedImage messages from arrays.

The pixels are encoded by :mod:`pixel_anomaly_ros.imaging`, the one image codec, which also
decodes incoming messages. Here the payload is handed to rclpy as an ``array.array`` filled
with one ``frombytes``: assigning an ndarray or memoryview to ``msg.data`` costs 100+ ms per
frame.
"""

import array
from typing import Optional

import numpy as np
from pixel_anomaly_ros.imaging import compress, image_fields
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header


def numpy_to_image(data: np.ndarray, encoding: str, header: Header) -> Image:
    """
    Build an Image message from an array.

    :param data: (H, W) or (H, W, C) array whose dtype and channels match the encoding.
    :param encoding: e.g. ``32FC1``, ``mono8``, ``rgb8``.
    :param header: header copied from the input message.
    :return: the message (packed rows, ``step`` = row size in bytes, little-endian).
    :raises ValueError: when the array does not match the encoding.
    """
    fields = image_fields(data, encoding)
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = fields.height, fields.width, fields.encoding
    msg.is_bigendian, msg.step = fields.is_bigendian, fields.step
    msg.data = _payload(fields.data)
    return msg


def numpy_to_compressed(data: np.ndarray, fmt: str = 'jpeg', header: Optional[Header] = None,
                        quality: int = 90) -> CompressedImage:
    """
    Build a CompressedImage message (as image_transport's ``compressed`` plugin would).

    :param data: (H, W, 3) uint8 BGR, (H, W, 4) uint8 BGRA or (H, W) uint8 grey image
        (uint16 grey for PNG).
    :param fmt: ``jpeg`` or ``png``.
    :param header: header of the message (an empty one when None).
    :param quality: JPEG quality, 0..100.
    :return: the message, ``format`` like ``bgr8; jpeg compressed bgr8``.
    :raises ValueError: for another format or an image the format cannot hold.
    """
    if data.ndim == 2:
        encoding = 'mono16' if data.dtype == np.uint16 else 'mono8'
    else:
        encoding = 'bgra8' if data.shape[-1] == 4 else 'bgr8'
    msg = CompressedImage()
    msg.header = header if header is not None else Header()
    msg.format, stream = compress(data, encoding, fmt, quality)
    msg.data = _payload(stream)
    return msg


def compressed_message(fmt: str, data, header: Header) -> CompressedImage:
    """
    Wrap an already compressed stream (e.g. read from a bag) in a CompressedImage, unchanged.

    :param fmt: the ``format`` string, e.g. ``rgb8; jpeg compressed bgr8``.
    :param data: the JPEG or PNG bytes (any buffer of uint8).
    :param header: header of the message.
    :return: the message.
    """
    msg = CompressedImage()
    msg.header, msg.format = header, fmt
    msg.data = _payload(np.frombuffer(data, np.uint8))
    return msg


def _payload(data: np.ndarray) -> array.array:
    """Copy a flat uint8 array into the array type rclpy takes without a per-byte loop."""
    payload = array.array('B')
    payload.frombytes(data)
    return payload
