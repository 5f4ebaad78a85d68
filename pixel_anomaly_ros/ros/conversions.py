# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
sensor_msgs/Image and CompressedImage <-> numpy, with validation and without avoidable copies.

Incoming pixels are viewed in place (``np.frombuffer`` on ``msg.data``, padded rows sliced off)
and turned into RGB by at most one OpenCV call; packed rgb8 comes back as a zero-copy view.
16-bit samples are scaled to 8 bit by keeping their high byte, which is a strided view too.
Outgoing data is handed over as an ``array.array`` filled with one ``frombytes`` (assigning an
ndarray or memoryview to ``msg.data`` costs 100+ ms per frame in rclpy).

Every unusable message raises :class:`ImageError`, whose ``reason`` is one of
:data:`REJECTION_REASONS` so that the node can count rejections by cause.
"""

import array
from typing import NamedTuple, Optional, Tuple

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

#: Largest accepted image, width * height (about 33.5 megapixels: 8K UHD fits).
MAX_PIXELS = 1 << 25

#: Machine keys of :attr:`ImageError.reason`, e.g. for per-reason diagnostic counters.
REJECTION_REASONS = ('encoding', 'empty', 'too_large', 'step', 'size', 'nan', 'undecodable',
                     'stamp')


class ImageError(ValueError):
    """An incoming image message cannot be used; ``reason`` names the cause in one word."""

    def __init__(self, reason: str, message: str):
        """
        Create the error.

        :param reason: one of :data:`REJECTION_REASONS`.
        :param message: short human explanation (what ``str(error)`` returns).
        """
        super().__init__(message)
        self.reason = reason


class _Layout(NamedTuple):
    """How the pixels of one encoding are stored."""

    channels: int  # samples per pixel in the message (2 for packed YUV 4:2:2)
    sample_bytes: int  # 1, 2 (scaled to 8 bit) or 4 (float, normalised)
    to_rgb: Optional[int]  # OpenCV conversion to RGB; None when the samples already are RGB


# OpenCV names a Bayer pattern by the 2x2 block starting at row 1, column 1, which is offset by
# one pixel diagonally from the ROS name (ROS bayer_rggb8 is OpenCV BayerBG).
_BAYER = {'rggb': cv2.COLOR_BayerBG2RGB, 'bggr': cv2.COLOR_BayerRG2RGB,
          'gbrg': cv2.COLOR_BayerGR2RGB, 'grbg': cv2.COLOR_BayerGB2RGB}

_LAYOUTS = {
    'rgb8': _Layout(3, 1, None),
    'bgr8': _Layout(3, 1, cv2.COLOR_BGR2RGB),
    'rgba8': _Layout(4, 1, cv2.COLOR_RGBA2RGB),
    'bgra8': _Layout(4, 1, cv2.COLOR_BGRA2RGB),
    'mono8': _Layout(1, 1, cv2.COLOR_GRAY2RGB),
    'rgb16': _Layout(3, 2, None),
    'bgr16': _Layout(3, 2, cv2.COLOR_BGR2RGB),
    'rgba16': _Layout(4, 2, cv2.COLOR_RGBA2RGB),
    'bgra16': _Layout(4, 2, cv2.COLOR_BGRA2RGB),
    'mono16': _Layout(1, 2, cv2.COLOR_GRAY2RGB),
    '32FC1': _Layout(1, 4, cv2.COLOR_GRAY2RGB),
    'yuv422': _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY),  # ROS yuv422 is UYVY byte order
    'uyvy': _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY),
    'yuyv': _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2),
    'yuv422_yuy2': _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2),
}
_LAYOUTS.update({'8UC1': _LAYOUTS['mono8'], '8UC3': _LAYOUTS['bgr8'],
                 '8UC4': _LAYOUTS['bgra8'], '16UC1': _LAYOUTS['mono16']})
_LAYOUTS.update({f'bayer_{pattern}{bits}': _Layout(1, bits // 8, code)
                 for pattern, code in _BAYER.items() for bits in (8, 16)})

#: Image encodings accepted by :func:`image_to_rgb`.
SUPPORTED_ENCODINGS = tuple(_LAYOUTS)

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers carry the image size: C0..CF except DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_MAX_SEGMENTS = 1000


def image_to_rgb(msg: Image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """
    Decode an Image message into an (H, W, 3) uint8 RGB array.

    16-bit encodings keep the high byte of each sample (honouring ``is_bigendian``); 32FC1 is
    stretched from its min..max to 0..255 grey; YUV 4:2:2 and Bayer use OpenCV's conversions.

    :param msg: image in one of :data:`SUPPORTED_ENCODINGS`.
    :param max_pixels: largest accepted width * height.
    :return: RGB array; a zero-copy view of ``msg.data`` for rgb8 (strided if rows are padded).
    :raises ImageError: for an unknown encoding, a bad size, step or data length, or NaN/Inf.
    """
    layout = _LAYOUTS.get(msg.encoding)
    if layout is None:
        raise ImageError('encoding', f'unsupported encoding {msg.encoding!r} (supported: '
                         f'{", ".join(SUPPORTED_ENCODINGS)})')
    height, width, step = msg.height, msg.width, msg.step
    _check_size(width, height, max_pixels)
    if layout.channels == 2 and width % 2:
        raise ImageError('size', f'{msg.encoding} needs an even width, got {width}')
    row_bytes = width * layout.channels * layout.sample_bytes
    if step < row_bytes:
        raise ImageError('step', f'step {step} is smaller than width * bytes per pixel = '
                         f'{row_bytes}')
    if len(msg.data) != step * height:
        raise ImageError('size', f'data has {len(msg.data)} bytes, expected step * height = '
                         f'{step * height}')
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    if layout.sample_bytes == 4:
        return cv2.cvtColor(_float_to_grey(rows[:, :row_bytes], msg.is_bigendian),
                            cv2.COLOR_GRAY2RGB)
    if layout.sample_bytes == 2:
        high_byte = 0 if msg.is_bigendian else 1
        samples = rows[:, high_byte:row_bytes:2]
    else:
        samples = rows[:, :row_bytes]
    pixels = samples.reshape(height, width, layout.channels) if layout.channels > 1 else samples
    return pixels if layout.to_rgb is None else cv2.cvtColor(pixels, layout.to_rgb)


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """
    Decode a JPEG or PNG CompressedImage message into an (H, W, 3) uint8 RGB array.

    The size in the stream header is checked against ``max_pixels`` before decoding, so that a
    small message cannot make the node allocate a huge image. EXIF orientation is ignored.

    :param msg: message whose ``data`` is a JPEG or PNG stream (``format`` is not trusted).
    :param max_pixels: largest accepted width * height.
    :return: RGB array (a new array).
    :raises ImageError: for empty, oversized or undecodable data.
    """
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError('empty', 'compressed image has no data')
    width, height = _compressed_size(data)
    _check_size(width, height, max_pixels)
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise ImageError('undecodable', f'cannot decode {msg.format!r} data: {exc}') from exc
    if bgr is None:
        raise ImageError('undecodable', f'cannot decode {len(data)} bytes of {msg.format!r} '
                         f'data')
    _check_size(bgr.shape[1], bgr.shape[0], max_pixels)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)


def check_stamp(stamp_ns: int, now_ns: int, max_future_s: float = 1.0) -> None:
    """
    Reject a header stamp that is unset or lies in the future.

    :param stamp_ns: header stamp in nanoseconds (see :func:`stamp_to_ns`).
    :param now_ns: current time of the node's clock in nanoseconds; 0 (a simulated clock that
        has not received ``/clock`` yet) skips the future check.
    :param max_future_s: how far ahead of ``now_ns`` a stamp may be, in seconds.
    :raises ImageError: with reason ``stamp``.
    """
    if stamp_ns <= 0:
        raise ImageError('stamp', 'header stamp is zero (not set by the publisher)')
    ahead_s = (stamp_ns - now_ns) * 1e-9
    if now_ns > 0 and ahead_s > max_future_s:
        raise ImageError('stamp', f'header stamp is {ahead_s:.3f} s in the future '
                         f'(limit {max_future_s} s)')


def stamp_to_ns(stamp) -> int:
    """
    Convert a ``builtin_interfaces/Time`` to integer nanoseconds.

    :param stamp: message with ``sec`` and ``nanosec``.
    :return: nanoseconds since the clock's epoch.
    """
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def numpy_to_image(data: np.ndarray, encoding: str, header: Header) -> Image:
    """
    Build an Image message from an array.

    :param data: (H, W) or (H, W, C) array whose dtype matches the encoding.
    :param encoding: e.g. ``32FC1``, ``mono8``, ``rgb8``.
    :param header: header copied from the input message.
    :return: the message (packed rows, ``step`` = row size in bytes, little-endian).
    """
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder('<'))
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


def numpy_to_compressed(data: np.ndarray, fmt: str = 'jpeg', header: Optional[Header] = None,
                        quality: int = 90) -> CompressedImage:
    """
    Build a CompressedImage message (as image_transport's ``compressed`` plugin would).

    :param data: (H, W, 3) uint8 BGR or (H, W) uint8 grey image.
    :param fmt: ``jpeg`` or ``png``.
    :param header: header of the message (an empty one when None).
    :param quality: JPEG quality, 0..100.
    :return: the message, ``format`` like ``bgr8; jpeg compressed bgr8``.
    :raises ValueError: for another format or an image OpenCV cannot encode.
    """
    if fmt not in ('jpeg', 'png'):
        raise ValueError(f'format must be jpeg or png, got {fmt!r}')
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == 'jpeg' else []
    ok, stream = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', data, params)
    if not ok:
        raise ValueError(f'OpenCV cannot encode a {data.dtype} {data.shape} image as {fmt}')
    encoding = 'mono8' if data.ndim == 2 else 'bgr8'
    msg = CompressedImage()
    msg.header = header if header is not None else Header()
    msg.format = f'{encoding}; {fmt} compressed {encoding}'
    payload = array.array('B')
    payload.frombytes(stream)
    msg.data = payload
    return msg


def _check_size(width: int, height: int, max_pixels: int) -> None:
    """Reject empty and oversized images."""
    if width <= 0 or height <= 0:
        raise ImageError('empty', f'empty image {width}x{height}')
    if width * height > max_pixels:
        raise ImageError('too_large', f'image {width}x{height} has more than {max_pixels} '
                         f'pixels')


def _float_to_grey(rows: np.ndarray, big_endian: bool) -> np.ndarray:
    """Stretch (H, 4 * W) bytes of 32-bit floats from their min..max to 0..255 uint8."""
    values = rows.view('>f4' if big_endian else '<f4')
    if big_endian or rows.strides[0] % 4:
        values = values.astype(np.float32)  # OpenCV needs native floats and whole-float rows
    lo, hi = float(values.min()), float(values.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ImageError('nan', '32FC1 image contains NaN or infinite values')
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return cv2.convertScaleAbs(values, alpha=scale, beta=-lo * scale)


def _compressed_size(data: np.ndarray) -> Tuple[int, int]:
    """Read (width, height) from a PNG or JPEG header without decoding the pixels."""
    head = data.data
    if bytes(head[:8]) == _PNG_SIGNATURE:
        if len(head) < 24 or bytes(head[12:16]) != b'IHDR':
            raise ImageError('undecodable', 'PNG stream without an IHDR header')
        return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')
    if bytes(head[:2]) == b'\xff\xd8':
        size = _jpeg_size(head)
        if size is None:
            raise ImageError('undecodable', 'JPEG stream without a frame header')
        return size
    raise ImageError('undecodable', 'data is neither a JPEG nor a PNG stream')


def _jpeg_size(head: memoryview) -> Optional[Tuple[int, int]]:
    """Walk the JPEG marker segments up to the start-of-frame; None if it is not found."""
    pos = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        if pos + 9 > len(head) or head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _JPEG_SOF:
            height = (head[pos + 5] << 8) | head[pos + 6]
            width = (head[pos + 7] << 8) | head[pos + 8]
            return width, height
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
        elif marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        else:
            pos += 2 + ((head[pos + 2] << 8) | head[pos + 3])
    return None
