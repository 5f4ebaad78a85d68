# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rosbag2 image I/O on real MCAP and sqlite3 bags written and read with rosbags."""

import cv2
import numpy as np
from pixel_anomaly_ros.evaluation.bag_writer import (BagWriter, dataset_to_bag, image_message,
                                                     storage_for, write_images)
from pixel_anomaly_ros.evaluation.bags import (align_stamps, BagError, list_topics, read_aligned,
                                               read_images, TYPESTORE)
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError, Sample
from pixel_anomaly_ros.imaging import decode_image, ImageError
import pytest
from rosbags.rosbag2 import Reader

H, W = 24, 40
T0 = 1_700_000_000_000_000_000
STORAGES = ['mcap', 'sqlite3']


def make_image(encoding: str, seed: int) -> np.ndarray:
    """Return a random array of the dtype and channel count of an encoding."""
    rng = np.random.default_rng(seed)
    dtype, channels = {'rgb8': (np.uint8, 3), 'bgr8': (np.uint8, 3), 'mono8': (np.uint8, 1),
                       'rgba8': (np.uint8, 4), 'bgra8': (np.uint8, 4),
                       '16UC1': (np.uint16, 1), 'mono16': (np.uint16, 1),
                       '32FC1': (np.float32, 1)}[encoding]
    shape = (H, W) if channels == 1 else (H, W, channels)
    if dtype == np.float32:
        return rng.random(shape, np.float32)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype, endpoint=True)


def bag_storage(path) -> str:
    """Return the storage identifier a bag's metadata records."""
    with Reader(path) as reader:
        files = [path.suffix] if path.is_file() else [p.suffix for p in path.iterdir()]
        assert reader.message_count > 0
    return 'mcap' if '.mcap' in files else 'sqlite3' if '.db3' in files else '?'


@pytest.mark.parametrize('storage', STORAGES)
@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8', 'rgba8', 'bgra8', '16UC1',
                                      'mono16', '32FC1'])
def test_raw_roundtrip(tmp_path, storage, encoding):
    images = [make_image(encoding, i) for i in range(3)]
    messages = [(T0 + i * 100, '/cam', im, encoding, 'camera') for i, im in enumerate(images)]
    path = write_images(tmp_path / 'bag', messages, storage=storage)
    assert bag_storage(path) == storage
    assert list_topics(path) == {'/cam': 'sensor_msgs/msg/Image'}
    frames = list(read_images(path, '/cam'))
    assert [f.stamp_ns for f in frames] == [T0, T0 + 100, T0 + 200]
    for frame, image in zip(frames, images):
        assert frame.encoding == encoding and frame.frame_id == 'camera'
        assert frame.image.dtype == image.dtype
        np.testing.assert_array_equal(frame.image, image)


def test_read_converts_to_rgb(tmp_path):
    bgr = make_image('bgr8', 0)
    mono = make_image('mono8', 1)
    deep = make_image('mono16', 2)
    score = make_image('32FC1', 3)
    path = write_images(tmp_path / 'bag', [(T0, '/a', bgr, 'bgr8', ''),
                                           (T0, '/b', mono, 'mono8', ''),
                                           (T0, '/c', deep, 'mono16', ''),
                                           (T0, '/d', score, '32FC1', '')])
    [frame] = read_images(path, '/a', encoding='rgb8')
    assert frame.encoding == 'rgb8' and frame.image.flags.writeable
    np.testing.assert_array_equal(frame.image, bgr[..., ::-1])
    [frame] = read_images(path, '/b', encoding='rgb8')
    np.testing.assert_array_equal(frame.image, np.repeat(mono[..., None], 3, -1))
    # As in the node: 16 bit keeps the high byte, 32FC1 is stretched from min..max to grey.
    [frame] = read_images(path, '/c', encoding='rgb8')
    np.testing.assert_array_equal(frame.image, np.repeat((deep >> 8)[..., None], 3, -1))
    [frame] = read_images(path, '/d', encoding='rgb8')
    grey = (score - score.min()) * (255 / (score.max() - score.min()))
    np.testing.assert_allclose(frame.image, np.repeat(grey[..., None], 3, -1), atol=0.51)
    assert frame.image.min() == 0 and frame.image.max() == 255


@pytest.mark.parametrize('storage', STORAGES)
@pytest.mark.parametrize('encoding', ['rgb8', 'mono8', '16UC1', 'bgra8'])
def test_png_compressed_roundtrip_is_exact(tmp_path, storage, encoding):
    image = make_image(encoding, 2)
    path = write_images(tmp_path / 'bag', [(T0, '/cam/compressed', image, encoding, 'cam')],
                        storage=storage, compression={'/cam/compressed': 'png'})
    assert list_topics(path) == {'/cam/compressed': 'sensor_msgs/msg/CompressedImage'}
    [frame] = read_images(path, '/cam/compressed')
    assert (frame.stamp_ns, frame.frame_id, frame.encoding) == (T0, 'cam', encoding)
    np.testing.assert_array_equal(frame.image, image)


@pytest.mark.parametrize('storage', STORAGES)
def test_jpeg_compressed_roundtrip_is_close(tmp_path, storage):
    y, x = np.mgrid[0:H, 0:W]
    image = np.stack([x * 6, y * 10, np.full_like(x, 128)], -1).astype(np.uint8)
    path = write_images(tmp_path / 'bag', [(T0, '/cam', image, 'rgb8', '')], storage=storage,
                        compression={'/cam': 'jpeg'})
    [frame] = read_images(path, '/cam')
    assert frame.encoding == 'rgb8'  # restored from 'rgb8; jpeg compressed bgr8'
    error = np.abs(frame.image.astype(int) - image)
    assert error.mean() < 2 and error.max() <= 12
    # A wrong channel order would be off by ~100 in the red and blue channels.
    assert np.abs(frame.image[..., ::-1].astype(int) - image).mean() > 20


def test_decode_honours_row_padding():
    image = make_image('rgb8', 3)
    msg = image_message(image, T0, 'rgb8')
    padded = np.zeros((H, W * 3 + 8), np.uint8)
    padded[:, :W * 3] = image.reshape(H, -1)
    msg.step, msg.data = W * 3 + 8, padded.reshape(-1)
    decoded, encoding = decode_image(msg)
    np.testing.assert_array_equal(decoded, image)
    msg.data = msg.data[:-1]
    with pytest.raises(ImageError, match='step \\* height'):
        decode_image(msg)


def test_storage_from_path_and_argument(tmp_path):
    assert storage_for(tmp_path / 'run.db3') == 'sqlite3'
    assert storage_for(tmp_path / 'run') == 'mcap'
    assert storage_for(tmp_path / 'run.db3', 'mcap') == 'mcap'
    with pytest.raises(BagError, match='rosbag1'):
        storage_for(tmp_path / 'run', 'rosbag1')
    path = write_images(tmp_path / 'run.db3', [(T0, '/m', make_image('mono8', 0), None, '')])
    assert bag_storage(path) == 'sqlite3' and path.is_file()  # the file the name says


def test_write_infers_output_encodings(tmp_path):
    score = make_image('32FC1', 0)
    mask = (score > 0.5).astype(np.uint8) * 255
    path = write_images(tmp_path / 'out', [(T0, '/anomaly/score', score, None, 'cam'),
                                           (T0, '/anomaly/mask', mask, None, 'cam')])
    assert [f.encoding for f in read_images(path, '/anomaly/score')] == ['32FC1']
    [frame] = read_images(path, '/anomaly/mask')
    assert frame.encoding == 'mono8'
    np.testing.assert_array_equal(frame.image, mask)
    with pytest.raises(BagError, match='does not match'):
        write_images(tmp_path / 'bad', [(T0, '/x', score, 'mono8', '')])
    assert not (tmp_path / 'bad').exists()


def test_align_stamps():
    images = [0, 100, 200, 300]
    np.testing.assert_array_equal(align_stamps(images, [300, 0, 100]), [1, 2, -1, 0])
    np.testing.assert_array_equal(align_stamps(images, [103, 0]), [1, -1, -1, -1])
    np.testing.assert_array_equal(align_stamps(images, [103, 0], 5), [1, 0, -1, -1])
    # Two images claim the label at 150: the nearer one (200) keeps it.
    np.testing.assert_array_equal(align_stamps(images, [160], 60), [-1, -1, 0, -1])
    np.testing.assert_array_equal(align_stamps([], [1]), np.zeros(0))


def write_labelled_bag(path, storage='mcap'):
    """Write 5 images and 4 labels: one label is missing, one is 3 ms late, one is extra."""
    ms = 1_000_000
    image_stamps = [T0 + i * 100 * ms for i in range(5)]
    label_stamps = [image_stamps[0], image_stamps[1] + 3 * ms, image_stamps[3],
                    image_stamps[4], T0 + 900 * ms]
    images = [make_image('rgb8', i) for i in range(5)]
    labels = [np.full((H, W), i, np.uint8) for i in (0, 1, 3, 4, 9)]
    # Labels go in first, as a recorder may store them out of order.
    messages = [(s, '/labels', lab, 'mono8', 'cam') for s, lab in zip(label_stamps, labels)]
    messages += [(s, '/camera', im, 'bgr8', 'cam') for s, im in zip(image_stamps, images)]
    write_images(path, messages, storage=storage)
    return images


@pytest.mark.parametrize('storage', STORAGES)
def test_read_aligned_with_missing_and_jittered_labels(tmp_path, storage):
    images = write_labelled_bag(tmp_path / 'bag', storage)
    exact = read_aligned(tmp_path / 'bag', '/camera', '/labels')
    assert len(exact) == 3
    assert exact.unmatched == {'/camera': 2, '/labels': 2}
    loose = read_aligned(tmp_path / 'bag', '/camera', '/labels', tolerance_ns=5_000_000)
    assert len(loose) == 4
    assert loose.unmatched == {'/camera': 1, '/labels': 1}
    pairs = sorted(loose, key=lambda pair: pair[0].stamp_ns)
    assert [int(label.image[0, 0]) for _, label in pairs] == [0, 1, 3, 4]
    for image, label in pairs:
        index = int(label.image[0, 0])
        assert image.encoding == 'rgb8' and label.encoding == 'mono8'
        np.testing.assert_array_equal(image.image, images[index][..., ::-1])  # bgr8 -> rgb8


def test_missing_bag_and_topic(tmp_path):
    with pytest.raises(BagError, match='does not exist'):
        list(read_images(tmp_path / 'nothing', '/cam'))
    write_labelled_bag(tmp_path / 'bag')
    with pytest.raises(BagError) as err:
        list(read_images(tmp_path / 'bag', '/cam'))
    assert "'/cam'" in str(err.value) and '/camera (sensor_msgs/msg/Image)' in str(err.value)
    with pytest.raises(DatasetError, match='/anomaly'):
        open_dataset('bag', tmp_path / 'bag', image_topic='/camera', label_topic='/anomaly',
                     labels=True)
    # without labels=True a bag lacking the label topic is unlabelled (alarm statistics only)
    assert open_dataset('bag', tmp_path / 'bag', image_topic='/camera',
                        label_topic='/anomaly').labelled is False


def small_dataset(n=4, semantic=True):
    """Return n samples with random images, 0/1/255 labels and train ids."""
    rng = np.random.default_rng(5)
    return [Sample(rng.integers(0, 256, (H, W, 3), np.uint8),
                   rng.choice(np.array([0, 1, 255], np.uint8), (H, W)),
                   rng.integers(0, 19, (H, W), np.uint8) if semantic else None, f'f{i}')
            for i in range(n)]


@pytest.mark.parametrize('storage', STORAGES)
def test_dataset_to_bag_then_bag_dataset(tmp_path, storage):
    samples = small_dataset()
    path = dataset_to_bag(samples, tmp_path / 'replay', rate_hz=20.0, storage=storage,
                          semantic_topic='/camera/semantic', progress=False)
    assert bag_storage(path) == storage
    assert list_topics(path) == {'/camera/image': 'sensor_msgs/msg/Image',
                                 '/camera/anomaly_label': 'sensor_msgs/msg/Image',
                                 '/camera/semantic': 'sensor_msgs/msg/Image'}
    stamps = [f.stamp_ns for f in read_images(path, '/camera/anomaly_label')]
    assert np.diff(stamps).tolist() == [50_000_000] * 3
    ds = open_dataset('bag', path, semantic_topic='/camera/semantic')
    assert len(ds) == 4 and ds.unmatched == dict.fromkeys(list_topics(path), 0)
    loaded = sorted(ds, key=lambda s: s.name)
    assert [s.name for s in loaded] == [f'{s:019d}' for s in stamps]
    for got, want in zip(loaded, samples):
        np.testing.assert_array_equal(got.image, want.image)
        np.testing.assert_array_equal(got.anomaly, want.anomaly)
        np.testing.assert_array_equal(got.semantic, want.semantic)


def test_dataset_to_bag_png_compressed(tmp_path):
    samples = small_dataset(2, semantic=False)
    path = dataset_to_bag(samples, tmp_path / 'replay', compressed='png', progress=False)
    assert list_topics(path)['/camera/image'] == 'sensor_msgs/msg/CompressedImage'
    loaded = list(open_dataset('bag', path))
    assert len(loaded) == 2
    for got, want in zip(sorted(loaded, key=lambda s: s.name), samples):
        np.testing.assert_array_equal(got.image, want.image)
        np.testing.assert_array_equal(got.anomaly, want.anomaly)
        assert got.semantic is None


def test_bag_dataset_maps_label_values(tmp_path):
    image = make_image('rgb8', 0)
    columns = np.arange(W) % 3
    mask = np.array([0, 128, 255], np.uint8)[columns][None].repeat(H, 0)
    write_images(tmp_path / 'bag', [(T0, '/camera/image', image, None, ''),
                                    (T0, '/camera/anomaly_label', mask, None, '')])
    [sample] = open_dataset('bag', tmp_path / 'bag', anomaly_values=(255,), void_values=(128,))
    np.testing.assert_array_equal(sample.anomaly, np.array([0, 255, 1])[columns][None]
                                  .repeat(H, 0))


class Exploding:
    """A dataset whose third sample cannot be read."""

    def __len__(self):
        return 5

    def __iter__(self):
        samples = small_dataset(2)
        yield from samples
        raise DatasetError('cannot read image /data/broken.png')


@pytest.mark.parametrize('storage', STORAGES)
def test_failure_mid_write_leaves_nothing(tmp_path, storage):
    out = tmp_path / 'out'
    out.mkdir()
    with pytest.raises(DatasetError, match='broken'):
        dataset_to_bag(Exploding(), out / 'replay', storage=storage, progress=False)
    assert list(out.iterdir()) == []
    with pytest.raises(RuntimeError):
        with BagWriter(out / 'manual', storage) as writer:
            writer.write('/cam', make_image('rgb8', 0), T0)
            raise RuntimeError('stop')
    assert list(out.iterdir()) == []


def test_existing_bag_is_not_touched(tmp_path):
    path = write_images(tmp_path / 'bag', [(T0, '/m', make_image('mono8', 0), None, '')])
    before = sorted(p.name for p in path.iterdir())
    with pytest.raises(BagError, match='exists'):
        dataset_to_bag(small_dataset(1), path, progress=False)
    assert sorted(p.name for p in path.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag']


def test_compressed_format_string_follows_image_transport(tmp_path):
    image = make_image('rgb8', 7)
    path = write_images(tmp_path / 'bag', [(T0, '/c', image, None, '')],
                        compression={'/c': 'jpeg'})
    with Reader(path) as reader:
        [(connection, _, raw)] = list(reader.messages())
    msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
    assert msg.format == 'rgb8; jpeg compressed bgr8'
    decoded = cv2.imdecode(np.asarray(msg.data), cv2.IMREAD_COLOR)
    assert decoded.shape == (H, W, 3)
