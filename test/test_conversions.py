# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Image message <-> numpy conversions, without spinning any node.

Each encoding is produced from a known RGB image with numpy here and decoded by the module;
a fuzz test feeds thousands of malformed messages and expects ImageError or a valid image.
"""

import array
from collections import Counter

import numpy as np
import pytest

pytest.importorskip('rclpy')
from pixel_anomaly_ros.ros.conversions import (  # noqa: E402, I100
    check_stamp, compressed_to_rgb, image_to_rgb, ImageError, numpy_to_compressed,
    numpy_to_image, REJECTION_REASONS, stamp_to_ns, SUPPORTED_ENCODINGS)
from pixel_anomaly_ros.ros.overhead_benchmark import measure_conversion_overhead  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

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


def _msg(rows, encoding, width, pad=0, big=False):
    """Wrap (H, row bytes) uint8 rows into an Image, padding every row with ``pad`` bytes."""
    msg = Image()
    msg.height, msg.width, msg.encoding = rows.shape[0], width, encoding
    msg.is_bigendian = int(big)
    msg.step = rows.shape[1] + pad
    padded = np.full((msg.height, msg.step), 0xAB, np.uint8)
    padded[:, :rows.shape[1]] = rows
    data = array.array('B')
    data.frombytes(padded.tobytes())
    msg.data = data
    return msg


def _bytes16(values, big):
    """Serialise uint16 samples as (H, row bytes) uint8 rows."""
    ordered = values.astype('>u2' if big else '<u2')
    return ordered.view(np.uint8).reshape(values.shape[0], -1)


def _mosaic(rgb, pattern):
    """Sample an RGB image through a Bayer filter, e.g. pattern ``rggb`` (row 0: R G)."""
    mosaic = np.empty(rgb.shape[:2], rgb.dtype)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, 'rgb'.index(colour)]
    return mosaic


def _yuv422(rgb, order):
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


def _encode(encoding, big):
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
        return _bytes16(values, big), w, np.stack([grey] * 3, -1), 0, None
    if encoding in ('rgb16', 'bgr16', 'rgba16', 'bgra16'):
        values = EXACT.astype(np.uint16) * 256 + low
        if encoding.startswith('bgr'):
            values = values[..., ::-1]
        if encoding.endswith('a16'):
            values = np.concatenate([values, np.full((h, w, 1), 999, np.uint16)], axis=-1)
        return _bytes16(values.reshape(h, -1), big), w, EXACT, 0, None
    if encoding.startswith('bayer_'):
        mosaic = _mosaic(FLAT, encoding[6:10])
        if encoding.endswith('16'):
            mosaic = _bytes16(mosaic.astype(np.uint16) * 256 + 255, big)
        return mosaic, 16, FLAT, 0, INTERIOR
    if encoding in YUV:
        order = 'uyvy' if encoding in ('yuv422', 'uyvy') else 'yuyv'
        return _yuv422(FLAT, order), 16, FLAT, 2, INTERIOR
    assert encoding == '32FC1'
    grey = grey.copy()
    grey[0, 0], grey[-1, -1] = 0, 255
    values = (-3.5 + 0.25 * grey).astype('>f4' if big else '<f4')
    return values.view(np.uint8).reshape(h, -1), w, np.stack([grey] * 3, -1), 0, None


def _assert_decodes_to(decoded, expected, tol, where):
    assert decoded.shape == expected.shape and decoded.dtype == np.uint8
    if where is not None:
        decoded, expected = decoded[where], expected[where]
    np.testing.assert_allclose(decoded, expected, atol=tol, rtol=0)


@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize('encoding', ALL)
def test_every_encoding_decodes_to_rgb(encoding, pad):
    for big in (False, True) if ('16' in encoding or '32' in encoding) else (False,):
        rows, width, expected, tol, where = _encode(encoding, big)
        decoded = image_to_rgb(_msg(rows, encoding, width, pad=pad, big=big))
        _assert_decodes_to(decoded, expected, tol, where)


def test_all_supported_encodings_are_covered():
    assert sorted(ALL) == sorted(SUPPORTED_ENCODINGS)


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
def test_bayer_patterns_follow_ros_naming_on_flat_colours(pattern):
    for colour in [(200, 100, 30), (30, 100, 200), (10, 250, 10), (255, 0, 128)]:
        rgb = np.empty((8, 8, 3), np.uint8)
        rgb[:] = colour
        decoded = image_to_rgb(_msg(_mosaic(rgb, pattern), f'bayer_{pattern}8', 8))
        np.testing.assert_array_equal(decoded[2:6, 2:6], rgb[2:6, 2:6])


def test_rgb8_decoding_is_zero_copy():
    msg = _msg(np.zeros((4, 12), np.uint8), 'rgb8', 4)
    view = image_to_rgb(msg)
    msg.data[0] = 200
    assert view[0, 0, 0] == 200


def test_32fc1_constant_image_is_black():
    values = np.full((3, 4), 7.5, np.float32)
    decoded = image_to_rgb(_msg(values.view(np.uint8), '32FC1', 4))
    np.testing.assert_array_equal(decoded, 0)


def _rejects(reason, call):
    with pytest.raises(ImageError) as info:
        call()
    assert info.value.reason == reason, info.value
    assert reason in REJECTION_REASONS
    return str(info.value)


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
def test_bad_image_messages_are_rejected(change, reason, text):
    msg = _msg(np.zeros((4, 12), np.uint8), 'rgb8', 4)
    for key, value in change.items():
        setattr(msg, key, value)
    assert text in _rejects(reason, lambda: image_to_rgb(msg))


def test_truncated_and_overlong_data_and_max_pixels():
    rows = np.zeros((4, 12), np.uint8)
    msg = _msg(rows, 'rgb8', 4)
    msg.data = msg.data[:-1]
    _rejects('size', lambda: image_to_rgb(msg))
    msg.data = msg.data + array.array('B', [0, 0])
    _rejects('size', lambda: image_to_rgb(msg))
    _rejects('too_large', lambda: image_to_rgb(_msg(rows, 'rgb8', 4), max_pixels=15))
    assert image_to_rgb(_msg(rows, 'rgb8', 4), max_pixels=16).shape == (4, 4, 3)


def test_odd_width_yuv_is_rejected():
    msg = _msg(np.zeros((2, 6), np.uint8), 'uyvy', 3)
    assert 'even width' in _rejects('size', lambda: image_to_rgb(msg))


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_float_images_are_rejected(bad):
    values = np.zeros((3, 4), np.float32)
    values[1, 2] = bad
    _rejects('nan', lambda: image_to_rgb(_msg(values.view(np.uint8), '32FC1', 4)))


def test_jpeg_and_png_round_trip():
    jpeg = numpy_to_compressed(FLAT[..., ::-1], 'jpeg', Header(frame_id='cam'), quality=95)
    assert jpeg.format == 'bgr8; jpeg compressed bgr8' and jpeg.header.frame_id == 'cam'
    _assert_decodes_to(compressed_to_rgb(jpeg), FLAT, 6, INTERIOR)
    png = numpy_to_compressed(EXACT[..., ::-1], 'png')
    np.testing.assert_array_equal(compressed_to_rgb(png), EXACT)
    grey = numpy_to_compressed(EXACT[..., 0], 'png')
    assert grey.format == 'mono8; png compressed mono8'
    np.testing.assert_array_equal(compressed_to_rgb(grey), np.stack([EXACT[..., 0]] * 3, -1))
    with pytest.raises(ValueError, match='jpeg or png'):
        numpy_to_compressed(EXACT, 'webp')


def _compressed(data: bytes) -> CompressedImage:
    msg = CompressedImage(format='jpeg')
    msg.data = array.array('B', data)
    return msg


def _patched(stream: bytes, marker: bytes, offset: int, width: int, height: int) -> bytes:
    """Overwrite the size fields after a marker (JPEG SOF or PNG IHDR)."""
    at = stream.index(marker) + offset
    if marker == b'IHDR':
        fields = width.to_bytes(4, 'big') + height.to_bytes(4, 'big')
    else:
        fields = height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
    return stream[:at] + fields + stream[at + len(fields):]


def test_bad_compressed_messages_are_rejected():
    jpeg = bytes(numpy_to_compressed(FLAT, 'jpeg').data)
    png = bytes(numpy_to_compressed(FLAT, 'png').data)
    _rejects('empty', lambda: compressed_to_rgb(_compressed(b'')))
    assert 'neither' in _rejects('undecodable', lambda: compressed_to_rgb(_compressed(b'xyz')))
    _rejects('undecodable', lambda: compressed_to_rgb(_compressed(jpeg[:40])))
    _rejects('undecodable', lambda: compressed_to_rgb(_compressed(png[:30])))
    _rejects('undecodable', lambda: compressed_to_rgb(_compressed(png[:8] + b'\0' * 40)))
    _rejects('too_large', lambda: compressed_to_rgb(_compressed(jpeg), max_pixels=255))
    # the header is checked before decoding: a small stream cannot claim a huge image
    bomb = _patched(jpeg, b'\xff\xc0', 5, 60000, 60000)
    _rejects('too_large', lambda: compressed_to_rgb(_compressed(bomb)))
    bomb = _patched(png, b'IHDR', 4, 1 << 20, 1 << 20)
    _rejects('too_large', lambda: compressed_to_rgb(_compressed(bomb)))
    _rejects('empty', lambda: compressed_to_rgb(_compressed(_patched(png, b'IHDR', 4, 0, 16))))


def test_check_stamp():
    now = 1_700_000_000 * 10**9
    check_stamp(now - 10**9, now)
    check_stamp(now + 10**9 // 2, now)
    check_stamp(now + 10**12, 0)  # simulated clock not started: only the zero check applies
    assert 'zero' in _rejects('stamp', lambda: check_stamp(0, now))
    text = _rejects('stamp', lambda: check_stamp(now + 2 * 10**9, now, max_future_s=1.0))
    assert '2.000 s in the future' in text
    assert stamp_to_ns(Header().stamp) == 0
    header = Header()
    header.stamp.sec, header.stamp.nanosec = 3, 5
    assert stamp_to_ns(header.stamp) == 3 * 10**9 + 5


def test_encode_round_trip_keeps_header():
    header = Header(frame_id='cam')
    score = np.random.default_rng(1).random((6, 9), dtype=np.float32)
    msg = numpy_to_image(score, '32FC1', header)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (6, 9, 36, '32FC1')
    assert msg.header.frame_id == 'cam' and msg.is_bigendian == 0
    assert isinstance(msg.data, array.array)
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.float32).reshape(6, 9), score)


def test_encode_strided_and_big_endian_arrays_packs_rows():
    rgb = np.ascontiguousarray(EXACT[:, ::2])  # (6, 4, 3)
    msg = numpy_to_image(EXACT[:, ::2], 'rgb8', Header())
    assert (msg.width, msg.step) == (4, 12)
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    big = np.arange(6, dtype='>u2').reshape(2, 3)
    msg = numpy_to_image(big, 'mono16', Header())
    assert msg.is_bigendian == 0
    np.testing.assert_array_equal(np.frombuffer(msg.data, '<u2').reshape(2, 3), big)


def test_overhead_benchmark_times_every_conversion():
    record = measure_conversion_overhead(64, 32, runs=2)
    assert (record['width'], record['height'], record['runs']) == (64, 32, 2)
    assert len(record['median_ms']) == 12 and record['jpeg_bytes'] > 0
    assert all(ms >= 0 for ms in record['median_ms'].values())


# ---------------------------------------------------------------- fuzz
GARBAGE_ENCODINGS = ['', 'RGB8', 'rgb', 'bgr8 ', '32FC3', '16SC1', '64FC1', 'jpeg', 'nv12',
                     'bayer_rggb', '\u00fc\u00df', 'mono8\0']
ROW_BYTES = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '8UC1': 1, '8UC3': 3,
             '8UC4': 4, 'rgb16': 6, 'bgr16': 6, 'rgba16': 8, 'bgra16': 8, 'mono16': 2,
             '16UC1': 2, '32FC1': 4, 'yuv422': 2, 'uyvy': 2, 'yuyv': 2, 'yuv422_yuy2': 2}
FUZZ_MAX_PIXELS = 1 << 12


def _bytes_per_pixel(encoding):
    return ROW_BYTES.get(encoding, 2 if encoding.endswith('16') else 1)


def _valid_image(rng, encoding=None):
    encoding = encoding or str(rng.choice(SUPPORTED_ENCODINGS))
    width = int(rng.integers(1, 12)) * (2 if encoding in YUV else 1)
    height = int(rng.integers(1, 12))
    row_bytes = width * _bytes_per_pixel(encoding)
    rows = rng.integers(0, 256, (height, row_bytes), np.uint8)
    big = bool(rng.integers(2))
    if encoding == '32FC1':
        floats = rng.normal(0, 10 ** rng.uniform(-3, 3), (height, width))
        rows = floats.astype('>f4' if big else '<f4').view(np.uint8)
    return _msg(rows, encoding, width, pad=int(rng.integers(0, 5)), big=big)


def _malformed_image(rng):
    msg = _valid_image(rng, '32FC1' if rng.random() < 0.2 else None)
    bpp, big = _bytes_per_pixel(msg.encoding), msg.is_bigendian
    for _ in range(int(rng.integers(1, 3))):
        change = rng.integers(8)
        if change == 0:
            msg.encoding = str(rng.choice(GARBAGE_ENCODINGS + list(SUPPORTED_ENCODINGS)))
        elif change == 1:
            msg.width = int(rng.choice([0, 1, 3, 5, 13, -1, 1 << 16, 1 << 31]))
        elif change == 2:
            msg.height = int(rng.choice([0, 1, 2, 7, -3, 1 << 20, 1 << 32]))
        elif change == 3:
            msg.step = int(rng.choice([0, msg.step - 1, msg.width * bpp - 1, msg.step + 1,
                                       int(rng.integers(0, 100))]))
        elif change == 4:
            cut = int(rng.integers(1, 4))
            msg.data = msg.data[:-cut] if rng.integers(2) else msg.data + msg.data[:cut]
        elif change == 5:
            msg.data = array.array('B', rng.bytes(int(rng.integers(0, 300))))
        elif change == 6 and msg.encoding == '32FC1':
            bad = np.array(rng.choice([np.nan, np.inf, -np.inf]), '>f4' if big else '<f4')
            at = int(rng.integers(msg.height)) * msg.step + 4 * int(rng.integers(msg.width))
            msg.data[at:at + 4] = array.array('B', bad.tobytes())
        else:
            msg.is_bigendian = int(rng.integers(2))
    return msg


def _valid_compressed(rng):
    shape = (int(rng.integers(1, 17)), int(rng.integers(1, 17)))
    if rng.integers(2):
        shape += (3,)
    pixels = rng.integers(0, 256, shape, np.uint8)
    return numpy_to_compressed(pixels, str(rng.choice(['jpeg', 'png'])))


def _malformed_compressed(rng):
    stream = bytes(_valid_compressed(rng).data)
    change = rng.integers(5)
    if change == 0:
        data = rng.bytes(int(rng.integers(0, 200)))
    elif change == 1:
        data = stream[:2] + rng.bytes(int(rng.integers(0, 200)))
    elif change == 2:
        data = stream[:int(rng.integers(0, len(stream)))]
    elif change == 3:
        flipped = bytearray(stream)
        for index in rng.integers(0, len(stream), int(rng.integers(1, 6))):
            flipped[index] = int(rng.integers(256))
        data = bytes(flipped)
    else:
        data = stream[:8] + rng.bytes(int(rng.integers(0, 64)))
    msg = _compressed(data)
    msg.format = str(rng.choice(['jpeg', 'png', '', 'rgb8; jpeg compressed bgr8', 'garbage']))
    return msg


def _decode(msg):
    if isinstance(msg, CompressedImage):
        return compressed_to_rgb(msg, max_pixels=FUZZ_MAX_PIXELS)
    return image_to_rgb(msg, max_pixels=FUZZ_MAX_PIXELS)


def test_fuzz_malformed_messages_raise_image_error_and_valid_ones_decode():
    rng = np.random.default_rng(2026)
    makers = [(_valid_image, True), (_malformed_image, False),
              (_valid_compressed, True), (_malformed_compressed, False)]
    reasons = Counter()
    for index in range(2400):
        make, valid = makers[index % len(makers)]
        msg = make(rng)
        try:
            rgb = _decode(msg)
        except ImageError as exc:
            assert not valid, f'valid message rejected: {exc}'
            assert exc.reason in REJECTION_REASONS
            reasons[exc.reason] += 1
            continue
        assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8
        assert rgb.ndim == 3 and rgb.shape[2] == 3
        if isinstance(msg, Image):
            assert rgb.shape[:2] == (msg.height, msg.width)
    assert set(reasons) == set(REJECTION_REASONS) - {'stamp'}, reasons
