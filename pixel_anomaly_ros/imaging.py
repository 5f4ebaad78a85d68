# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one image codec: sensor_msgs/Image and CompressedImage fields <-> numpy; no ROS import.

It works on the fields of a message, so rclpy messages and rosbags messages go through the
same code: a raw image is any object with ``encoding, height, width, step, is_bigendian,
data``, a compressed one any object with ``format, data``. The node, bag reading, replay and
``dataset-to-bag`` all decode and encode here: the same message gives the same array.

Decoding for the pipeline (:func:`image_to_rgb`, :func:`compressed_to_rgb`) views the pixels
in place (``np.frombuffer``, padded rows sliced off) and turns them into RGB with at most one
OpenCV call: packed rgb8 comes back as a zero-copy view, 16-bit samples keep their high byte (a
strided view), 32FC1 is stretched from its min..max to grey. Decoding to the native array of
the encoding (:func:`image_to_array`, :func:`compressed_to_array`) keeps the values, e.g. of
mono8 labels or 32FC1 scores. Every unusable message raises :class:`ImageError`, whose
``reason`` is one of :data:`REJECTION_REASONS`.

Encoding gives the fields of a message (:func:`image_fields`, :func:`compress`), which the
rclpy and the rosbags message builders wrap.
"""

import re
from typing import NamedTuple, Optional, Tuple

import cv2
import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError

#: Largest accepted image, width * height (about 33.5 megapixels: 8K UHD fits).
MAX_PIXELS = 1 << 25

#: Machine keys of :attr:`ImageError.reason`, e.g. for per-reason diagnostic counters.
REJECTION_REASONS = ('encoding', 'empty', 'too_large', 'step', 'size', 'nan', 'undecodable',
                     'stamp')

#: Formats of :func:`compress`.
COMPRESSIONS = ('jpeg', 'png')


class ImageError(PixelAnomalyError, ValueError):
    """An incoming image message cannot be used; ``reason`` names the cause in one word."""

    def __init__(self, reason: str, message: str):
        """
        Create the error.

        :param reason: one of :data:`REJECTION_REASONS`.
        :param message: short human explanation (what ``str(error)`` returns).
        """
        super().__init__(message)
        self.reason = reason


class ImageFields(NamedTuple):
    """The fields of a sensor_msgs/Image, ``data`` as a flat uint8 array (bytes-like)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray


class _Layout(NamedTuple):
    """How the pixels of one encoding are stored."""

    channels: int  # samples per pixel in the message (2 for packed YUV 4:2:2)
    dtype: np.dtype  # of one sample; uint16 is scaled to 8 bit, float32 normalised to RGB
    to_rgb: Optional[int]  # OpenCV conversion to RGB; None when the samples already are RGB


_U8, _U16, _F32 = np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)

# OpenCV names a Bayer pattern by the 2x2 block starting at row 1, column 1, which is offset by
# one pixel diagonally from the ROS name (ROS bayer_rggb8 is OpenCV BayerBG).
_BAYER = {'rggb': cv2.COLOR_BayerBG2RGB, 'bggr': cv2.COLOR_BayerRG2RGB,
          'gbrg': cv2.COLOR_BayerGR2RGB, 'grbg': cv2.COLOR_BayerGB2RGB}
# ROS yuv422 is UYVY byte order.
_YUV = {'yuv422': cv2.COLOR_YUV2RGB_UYVY, 'uyvy': cv2.COLOR_YUV2RGB_UYVY,
        'yuyv': cv2.COLOR_YUV2RGB_YUY2, 'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2}

_LAYOUTS = {
    'rgb8': _Layout(3, _U8, None),
    'bgr8': _Layout(3, _U8, cv2.COLOR_BGR2RGB),
    'rgba8': _Layout(4, _U8, cv2.COLOR_RGBA2RGB),
    'bgra8': _Layout(4, _U8, cv2.COLOR_BGRA2RGB),
    'mono8': _Layout(1, _U8, cv2.COLOR_GRAY2RGB),
    'rgb16': _Layout(3, _U16, None),
    'bgr16': _Layout(3, _U16, cv2.COLOR_BGR2RGB),
    'rgba16': _Layout(4, _U16, cv2.COLOR_RGBA2RGB),
    'bgra16': _Layout(4, _U16, cv2.COLOR_BGRA2RGB),
    'mono16': _Layout(1, _U16, cv2.COLOR_GRAY2RGB),
    '32FC1': _Layout(1, _F32, cv2.COLOR_GRAY2RGB),
}
_LAYOUTS.update({name: _Layout(2, _U8, code) for name, code in _YUV.items()})
_LAYOUTS.update({'8UC1': _LAYOUTS['mono8'], '8UC3': _LAYOUTS['bgr8'],
                 '8UC4': _LAYOUTS['bgra8'], '16UC1': _LAYOUTS['mono16']})
_LAYOUTS.update({f'bayer_{pattern}{bits}': _Layout(1, _U8 if bits == 8 else _U16, code)
                 for pattern, code in _BAYER.items() for bits in (8, 16)})

#: Image encodings decoded to RGB (:func:`image_to_rgb`). :func:`image_to_array` and
#: :func:`image_fields` also take OpenCV-style ``<depth>C<n>`` encodings (``16SC1``, ``64FC1``).
SUPPORTED_ENCODINGS = tuple(_LAYOUTS)

_GENERIC = re.compile(r'(8U|8S|16U|16S|32S|32F|64F)C([1-9][0-9]?)')
_DEPTHS = {'8U': 'u1', '8S': 'i1', '16U': 'u2', '16S': 'i2', '32S': 'i4', '32F': 'f4',
           '64F': 'f8'}
# Channel orders of the plain grey and colour encodings, as OpenCV names them.
_ORDERS = {'mono': 'GRAY', 'rgb': 'RGB', 'bgr': 'BGR', 'rgba': 'RGBA', 'bgra': 'BGRA'}

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers carry the image size: C0..CF except DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_MAX_SEGMENTS = 1000


def image_to_rgb(msg, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """
    Decode a raw image into an (H, W, 3) uint8 RGB array, as the pipeline takes it.

    16-bit encodings keep the high byte of each sample (honouring ``is_bigendian``); 32FC1 is
    stretched from its min..max to 0..255 grey; YUV 4:2:2 and Bayer use OpenCV's conversions.

    :param msg: sensor_msgs/Image (or its fields) in one of :data:`SUPPORTED_ENCODINGS`.
    :param max_pixels: largest accepted width * height.
    :return: RGB array; a zero-copy view of ``msg.data`` for rgb8 (strided if rows are padded).
    :raises ImageError: for an unknown encoding, a bad size, step or data length, or NaN/Inf.
    """
    layout = _layout(msg.encoding, generic=False)
    rows, row_bytes = _pixel_rows(msg, layout, max_pixels)
    if layout.dtype == _F32:
        return cv2.cvtColor(_float_to_grey(rows[:, :row_bytes], msg.is_bigendian),
                            cv2.COLOR_GRAY2RGB)
    if layout.dtype == _U16:
        high_byte = 0 if msg.is_bigendian else 1
        samples = rows[:, high_byte:row_bytes:2]
    else:
        samples = rows[:, :row_bytes]
    if layout.channels > 1:
        samples = samples.reshape(msg.height, msg.width, layout.channels)
    return samples if layout.to_rgb is None else cv2.cvtColor(samples, layout.to_rgb)


def image_to_array(msg, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """
    Decode a raw image into the native array of its encoding (labels, scores, depth).

    :param msg: sensor_msgs/Image (or its fields) in one of :data:`SUPPORTED_ENCODINGS` or a
        ``<depth>C<n>`` encoding.
    :param max_pixels: largest accepted width * height.
    :return: (H, W) or (H, W, C) array of the encoding's dtype in native byte order; a view of
        ``msg.data`` where the byte order allows.
    :raises ImageError: for an unknown encoding or a bad size, step or data length.
    """
    layout = _layout(msg.encoding, generic=True)
    rows, row_bytes = _pixel_rows(msg, layout, max_pixels)
    wire = layout.dtype.newbyteorder('>' if msg.is_bigendian else '<')
    values = rows[:, :row_bytes].view(wire).astype(layout.dtype, copy=False)
    if layout.channels == 1:
        return values
    return values.reshape(msg.height, msg.width, layout.channels)


def compressed_to_rgb(msg, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """
    Decode a JPEG or PNG compressed image into an (H, W, 3) uint8 RGB array.

    The size in the stream header is checked against ``max_pixels`` before decoding, so that a
    small message cannot make the node allocate a huge image. EXIF orientation is ignored;
    16-bit PNG keeps the high byte, an alpha channel is dropped.

    :param msg: sensor_msgs/CompressedImage (or its fields); ``format`` is not trusted.
    :param max_pixels: largest accepted width * height.
    :return: RGB array (a new array).
    :raises ImageError: for empty, oversized or undecodable data.
    """
    bgr = _imdecode(msg, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION, max_pixels)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)


def compressed_to_array(msg, max_pixels: int = MAX_PIXELS) -> Tuple[np.ndarray, str]:
    """
    Decode a JPEG or PNG compressed image into its native array and encoding.

    The encoding named first in the format string (``"rgb8; jpeg compressed bgr8"``, as
    image_transport writes it) is restored when it has the dtype and channel count of the
    decoded stream; otherwise the stream's own (``mono8``, ``mono16``, ``bgr8``, ``bgra8``)
    is kept.

    :param msg: sensor_msgs/CompressedImage (or its fields).
    :param max_pixels: largest accepted width * height.
    :return: (H, W) or (H, W, C) array and its encoding.
    :raises ImageError: for empty, oversized or undecodable data.
    """
    image = _imdecode(msg, cv2.IMREAD_UNCHANGED, max_pixels)
    channels = 1 if image.ndim == 2 else image.shape[2]
    depth = 8 * image.dtype.itemsize
    prefix = {1: 'mono', 3: 'bgr', 4: 'bgra'}.get(channels)
    decoded = f'{prefix}{depth}' if prefix else f'{depth}UC{channels}'
    original = msg.format.split(';')[0].strip() if ';' in msg.format else decoded
    try:
        layout = _layout(original, generic=True)
    except ImageError:
        return image, decoded
    if (layout.dtype, layout.channels) != (image.dtype, channels):
        return image, decoded
    return _reorder(image, _order(decoded, channels), _order(original, channels)), original


def decode_image(msg, encoding: Optional[str] = None,
                 max_pixels: int = MAX_PIXELS) -> Tuple[np.ndarray, str]:
    """
    Decode a raw or compressed image message, e.g. one read from a bag.

    :param msg: sensor_msgs/Image or CompressedImage (anything with their fields).
    :param encoding: ``'rgb8'`` (or ``'bgr8'``) decodes as the node does (:func:`image_to_rgb`,
        :func:`compressed_to_rgb`); ``None`` keeps the native array and encoding
        (:func:`image_to_array`, :func:`compressed_to_array`); another encoding must be the
        message's own.
    :param max_pixels: largest accepted width * height.
    :return: the array and its encoding.
    :raises ImageError: for an unusable message or an unsupported target encoding.
    """
    compressed = hasattr(msg, 'format')
    if encoding in ('rgb8', 'bgr8'):
        rgb = compressed_to_rgb(msg, max_pixels) if compressed else image_to_rgb(msg, max_pixels)
        return (rgb if encoding == 'rgb8' else rgb[..., ::-1]), encoding
    if compressed:
        image, native = compressed_to_array(msg, max_pixels)
    else:
        image, native = image_to_array(msg, max_pixels), msg.encoding
    if encoding not in (None, native):
        raise ImageError('encoding', f'cannot convert a {native!r} image to {encoding!r}: '
                         'decode to rgb8, bgr8 or the native encoding')
    return image, native


def infer_encoding(image: np.ndarray) -> str:
    """
    Return the natural ROS encoding of an array.

    (H, W) uint8 → ``mono8``, uint16 → ``mono16``, other dtypes → ``<depth>C1`` (``32FC1``);
    (H, W, 3) uint8 → ``rgb8``; (H, W, 4) uint8 → ``rgba8``; others → ``<depth>C<n>``.

    :param image: (H, W) or (H, W, C) array.
    :return: the encoding name.
    :raises ValueError: for arrays of another rank or dtype.
    """
    depths = {np.dtype(v): k for k, v in _DEPTHS.items()}
    dtype = image.dtype.newbyteorder('=')
    if image.ndim not in (2, 3) or dtype not in depths:
        raise ValueError(f'cannot store a {image.dtype} array of shape {image.shape} as an '
                         'image')
    channels = 1 if image.ndim == 2 else image.shape[2]
    named = {(_U8, 1): 'mono8', (_U16, 1): 'mono16', (_U8, 3): 'rgb8', (_U8, 4): 'rgba8'}
    return named.get((dtype, channels), f'{depths[dtype]}C{channels}')


def image_fields(image: np.ndarray, encoding: Optional[str] = None) -> ImageFields:
    """
    Encode an array as the fields of a sensor_msgs/Image: packed little-endian rows.

    :param image: (H, W) or (H, W, C) array whose dtype and channels match the encoding.
    :param encoding: ROS encoding; ``None`` infers it (:func:`infer_encoding`).
    :return: the fields; ``data`` is a view of ``image`` when it is packed little-endian.
    :raises ValueError: when the array does not match the encoding.
    """
    encoding = encoding or infer_encoding(image)
    layout = _matching_layout(image, encoding)
    packed = np.ascontiguousarray(image, dtype=layout.dtype.newbyteorder('<'))
    return ImageFields(int(packed.shape[0]), int(packed.shape[1]), encoding, 0,
                       int(packed.strides[0]), packed.view(np.uint8).reshape(-1))


def compress(image: np.ndarray, encoding: str, fmt: str = 'jpeg',
             quality: int = 90) -> Tuple[str, np.ndarray]:
    """
    Compress an array as image_transport's ``compressed`` plugin does.

    Colour is stored as BGR (BGRA in PNG), grey as is; 16 bits only in PNG. The format string
    names the array's encoding first, so that :func:`compressed_to_array` restores it.

    :param image: (H, W) or (H, W, C) array matching ``encoding``: a grey (mono8, mono16,
        8UC1, 16UC1) or colour (rgb, bgr, rgba, bgra, 8UC3, 8UC4) encoding.
    :param encoding: ROS encoding of ``image``.
    :param fmt: ``jpeg`` or ``png``.
    :param quality: JPEG quality, 0..100.
    :return: the format string (e.g. ``rgb8; jpeg compressed bgr8``) and the stream, a flat
        uint8 array (bytes-like).
    :raises ValueError: for another format, an encoding the format cannot hold, or an array
        that does not match the encoding.
    """
    if fmt not in COMPRESSIONS:
        raise ValueError(f'format must be jpeg or png, got {fmt!r}')
    layout = _matching_layout(image, encoding)
    order = _order(encoding, layout.channels)
    depths = (_U8,) if fmt == 'jpeg' else (_U8, _U16)
    if order is None or layout.dtype not in depths:
        raise ValueError(f'cannot {fmt}-compress a {encoding!r} image: {fmt} holds 8-bit '
                         f'{"" if fmt == "jpeg" else "or 16-bit "}grey or colour')
    stored = 'GRAY' if order == 'GRAY' else 'BGRA' if len(order) == 4 and fmt == 'png' else 'BGR'
    name = {'GRAY': 'mono', 'BGR': 'bgr', 'BGRA': 'bgra'}[stored] + str(8 * layout.dtype.itemsize)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == 'jpeg' else []
    ok, stream = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png',
                              _reorder(np.asarray(image), order, stored), params)
    if not ok:
        raise ValueError(f'OpenCV cannot encode a {image.dtype} {image.shape} image as {fmt}')
    return f'{encoding}; {fmt} compressed {name}', stream.reshape(-1)


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
    Convert a ``builtin_interfaces/Time`` (e.g. ``msg.header.stamp``) to integer nanoseconds.

    :param stamp: message with ``sec`` and ``nanosec``.
    :return: nanoseconds since the clock's epoch.
    """
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Tuple[int, int]:
    """
    Split integer nanoseconds into the fields of a ``builtin_interfaces/Time``.

    :param stamp_ns: nanoseconds since the clock's epoch.
    :return: ``(sec, nanosec)``.
    """
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return sec, nanosec


def _layout(encoding: str, generic: bool) -> _Layout:
    """Look up an encoding; ``generic`` also accepts ``<depth>C<n>``."""
    layout = _LAYOUTS.get(encoding)
    match = _GENERIC.fullmatch(encoding) if generic and layout is None else None
    if match:
        layout = _Layout(int(match[2]), np.dtype(_DEPTHS[match[1]]), None)
    if layout is None:
        extra = ' or <depth>C<n>' if generic else ''
        raise ImageError('encoding', f'unsupported encoding {encoding!r} (supported: '
                         f'{", ".join(SUPPORTED_ENCODINGS)}{extra})')
    return layout


def _matching_layout(image: np.ndarray, encoding: str) -> _Layout:
    """Return the layout of an encoding; ValueError unless ``image`` has its dtype/channels."""
    layout = _layout(encoding, generic=True)
    channels = 1 if image.ndim == 2 else image.shape[-1]
    if image.ndim not in (2, 3) or image.dtype.newbyteorder('=') != layout.dtype \
            or channels != layout.channels:
        raise ValueError(f'a {image.dtype} array of shape {image.shape} does not match '
                         f'encoding {encoding!r} ({layout.dtype}, {layout.channels} '
                         'channel(s))')
    return layout


def _order(encoding: str, channels: int) -> Optional[str]:
    """Return OpenCV's channel order of a grey or colour encoding, None for Bayer, YUV, ..."""
    if _GENERIC.fullmatch(encoding):
        return {1: 'GRAY', 3: 'BGR', 4: 'BGRA'}.get(channels)
    return _ORDERS.get(encoding.rstrip('0123456789'))


def _reorder(image: np.ndarray, source: Optional[str], target: Optional[str]) -> np.ndarray:
    """Convert between channel orders (RGB -> BGR, RGBA -> BGR, ...); same order: as is."""
    if source == target or source is None or target is None:
        return image
    return cv2.cvtColor(image, getattr(cv2, f'COLOR_{source}2{target}'))


def _pixel_rows(msg, layout: _Layout, max_pixels: int) -> Tuple[np.ndarray, int]:
    """Check a raw image's size, step and data length; return (H, step) bytes, row bytes."""
    height, width, step = msg.height, msg.width, msg.step
    _check_size(width, height, max_pixels)
    if msg.encoding in _YUV and width % 2:
        raise ImageError('size', f'{msg.encoding} needs an even width, got {width}')
    row_bytes = width * layout.channels * layout.dtype.itemsize
    if step < row_bytes:
        raise ImageError('step', f'step {step} is smaller than width * bytes per pixel = '
                         f'{row_bytes}')
    if len(msg.data) != step * height:
        raise ImageError('size', f'data has {len(msg.data)} bytes, expected step * height = '
                         f'{step * height}')
    return np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step), row_bytes


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


def _imdecode(msg, flags: int, max_pixels: int) -> np.ndarray:
    """Check a JPEG/PNG stream's header size, then decode it with OpenCV."""
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError('empty', 'compressed image has no data')
    width, height = _compressed_size(data)
    _check_size(width, height, max_pixels)
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:
        raise ImageError('undecodable', f'cannot decode {msg.format!r} data: {exc}') from exc
    if image is None:
        raise ImageError('undecodable', f'cannot decode {len(data)} bytes of {msg.format!r} '
                         f'data')
    _check_size(image.shape[1], image.shape[0], max_pixels)
    return image


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
