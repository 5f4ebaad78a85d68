# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The image codec on plain message-like objects, without rclpy or rosbags.

Each encoding is produced from a known RGB image with numpy here and decoded by the codec;
the rclpy message builders and the fuzz test are in test_conversions.py.
"""

from types import SimpleNamespace

import cv2
import numpy as np
from pixel_anomaly_ros.imaging import (
    check_stamp, compress, compressed_to_array, compressed_to_rgb, decode_image, image_fields,
    image_to_array, image_to_rgb, ImageError, infer_encoding, ns_to_stamp, REJECTION_REASONS,
    stamp_to_ns, SUPPORTED_ENCODINGS)
import pytest

EXACT = np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)
# Four flat 8x8 colour blocks; demosaicing and chroma subsampling are exact inside each block.
BLOCK_COLOURS = np.array([[(200, 100, 30), (20, 180, 90)], [(60, 60, 220), (240, 240, 240)]],
                         np.uint8)
FLAT = np.repeat(np.repeat(BLOCK_COLOURS, 8, axis=0), 8, axis=1)
_INNER = (np.arange(16) % 8 >= 2) & (np.arange(16) % 8 <= 5)
INTERIOR = _INNER[:, None] & _INNER[None, :]

BAYER = ['bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8']
EIGHT_BIT = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', '8UC3', '8UC4']
SIXTEEN_BIT = ['rgb16', 'bgr16', 'rgba16', 'bgra16', 'mono16', '16UC1']
YUV = ['yuv422', 'uyvy', 'yuyv', 'yuv422_yuy2']
ALL = EIGHT_BIT + SIXTEEN_BIT + BAYER + [b.replace('8', '16') for b in BAYER] + YUV + ['32FC1']


def raw(rows, encoding, width, pad=0, big=False):
    """Wrap (H, row bytes) uint8 rows into Image fields, padding every row with ``pad`` bytes."""
    padded = np.full((rows.shape[0], rows.shape[1] + pad), 0xAB, np.uint8)
    padded[:, :rows.shape[1]] = rows
    return SimpleNamespace(height=rows.shape[0], width=width, encoding=encoding,
                           is_bigendian=int(big), step=rows.shape[1] + pad,
                           data=bytearray(padded.tobytes()))


def compressed(data, fmt='jpeg'):
    """Wrap a stream into CompressedImage fields."""
    return SimpleNamespace(format=fmt, data=bytes(data))


def bytes16(values, big):
    """Serialise uint16 samples as (H, row bytes) uint8 rows."""
    ordered = values.astype('>u2' if big else '<u2')
    return ordered.view(np.uint8).reshape(values.shape[0], -1)


def mosaic(rgb, pattern):
    """Sample an RGB image through a Bayer filter, e.g. pattern ``rggb`` (row 0: R G)."""
    out = np.empty(rgb.shape[:2], rgb.dtype)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, 'rgb'.index(colour)]
    return out


def yuv422(rgb, order):
    """Encode RGB as BT.601 limited-range YUV 4:2:2 in ``uyvy`` or ``yuyv`` byte order."""
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    u, v = (0.5 * (c[:, 0::2] + c[:, 1::2]) for c in (u, v))
    if order == 'uyvy':
        planes = [u, y[:, 0::2], v, y[:, 1::2]]
    else:
        planes = [y[:, 0::2], u, y[:, 1::2], v]
    packed = np.stack(planes, axis=-1).round().clip(0, 255).astype(np.uint8)
    return packed.reshape(rgb.shape[0], -1)


def encode_rows(encoding, big):
    """
    Encode a known image in an encoding with numpy.

    :return: message rows, width, expected RGB, tolerance, and a mask of the pixels to compare.
    """
    rng = np.random.default_rng(1)
    h, w = EXACT.shape[:2]
    grey = EXACT[..., 1]
    low = rng.integers(0, 256, EXACT.shape, np.uint16)  # low bytes are dropped by scaling
    if encoding in ('rgb8', 'bgr8', '8UC3', 'rgba8', 'bgra8', '8UC4'):
        pixels = EXACT if encoding.startswith('rgb') else EXACT[..., ::-1]
        if encoding.endswith(('a8', '4')):
            pixels = np.concatenate([pixels, np.full((h, w, 1), 77, np.uint8)], axis=-1)
        return pixels.reshape(h, -1), w, EXACT, 0, None
    if encoding in ('mono8', '8UC1'):
        return grey, w, np.stack([grey] * 3, -1), 0, None
    if encoding in ('mono16', '16UC1'):
        values = grey.astype(np.uint16) * 256 + low[..., 0]
        return bytes16(values, big), w, np.stack([grey] * 3, -1), 0, None
    if encoding in ('rgb16', 'bgr16', 'rgba16', 'bgra16'):
        values = EXACT.astype(np.uint16) * 256 + low
        if encoding.startswith('bgr'):
            values = values[..., ::-1]
        if encoding.endswith('a16'):
            values = np.concatenate([values, np.full((h, w, 1), 999, np.uint16)], axis=-1)
        return bytes16(values.reshape(h, -1), big), w, EXACT, 0, None
    if encoding.startswith('bayer_'):
        rows = mosaic(FLAT, encoding[6:10])
        if encoding.endswith('16'):
            rows = bytes16(rows.astype(np.uint16) * 256 + 255, big)
        return rows, 16, FLAT, 0, INTERIOR
    if encoding in YUV:
        order = 'uyvy' if encoding in ('yuv422', 'uyvy') else 'yuyv'
        return yuv422(FLAT, order), 16, FLAT, 2, INTERIOR
    assert encoding == '32FC1'
    grey = grey.copy()
    grey[0, 0], grey[-1, -1] = 0, 255
    values = (-3.5 + 0.25 * grey).astype('>f4' if big else '<f4')
    return values.view(np.uint8).reshape(h, -1), w, np.stack([grey] * 3, -1), 0, None


def assert_decodes_to(decoded, expected, tol, where):
    """Compare a decoded RGB image with the expected one (inside ``where`` when given)."""
    assert decoded.shape == expected.shape and decoded.dtype == np.uint8
    if where is not None:
        decoded, expected = decoded[where], expected[where]
    np.testing.assert_allclose(decoded, expected, atol=tol, rtol=0)


@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize('encoding', ALL)
def test_every_encoding_decodes_to_rgb(encoding, pad):
    for big in (False, True) if ('16' in encoding or '32' in encoding) else (False,):
        rows, width, expected, tol, where = encode_rows(encoding, big)
        decoded = image_to_rgb(raw(rows, encoding, width, pad=pad, big=big))
        assert_decodes_to(decoded, expected, tol, where)


def test_all_supported_encodings_are_covered():
    assert sorted(ALL) == sorted(SUPPORTED_ENCODINGS)


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
def test_bayer_patterns_follow_ros_naming_on_flat_colours(pattern):
    for colour in [(200, 100, 30), (30, 100, 200), (10, 250, 10), (255, 0, 128)]:
        rgb = np.empty((8, 8, 3), np.uint8)
        rgb[:] = colour
        decoded = image_to_rgb(raw(mosaic(rgb, pattern), f'bayer_{pattern}8', 8))
        np.testing.assert_array_equal(decoded[2:6, 2:6], rgb[2:6, 2:6])


def test_rgb8_and_native_decoding_are_zero_copy():
    msg = raw(np.zeros((4, 12), np.uint8), 'rgb8', 4)
    view, native = image_to_rgb(msg), image_to_array(msg)
    msg.data[0] = 200
    assert view[0, 0, 0] == 200 and native[0, 0, 0] == 200


def test_32fc1_constant_image_is_black():
    values = np.full((3, 4), 7.5, np.float32)
    decoded = image_to_rgb(raw(values.view(np.uint8), '32FC1', 4))
    np.testing.assert_array_equal(decoded, 0)


def rejects(reason, call):
    """Call, expect an ImageError with ``reason`` and return its text."""
    with pytest.raises(ImageError) as info:
        call()
    assert info.value.reason == reason, info.value
    assert reason in REJECTION_REASONS
    return str(info.value)


@pytest.mark.parametrize('decode', [image_to_rgb, image_to_array])
@pytest.mark.parametrize('change, reason, text', [
    ({'encoding': 'yuv999'}, 'encoding', 'supported: rgb8'),
    ({'encoding': ''}, 'encoding', 'unsupported'),
    ({'step': 11}, 'step', 'step 11 is smaller'),
    ({'height': 5}, 'size', 'expected step * height = 60'),
    ({'height': 3}, 'size', 'data has 48 bytes'),
    ({'width': 0}, 'empty', 'empty image 0x4'),
    ({'height': 0}, 'empty', 'empty image'),
    ({'width': 1 << 20, 'height': 1 << 20}, 'too_large', 'more than'),
])
def test_bad_image_messages_are_rejected(decode, change, reason, text):
    msg = raw(np.zeros((4, 12), np.uint8), 'rgb8', 4)
    for key, value in change.items():
        setattr(msg, key, value)
    assert text in rejects(reason, lambda: decode(msg))


def test_truncated_and_overlong_data_and_max_pixels():
    rows = np.zeros((4, 12), np.uint8)
    msg = raw(rows, 'rgb8', 4)
    msg.data = msg.data[:-1]
    rejects('size', lambda: image_to_rgb(msg))
    msg.data = msg.data + bytearray(2)
    rejects('size', lambda: image_to_rgb(msg))
    rejects('too_large', lambda: image_to_rgb(raw(rows, 'rgb8', 4), max_pixels=15))
    assert image_to_rgb(raw(rows, 'rgb8', 4), max_pixels=16).shape == (4, 4, 3)


def test_odd_width_yuv_is_rejected():
    msg = raw(np.zeros((2, 6), np.uint8), 'uyvy', 3)
    assert 'even width' in rejects('size', lambda: image_to_rgb(msg))


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_float_images_are_rejected_for_rgb_only(bad):
    values = np.zeros((3, 4), np.float32)
    values[1, 2] = bad
    msg = raw(values.view(np.uint8), '32FC1', 4)
    rejects('nan', lambda: image_to_rgb(msg))
    np.testing.assert_array_equal(image_to_array(msg), values)  # a score map may hold NaN


@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize('big', [False, True])
@pytest.mark.parametrize('encoding, dtype, channels', [
    ('mono8', np.uint8, 1), ('rgb8', np.uint8, 3), ('bgra8', np.uint8, 4),
    ('mono16', np.uint16, 1), ('16UC1', np.uint16, 1), ('rgb16', np.uint16, 3),
    ('32FC1', np.float32, 1), ('uyvy', np.uint8, 2), ('bayer_rggb16', np.uint16, 1),
    ('16SC1', np.int16, 1), ('32SC1', np.int32, 1), ('64FC1', np.float64, 1),
    ('32FC3', np.float32, 3)])
def test_native_decoding_keeps_values(encoding, dtype, channels, big, pad):
    rng = np.random.default_rng(3)
    shape = (5, 6) if channels == 1 else (5, 6, channels)
    if np.dtype(dtype).kind == 'f':
        values = rng.normal(0, 100, shape).astype(dtype)
    else:
        values = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, shape, dtype)
    wire = values.astype(values.dtype.newbyteorder('>' if big else '<'))
    msg = raw(wire.view(np.uint8).reshape(5, -1), encoding, 6, pad=pad, big=big)
    decoded = image_to_array(msg)
    assert decoded.dtype == dtype and decoded.dtype.isnative and decoded.shape == shape
    np.testing.assert_array_equal(decoded, values)
    assert decode_image(msg)[1] == encoding
    np.testing.assert_array_equal(decode_image(msg, encoding)[0], values)


def test_generic_encodings_are_native_only():
    msg = raw(np.zeros((2, 8), np.uint8), '16SC1', 4)
    assert image_to_array(msg).shape == (2, 4)
    assert 'or <depth>C<n>' not in rejects('encoding', lambda: image_to_rgb(msg))
    msg.encoding = '16SC0'
    assert 'or <depth>C<n>' in rejects('encoding', lambda: image_to_array(msg))


def test_decode_image_rgb_is_the_node_decoding():
    values = np.array([[0x0100, 0x80FF, 0xFF00]], np.uint16)  # low byte below the high byte
    msg = raw(bytes16(values, big=True), 'mono16', 3, big=True)
    rgb, encoding = decode_image(msg, 'rgb8')
    assert encoding == 'rgb8'
    np.testing.assert_array_equal(rgb, image_to_rgb(msg))
    np.testing.assert_array_equal(rgb[..., 0], [[1, 128, 255]])
    bgr, _ = decode_image(raw(EXACT.reshape(6, -1), 'rgb8', 8), 'bgr8')
    np.testing.assert_array_equal(bgr, EXACT[..., ::-1])
    native, encoding = decode_image(msg)
    assert encoding == 'mono16'
    np.testing.assert_array_equal(native, values)
    assert "'mono16' image to 'mono8'" in rejects('encoding', lambda: decode_image(msg, 'mono8'))


def test_image_fields_pack_little_endian_rows():
    strided = EXACT[:, ::2]
    fields = image_fields(strided, 'rgb8')
    assert fields[:5] == (6, 4, 'rgb8', 0, 12)
    assert fields.data.dtype == np.uint8 and fields.data.shape == (72,)
    np.testing.assert_array_equal(fields.data.reshape(6, 4, 3), strided)
    big = np.arange(6, dtype='>u2').reshape(2, 3)
    fields = image_fields(big)
    assert (fields.encoding, fields.is_bigendian, fields.step) == ('mono16', 0, 6)
    np.testing.assert_array_equal(np.frombuffer(fields.data, '<u2').reshape(2, 3), big)
    score = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    fields = image_fields(score)
    assert fields.encoding == '32FC1' and fields.data.base is not None  # a view, not a copy
    np.testing.assert_array_equal(image_to_array(SimpleNamespace(**fields._asdict())), score)
    with pytest.raises(ValueError, match="does not match encoding 'mono8'"):
        image_fields(score, 'mono8')
    with pytest.raises(ValueError, match='does not match'):
        image_fields(EXACT, 'rgba8')
    with pytest.raises(ImageError, match='unsupported encoding'):
        image_fields(EXACT, 'nv12')


def test_infer_encoding():
    assert infer_encoding(np.zeros((2, 2), np.uint8)) == 'mono8'
    assert infer_encoding(np.zeros((2, 2), '>u2')) == 'mono16'
    assert infer_encoding(np.zeros((2, 2, 3), np.uint8)) == 'rgb8'
    assert infer_encoding(np.zeros((2, 2, 4), np.uint8)) == 'rgba8'
    assert infer_encoding(np.zeros((2, 2), np.float32)) == '32FC1'
    assert infer_encoding(np.zeros((2, 2, 2), np.int16)) == '16SC2'
    with pytest.raises(ValueError, match='cannot store'):
        infer_encoding(np.zeros((2, 2), np.complex64))
    with pytest.raises(ValueError, match='cannot store'):
        infer_encoding(np.zeros(4, np.uint8))


@pytest.mark.parametrize('encoding, stored', [
    ('rgb8', 'bgr8'), ('bgr8', 'bgr8'), ('8UC3', 'bgr8'), ('rgba8', 'bgra8'),
    ('bgra8', 'bgra8'), ('8UC4', 'bgra8'), ('mono8', 'mono8'), ('8UC1', 'mono8'),
    ('mono16', 'mono16'), ('16UC1', 'mono16'), ('rgb16', 'bgr16')])
def test_png_round_trip_restores_encoding(encoding, stored):
    values = EXACT if encoding.startswith('rgb') else EXACT[..., ::-1]
    if encoding.endswith(('a8', '4')):
        values = np.concatenate([values, EXACT[..., :1]], axis=-1)
    if encoding in ('mono8', '8UC1', 'mono16', '16UC1'):
        values = EXACT[..., 1]
    if '16' in encoding:
        values = values.astype(np.uint16) * 257 + 3
    fmt, stream = compress(values, encoding, 'png')
    assert fmt == f'{encoding}; png compressed {stored}'
    assert stream.dtype == np.uint8 and stream.ndim == 1
    image, restored = compressed_to_array(compressed(stream, fmt))
    assert restored == encoding
    np.testing.assert_array_equal(image, values)
    # The stream itself holds BGR, as image_transport's: OpenCV reads the colours right.
    bgr = cv2.imdecode(stream, cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], compressed_to_rgb(compressed(stream, fmt)))
    if encoding in ('rgb8', 'bgr8', '8UC3', 'rgba8', 'bgra8', '8UC4'):
        np.testing.assert_array_equal(bgr[..., ::-1], EXACT)


def test_jpeg_compression():
    fmt, stream = compress(FLAT, 'rgb8', 'jpeg', quality=95)
    assert fmt == 'rgb8; jpeg compressed bgr8'
    assert_decodes_to(compressed_to_rgb(compressed(stream, fmt)), FLAT, 6, INTERIOR)
    image, encoding = compressed_to_array(compressed(stream, fmt))
    assert encoding == 'rgb8'
    assert_decodes_to(image, FLAT, 6, INTERIOR)
    fmt, stream = compress(np.dstack([FLAT, FLAT[..., :1]]), 'rgba8', 'jpeg')
    assert fmt == 'rgba8; jpeg compressed bgr8'
    image, encoding = compressed_to_array(compressed(stream, fmt))
    assert encoding == 'bgr8' and image.shape == (16, 16, 3)  # alpha is gone: stream's own
    image, encoding = compressed_to_array(compressed(stream, 'jpeg'))
    assert encoding == 'bgr8'
    with pytest.raises(ValueError, match='jpeg or png'):
        compress(FLAT, 'rgb8', 'webp')
    with pytest.raises(ValueError, match='cannot jpeg-compress'):
        compress(FLAT.astype(np.uint16), 'rgb16', 'jpeg')
    unfit = {'bayer_rggb8': np.zeros((4, 4), np.uint8), 'uyvy': np.zeros((4, 4, 2), np.uint8),
             '32FC1': np.zeros((4, 4), np.float32)}
    for encoding, image in unfit.items():
        with pytest.raises(ValueError, match=f'cannot png-compress a {encoding!r}'):
            compress(image, encoding, 'png')
    with pytest.raises(ValueError, match='does not match'):
        compress(FLAT, 'mono8', 'png')


def _patched(stream: bytes, marker: bytes, offset: int, width: int, height: int) -> bytes:
    """Overwrite the size fields after a marker (JPEG SOF or PNG IHDR)."""
    at = stream.index(marker) + offset
    if marker == b'IHDR':
        fields = width.to_bytes(4, 'big') + height.to_bytes(4, 'big')
    else:
        fields = height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
    return stream[:at] + fields + stream[at + len(fields):]


@pytest.mark.parametrize('decode', [compressed_to_rgb, compressed_to_array])
def test_bad_compressed_messages_are_rejected(decode):
    jpeg = bytes(compress(FLAT, 'bgr8', 'jpeg')[1])
    png = bytes(compress(FLAT, 'bgr8', 'png')[1])
    rejects('empty', lambda: decode(compressed(b'')))
    assert 'neither' in rejects('undecodable', lambda: decode(compressed(b'xyz')))
    rejects('undecodable', lambda: decode(compressed(jpeg[:40])))
    rejects('undecodable', lambda: decode(compressed(png[:30])))
    rejects('undecodable', lambda: decode(compressed(png[:8] + b'\0' * 40)))
    rejects('too_large', lambda: decode(compressed(jpeg), max_pixels=255))
    # the header is checked before decoding: a small stream cannot claim a huge image
    bomb = _patched(jpeg, b'\xff\xc0', 5, 60000, 60000)
    rejects('too_large', lambda: decode(compressed(bomb)))
    bomb = _patched(png, b'IHDR', 4, 1 << 20, 1 << 20)
    rejects('too_large', lambda: decode(compressed(bomb)))
    rejects('empty', lambda: decode(compressed(_patched(png, b'IHDR', 4, 0, 16))))


def test_check_stamp_and_stamp_conversions():
    now = 1_700_000_000 * 10**9
    check_stamp(now - 10**9, now)
    check_stamp(now + 10**9 // 2, now)
    check_stamp(now + 10**12, 0)  # simulated clock not started: only the zero check applies
    assert 'zero' in rejects('stamp', lambda: check_stamp(0, now))
    text = rejects('stamp', lambda: check_stamp(now + 2 * 10**9, now, max_future_s=1.0))
    assert '2.000 s in the future' in text
    assert stamp_to_ns(SimpleNamespace(sec=0, nanosec=0)) == 0
    assert stamp_to_ns(SimpleNamespace(sec=3, nanosec=5)) == 3 * 10**9 + 5
    assert stamp_to_ns(SimpleNamespace(sec=np.int32(2**31 - 1), nanosec=np.uint32(7))) == \
        (2**31 - 1) * 10**9 + 7  # rosbags fields are numpy scalars: no overflow
    assert ns_to_stamp(now + 42) == (1_700_000_000, 42)
    assert stamp_to_ns(SimpleNamespace(sec=1_700_000_000, nanosec=42)) == now + 42
