# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
rclpy Image messages <-> numpy, without spinning any node.

The codec itself is tested on plain objects in test_imaging.py; here it meets rclpy messages
(``array.array`` payloads), the message builders, a fuzz test that feeds thousands of malformed
messages and expects ImageError or a valid image, and the proof that the node and the offline
bag reader decode the same message into the same array.
"""

import array
from collections import Counter

import numpy as np
from pixel_anomaly_ros.evaluation.bag_writer import image_message, write_images
from pixel_anomaly_ros.evaluation.bags import read_images, TYPESTORE
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.imaging import (compress, compressed_to_rgb, image_to_array, image_to_rgb,
                                       ImageError, ns_to_stamp, REJECTION_REASONS, stamp_to_ns,
                                       SUPPORTED_ENCODINGS)
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

pytest.importorskip('rclpy')
from pixel_anomaly_ros.ros.conversions import (numpy_to_compressed,  # noqa: E402, I100
                                               numpy_to_image)
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from test_imaging import (assert_decodes_to, encode_rows, EXACT, FLAT, INTERIOR,  # noqa: E402
                          rejects, YUV)

T0 = 1_700_000_000 * 10**9


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


def _compressed(data: bytes, fmt: str = 'jpeg') -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.data = array.array('B', data)
    return msg


def test_rclpy_messages_decode_in_place():
    msg = _msg(np.zeros((4, 12), np.uint8), 'rgb8', 4)
    view, native = image_to_rgb(msg), image_to_array(msg)
    msg.data[0] = 200
    assert view[0, 0, 0] == 200 and native[0, 0, 0] == 200
    rows, width, expected, tol, where = encode_rows('bgr16', True)
    assert_decodes_to(image_to_rgb(_msg(rows, 'bgr16', width, pad=3, big=True)), expected, tol,
                      where)


def test_jpeg_and_png_round_trip():
    jpeg = numpy_to_compressed(FLAT[..., ::-1], 'jpeg', Header(frame_id='cam'), quality=95)
    assert jpeg.format == 'bgr8; jpeg compressed bgr8' and jpeg.header.frame_id == 'cam'
    assert isinstance(jpeg.data, array.array)
    assert_decodes_to(compressed_to_rgb(jpeg), FLAT, 6, INTERIOR)
    png = numpy_to_compressed(EXACT[..., ::-1], 'png')
    np.testing.assert_array_equal(compressed_to_rgb(png), EXACT)
    grey = numpy_to_compressed(EXACT[..., 0], 'png')
    assert grey.format == 'mono8; png compressed mono8'
    np.testing.assert_array_equal(compressed_to_rgb(grey), np.stack([EXACT[..., 0]] * 3, -1))
    with pytest.raises(ValueError, match='jpeg or png'):
        numpy_to_compressed(EXACT, 'webp')


def test_bad_compressed_rclpy_messages_are_rejected():
    jpeg = bytes(numpy_to_compressed(FLAT, 'jpeg').data)
    rejects('empty', lambda: compressed_to_rgb(_compressed(b'')))
    rejects('undecodable', lambda: compressed_to_rgb(_compressed(jpeg[:40])))
    rejects('too_large', lambda: compressed_to_rgb(_compressed(jpeg), max_pixels=255))


def test_stamp_of_a_header():
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
    np.testing.assert_array_equal(image_to_array(msg), score)


def test_encode_strided_and_big_endian_arrays_packs_rows():
    rgb = np.ascontiguousarray(EXACT[:, ::2])  # (6, 4, 3)
    msg = numpy_to_image(EXACT[:, ::2], 'rgb8', Header())
    assert (msg.width, msg.step) == (4, 12)
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    big = np.arange(6, dtype='>u2').reshape(2, 3)
    msg = numpy_to_image(big, 'mono16', Header())
    assert msg.is_bigendian == 0
    np.testing.assert_array_equal(np.frombuffer(msg.data, '<u2').reshape(2, 3), big)
    with pytest.raises(ValueError, match='does not match'):
        numpy_to_image(big, 'mono8', Header())


# ------------------------------------------------ the node and the bag reader decode alike
WIDE = [e for e in SUPPORTED_ENCODINGS if '16' in e or '32' in e]
COMPRESSIBLE = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', '8UC3', '8UC4']
CASES = ([('raw', e, pad, False) for e in SUPPORTED_ENCODINGS for pad in (0, 3)]
         + [('raw', e, pad, True) for e in WIDE for pad in (0, 5)]
         + [(fmt, e, 0, False) for fmt in ('jpeg', 'png') for e in COMPRESSIBLE]
         + [('png', e, 0, False) for e in ('mono16', '16UC1')])


def _camera_message(kind, encoding, pad, big):
    """Build the rclpy message of one case and the RGB image its pixels were made from."""
    rows, width, expected, tol, where = encode_rows(encoding, big)
    msg = _msg(rows, encoding, width, pad=pad, big=big)
    if kind == 'png':
        fmt, stream = compress(image_to_array(msg), encoding, 'png')
        msg = _compressed(stream.tobytes(), fmt)
    elif kind == 'jpeg':  # flat blocks, which JPEG keeps within a few grey levels
        expected, tol, where = FLAT, 6, INTERIOR
        image = FLAT if encoding.startswith('rgb') else FLAT[..., ::-1]
        if encoding.endswith(('a8', '4')):
            image = np.dstack([image, np.full(FLAT.shape[:2], 77, np.uint8)])
        if encoding in ('mono8', '8UC1'):
            image, expected = FLAT[..., 1], np.repeat(FLAT[..., 1:2], 3, -1)
        fmt, stream = compress(image, encoding, 'jpeg', quality=95)
        msg = _compressed(stream.tobytes(), fmt)
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_stamp(T0)
    msg.header.frame_id = 'camera'
    return msg, (expected, tol, where)


def _bag_copy(msg):
    """Copy every field of an rclpy message into the rosbags message of the same type."""
    cls = TYPESTORE.types[f'sensor_msgs/msg/{type(msg).__name__}']
    header = TYPESTORE.types['std_msgs/msg/Header'](
        stamp=TYPESTORE.types['builtin_interfaces/msg/Time'](sec=msg.header.stamp.sec,
                                                             nanosec=msg.header.stamp.nanosec),
        frame_id=msg.header.frame_id)
    fields = {name: getattr(msg, name) for name in msg.get_fields_and_field_types()}
    fields.update(header=header, data=np.frombuffer(msg.data, np.uint8).copy())
    return cls(**fields)


@pytest.mark.parametrize('kind, encoding, pad, big', CASES,
                         ids=[f'{k}-{e}-pad{p}{"-big" if b else ""}' for k, e, p, b in CASES])
def test_node_and_bag_reader_decode_every_encoding_identically(tmp_path, kind, encoding, pad,
                                                               big):
    msg, (expected, tol, where) = _camera_message(kind, encoding, pad, big)
    node = compressed_to_rgb(msg) if kind != 'raw' else image_to_rgb(msg)  # as detector_node
    assert_decodes_to(node, expected, tol, where)
    label = np.zeros(node.shape[:2], np.uint8)
    label[0, :2] = 1, 255
    stored = _bag_copy(msg)
    writer = Writer(tmp_path / 'bag', version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    for topic, bag_msg in (('/camera/image', stored),
                           ('/camera/anomaly_label', image_message(label, T0, 'mono8'))):
        connection = writer.add_connection(topic, bag_msg.__msgtype__, typestore=TYPESTORE)
        writer.write(connection, T0, TYPESTORE.serialize_cdr(bag_msg, bag_msg.__msgtype__))
    writer.close()

    [frame] = read_images(tmp_path / 'bag', '/camera/image', 'rgb8')
    assert frame.image.dtype == node.dtype and np.array_equal(frame.image, node)
    [sample] = open_dataset('bag', tmp_path / 'bag')  # the path of evaluate --dataset bag
    assert np.array_equal(sample.image, node)
    assert np.array_equal(sample.anomaly, label)
    if kind == 'raw':  # the bag kept the message as it was: padding, byte order
        [native] = read_images(tmp_path / 'bag', '/camera/image')
        assert np.array_equal(native.image, image_to_array(msg))


def test_mono16_and_32fc1_decode_alike_in_the_node_and_offline(tmp_path):
    grey = np.array([[0, 1, 128, 255], [127, 200, 54, 3]], np.uint8)
    deep = grey.astype(np.uint16) * 256 + np.array([[0, 0, 5, 0], [7, 255, 0, 2]], np.uint16)
    score = (-3.5 + 0.25 * grey).astype(np.float32)  # stretched back to grey exactly
    expected = np.repeat(grey[..., None], 3, -1)
    # What the offline path gave before (rosbags: 16 bit * 255 / 65535; 32FC1 refused).
    assert not np.array_equal((deep * (255 / 65535)).astype(np.uint8), grey)
    path = write_images(tmp_path / 'bag', [(T0, '/deep', deep, 'mono16', 'cam'),
                                           (T0, '/score', score, '32FC1', 'cam')])
    for topic, image, encoding in (('/deep', deep, 'mono16'), ('/score', score, '32FC1')):
        node = image_to_rgb(numpy_to_image(image, encoding, Header()))
        [frame] = read_images(path, topic, 'rgb8')
        np.testing.assert_array_equal(node, expected)
        np.testing.assert_array_equal(frame.image, expected)
        [frame] = read_images(path, topic)
        assert frame.encoding == encoding
        np.testing.assert_array_equal(frame.image, image)


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
