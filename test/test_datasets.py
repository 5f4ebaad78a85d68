# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Dataset loaders on tiny fixture trees laid out like the real datasets."""

import importlib
import json
import subprocess
import sys

import cv2
import numpy as np
from PIL import Image
from pixel_anomaly_ros.evaluation import datasets
from pixel_anomaly_ros.evaluation.datasets import dataset_options, DATASETS, open_dataset
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError
import pytest

H, W = 32, 64


def rgb(seed: int) -> np.ndarray:
    """Return a random (H, W, 3) uint8 RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), np.uint8)


def smooth_rgb(seed: int) -> np.ndarray:
    """Return a smooth RGB image that survives JPEG with small errors."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x * 3 + seed * 10, y * 6, np.full_like(x, 90 + seed)], -1).astype(np.uint8)


def raw_label(values) -> np.ndarray:
    """Return an (H, W) uint8 label with the given values in vertical stripes."""
    values = np.asarray(values, np.uint8)
    return values[np.arange(W) * len(values) // W][None, :].repeat(H, 0)


def write_image(path, image: np.ndarray, *params) -> None:
    """Write an RGB image (or a single-channel label) with OpenCV, making parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = image[..., ::-1] if image.ndim == 3 else image
    assert cv2.imwrite(str(path), np.ascontiguousarray(data), list(params))


def check(sample, image, anomaly, name, semantic=None) -> None:
    """Assert one sample's pixels, labels and name."""
    assert sample.name == name
    assert sample.image.dtype == np.uint8 and sample.image.shape == (H, W, 3)
    np.testing.assert_array_equal(sample.image, image)
    assert sample.anomaly.dtype == np.uint8
    np.testing.assert_array_equal(sample.anomaly, anomaly)
    if semantic is None:
        assert sample.semantic is None
    else:
        np.testing.assert_array_equal(sample.semantic, semantic)


LAF_A = '04_Maurener_Weg_8_000000_000030'
LAF_B = '01_Hanns_Klemm_Str_45_000001_000120'


def test_fs_lost_found(tmp_path):
    laf, fs = tmp_path / 'lost_and_found', tmp_path / 'fishyscapes_lostandfound'
    write_image(laf / f'leftImg8bit/test/04_Maurener_Weg_8/{LAF_A}_leftImg8bit.png', rgb(0))
    write_image(laf / f'leftImg8bit/train/01_Hanns_Klemm_Str_45/{LAF_B}_leftImg8bit.png', rgb(1))
    write_image(fs / f'0000_{LAF_A}_labels.png', raw_label([0, 1, 255, 7]))
    write_image(fs / f'0001_{LAF_B}_labels.png', raw_label([1, 0]))
    ds = open_dataset('fs_lost_found', fs, laf_root=laf)
    assert len(ds) == 2
    a, b = list(ds)
    check(a, rgb(0), raw_label([0, 1, 255, 255]), f'0000_{LAF_A}')
    check(b, rgb(1), raw_label([1, 0]), f'0001_{LAF_B}')


def test_fs_lost_found_label_without_image(tmp_path):
    (tmp_path / 'leftImg8bit/test').mkdir(parents=True)
    label = tmp_path / f'0000_{LAF_A}_labels.png'
    write_image(label, raw_label([0, 1]))
    with pytest.raises(DatasetError) as err:
        open_dataset('fs_lost_found', tmp_path)
    assert str(label) in str(err.value)
    assert f'{LAF_A}_leftImg8bit.png' in str(err.value)


def test_fs_static(tmp_path):
    cs, fs = tmp_path / 'cityscapes', tmp_path / 'fs_val_v3'
    ids = ['frankfurt_000000_000294', 'munster_000010_000019']
    overlay = np.zeros((H, W, 3), np.int16)
    overlay[:, :W // 2] = 300   # clipped to 255
    overlay[:, W // 2:] = -300  # clipped to 0
    for i, cs_id in enumerate(ids):
        city = cs_id.split('_')[0]
        write_image(cs / f'leftImg8bit/val/{city}/{cs_id}_leftImg8bit.png', rgb(i))
        write_image(fs / f'000{i}_{cs_id}_labels.png', raw_label([0, 1, 255, 3]))
        np.savez_compressed(fs / f'000{i}_{cs_id}_rgb.npz', rgb=overlay * i)
    # Only the first frame has Cityscapes gtFine: labelIds road(7), car(26), unlabelled(0).
    write_image(cs / f'gtFine/val/frankfurt/{ids[0]}_gtFine_labelIds.png', raw_label([7, 26, 0]))
    ds = open_dataset('fs_static', fs, cityscapes_root=cs)
    assert len(ds) == 2
    a, b = list(ds)
    anomaly = raw_label([0, 1, 255, 255])
    semantic = raw_label([0, 13, 255])
    semantic[anomaly == 1] = 255
    check(a, rgb(0), anomaly, f'0000_{ids[0]}', semantic)
    expected = np.where(np.arange(W)[None, :, None] < W // 2, 255, 0).astype(np.uint8)
    check(b, np.broadcast_to(expected, (H, W, 3)), anomaly, f'0001_{ids[1]}')


def test_fs_lost_found_prepared_as_public_evaluation_code_does(tmp_path):
    # RbA's layout: fishyscapes_lostandfound/NNNN_<id>_labels.png, laf_images/<id>_leftImg8bit.png
    root = tmp_path / 'Fishyscapes'
    write_image(root / f'fishyscapes_lostandfound/0000_{LAF_A}_labels.png',
                raw_label([0, 1, 255]))
    write_image(root / f'fishyscapes_lostandfound/0001_{LAF_B}_labels.png', raw_label([1, 0]))
    write_image(root / f'laf_images/{LAF_A}_leftImg8bit.png', rgb(0))
    write_image(root / f'laf_images/{LAF_B}_leftImg8bit.png', rgb(1))
    # Static files beside it must not be taken for Lost & Found labels.
    write_image(root / 'fs_val_v1/0000_lindau_000000_000019_labels.png', raw_label([0]))
    for where in (root, root / 'fishyscapes_lostandfound'):
        a, b = list(open_dataset('fs_lost_found', where))
        check(a, rgb(0), raw_label([0, 1, 255]), f'0000_{LAF_A}')
        check(b, rgb(1), raw_label([1, 0]), f'0001_{LAF_B}')
    (root / f'laf_images/{LAF_B}_leftImg8bit.png').unlink()
    with pytest.raises(DatasetError, match=f'laf_images/{LAF_B}_leftImg8bit.png'):
        open_dataset('fs_lost_found', root)


def test_fs_static_prepared_as_public_evaluation_code_does(tmp_path):
    # fs_val_v1/NNNN_<id>_labels.png with the overlaid fs_static_images_v1/NNNN_<id>_rgb.png
    root = tmp_path / 'Fishyscapes'
    ids = ['frankfurt_000000_000294', 'munster_000010_000019']
    for i, cs_id in enumerate(ids):
        write_image(root / f'fs_val_v1/000{i}_{cs_id}_labels.png',
                    np.repeat(raw_label([0, 1, 255, 3])[..., None], 3, -1))  # an RGB label
        write_image(root / f'fs_static_images_v1/000{i}_{cs_id}_rgb.png', rgb(i))
    write_image(root / f'fishyscapes_lostandfound/0000_{LAF_A}_labels.png', raw_label([1]))
    for where in (root, root / 'fs_val_v1'):
        ds = open_dataset('fs_static', where)
        assert len(ds) == 2
        for i, sample in enumerate(ds):
            check(sample, rgb(i), raw_label([0, 1, 255, 255]), f'000{i}_{ids[i]}')
    (root / f'fs_static_images_v1/0001_{ids[1]}_rgb.png').unlink()
    with pytest.raises(DatasetError, match=f'fs_static_images_v1/0001_{ids[1]}_rgb.png'):
        open_dataset('fs_static', root)


def test_fs_static_without_overlay(tmp_path):
    write_image(tmp_path / 'leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png', rgb(0))
    write_image(tmp_path / '0000_lindau_000000_000019_labels.png', raw_label([0]))
    with pytest.raises(DatasetError, match='overlay'):
        open_dataset('fs_static', tmp_path)


@pytest.mark.parametrize('parent', [True, False])
def test_road_anomaly(tmp_path, parent):
    base = tmp_path / 'RoadAnomaly_jpg'
    names = ['animals01_Guiness.jpg', 'zebra_crossing.jpg']
    (base / 'frames').mkdir(parents=True)
    (base / 'frame_list.json').write_text(json.dumps(names))
    for i, name in enumerate(names):
        write_image(base / 'frames' / name, smooth_rgb(i), cv2.IMWRITE_JPEG_QUALITY, 100)
        stem = name[:-4]
        write_image(base / f'frames/{stem}.labels/labels_semantic.png', raw_label([0, 2, 3, 1]))
    ds = open_dataset('road_anomaly', tmp_path if parent else base)
    assert len(ds) == 2 and ds.names == ['animals01_Guiness', 'zebra_crossing']
    for i, sample in enumerate(ds):
        assert np.abs(sample.image.astype(int) - smooth_rgb(i)).max() <= 8
        np.testing.assert_array_equal(sample.anomaly, raw_label([0, 1, 1, 0]))
        assert sample.semantic is None


def test_road_anomaly_webp_without_frame_list(tmp_path):
    base = tmp_path / 'RoadAnomaly'
    write_image(base / 'frames/cow.webp', rgb(3), cv2.IMWRITE_WEBP_QUALITY, 101)  # lossless
    write_image(base / 'frames/cow.labels/labels_semantic.png', raw_label([2, 0]))
    write_image(base / 'frames/dog.webp', rgb(4), cv2.IMWRITE_WEBP_QUALITY, 101)
    with pytest.raises(DatasetError) as err:
        open_dataset('road_anomaly', tmp_path)
    message = str(err.value)
    assert str(base / 'frames/dog.webp') in message
    assert str(base / 'frames/dog.labels/labels_semantic.png') in message
    (base / 'frames/dog.webp').unlink()
    ds = open_dataset('road_anomaly', base)
    [sample] = list(ds)
    check(sample, rgb(3), raw_label([1, 0]), 'cow')


def test_smiyc_anomaly(tmp_path):
    base = tmp_path / 'dataset_AnomalyTrack'
    for i, fid in enumerate(['validation0000', 'validation0001', 'airplane0000']):
        write_image(base / f'images/{fid}.jpg', smooth_rgb(i), cv2.IMWRITE_JPEG_QUALITY, 100)
        if fid.startswith('validation'):  # test-set labels are hidden
            write_image(base / f'labels_masks/{fid}_labels_semantic.png', raw_label([0, 1, 255]))
            write_image(base / f'labels_masks/{fid}_labels_semantic_color.png', rgb(9))
    ds = open_dataset('smiyc_anomaly', tmp_path)
    assert len(ds) == 2 and ds.names == ['validation0000', 'validation0001']
    for i, sample in enumerate(ds):
        assert np.abs(sample.image.astype(int) - smooth_rgb(i)).max() <= 8
        np.testing.assert_array_equal(sample.anomaly, raw_label([0, 1, 255]))


def test_smiyc_obstacle(tmp_path):
    base = tmp_path / 'dataset_ObstacleTrack'
    fids = ['validation_1', 'validation_19', 'validation_2']
    for i, fid in enumerate(fids):
        write_image(base / f'images/{fid}.webp', rgb(i), cv2.IMWRITE_WEBP_QUALITY, 101)
        write_image(base / f'labels_masks/{fid}_labels_semantic.png', raw_label([255, 0, 1, 9]))
    ds = open_dataset('smiyc_obstacle', base)
    assert ds.names == ['validation_1', 'validation_2']  # SMIYC leaves validation_19 out
    check(ds[1], rgb(2), raw_label([255, 0, 1, 255]), 'validation_2')
    assert len(open_dataset('smiyc_obstacle', base, exclude=())) == 3


def write_laf(root, split, fid, image, ids, train_ids):
    """Write one LostAndFound frame: leftImg8bit image and gtCoarse labelIds/labelTrainIds."""
    scene = fid.rsplit('_', 2)[0]
    write_image(root / f'leftImg8bit/{split}/{scene}/{fid}_leftImg8bit.png', image)
    write_image(root / f'gtCoarse/{split}/{scene}/{fid}_gtCoarse_labelIds.png', ids)
    write_image(root / f'gtCoarse/{split}/{scene}/{fid}_gtCoarse_labelTrainIds.png', train_ids)


@pytest.fixture
def laf_root(tmp_path):
    """Return a LostAndFound tree with two test frames and one train frame."""
    ids, train_ids = raw_label([0, 1, 2, 43, 200, 201]), raw_label([255, 1, 2, 0])
    write_laf(tmp_path, 'test', '02_Hanns_Klemm_Str_44_000000_000060', rgb(0), ids, train_ids)
    write_laf(tmp_path, 'test', '15_Rechbergstr_Deckenpfronn_000002_000200', rgb(1), ids,
              train_ids)
    write_laf(tmp_path, 'train', '03_Hanns_Klemm_Str_19_000000_000030', rgb(2), ids, train_ids)
    return tmp_path


def test_lost_and_found(laf_root):
    ds = open_dataset('lost_and_found', laf_root)
    assert len(ds) == 2
    a, b = list(ds)
    # labelIds: 0 outside the road ROI -> void, 1 road -> inlier, 2..200 -> anomaly.
    expected = raw_label([255, 0, 1, 1, 1, 255])
    check(a, rgb(0), expected, '02_Hanns_Klemm_Str_44_000000_000060')
    check(b, rgb(1), expected, '15_Rechbergstr_Deckenpfronn_000002_000200')
    train = open_dataset('lost_and_found', laf_root, split='train', labels='train_ids')
    [sample] = list(train)
    check(sample, rgb(2), raw_label([255, 0, 1, 0]), '03_Hanns_Klemm_Str_19_000000_000030')
    no_known = open_dataset('lost_and_found', laf_root, subset='no_known')
    assert no_known.names == ['02_Hanns_Klemm_Str_44_000000_000060']


def test_lost_and_found_image_without_label(laf_root):
    label = (laf_root / 'gtCoarse/test/02_Hanns_Klemm_Str_44/'
             '02_Hanns_Klemm_Str_44_000000_000060_gtCoarse_labelIds.png')
    label.unlink()
    with pytest.raises(DatasetError) as err:
        open_dataset('lost_and_found', laf_root)
    assert str(label) in str(err.value)
    assert '02_Hanns_Klemm_Str_44_000000_000060_leftImg8bit.png' in str(err.value)


def test_lost_and_found_bad_option(laf_root):
    with pytest.raises(DatasetError, match='split'):
        open_dataset('lost_and_found', laf_root, split='val')


def test_folder(tmp_path):
    write_image(tmp_path / 'original/a.png', rgb(0))
    write_image(tmp_path / 'original/seq1/b.png', rgb(1))
    write_image(tmp_path / 'labels/a.png', raw_label([0, 255, 128]))
    write_image(tmp_path / 'labels/seq1/b.png', raw_label([255, 0]))
    write_image(tmp_path / 'semantic/a.png', raw_label([0, 1, 2]))
    write_image(tmp_path / 'semantic/seq1/b.png', raw_label([3, 4]))
    options = {'images': 'original', 'anomaly_values': (255,), 'void_values': ()}
    ds = open_dataset('folder', tmp_path, **options, semantic='semantic')
    assert len(ds) == 2
    a, b = list(ds)
    check(a, rgb(0), raw_label([0, 1, 255]), 'a', raw_label([0, 255, 2]))
    check(b, rgb(1), raw_label([1, 0]), 'seq1/b', raw_label([255, 4]))
    # inlier_values=None: every value that is neither anomaly nor void is an inlier.
    every_other = open_dataset('folder', tmp_path, **options, inlier_values=None)
    np.testing.assert_array_equal(every_other[0].anomaly, raw_label([0, 1, 0]))


def test_folder_reads_lazily_and_keeps_palette_indices(tmp_path):
    (tmp_path / 'labels_masks').mkdir()
    for i in range(2):
        write_image(tmp_path / f'images/{i}.png', rgb(i))
        palette = Image.fromarray(raw_label([0, 1, 255]), mode='P')
        palette.putpalette([0, 0, 0, 220, 20, 60] + [255] * 762)  # index 1 shows as crimson
        palette.save(tmp_path / f'labels_masks/{i}.png')
    ds = open_dataset('folder', tmp_path, labels='labels_masks')
    (tmp_path / 'images/1.png').write_bytes(b'not a png')  # damaged after opening
    samples = iter(ds)
    check(next(samples), rgb(0), raw_label([0, 1, 255]), '0')
    with pytest.raises(DatasetError, match='1.png'):
        next(samples)


def test_folder_label_of_another_size(tmp_path):
    image, label = tmp_path / 'images/x.png', tmp_path / 'labels/x.png'
    write_image(image, rgb(0))
    write_image(label, np.zeros((H, W + 2), np.uint8))
    ds = open_dataset('folder', tmp_path)
    with pytest.raises(DatasetError) as err:
        list(ds)
    assert str(image) in str(err.value) and str(label) in str(err.value)


def test_folder_grey_rgb_label_is_read_and_colour_label_refused(tmp_path):
    write_image(tmp_path / 'images/x.png', rgb(0))
    write_image(tmp_path / 'labels/x.png', np.repeat(raw_label([1, 0])[..., None], 3, -1))
    [sample] = list(open_dataset('folder', tmp_path))
    np.testing.assert_array_equal(sample.anomaly, raw_label([1, 0]))
    write_image(tmp_path / 'labels/x.png', rgb(1))
    with pytest.raises(DatasetError, match='single-channel'):
        list(open_dataset('folder', tmp_path))


@pytest.mark.parametrize('values, anomaly, convention', [
    ([0, 1], [0, 1], '0/1 masks'), ([0, 1, 255], [0, 1, 255], '0/1 masks'),
    ([0, 255], [0, 1], '0/255 masks'), ([255, 0], [1, 0], '0/255 masks'),
    ([0, 2], [0, 1], '0/2 masks'), ([2, 0, 255], [1, 0, 255], '0/2 masks'),
    ([0], [0], '0/1 masks')])
def test_folder_recognises_0_1_0_255_and_0_2_masks(tmp_path, values, anomaly, convention):
    for i in range(3):
        write_image(tmp_path / f'images/{i}.png', rgb(i))
        write_image(tmp_path / f'labels/{i}.png', raw_label(values if i == 1 else [0]))
    ds = open_dataset('folder', tmp_path)
    assert ds.labels.startswith(convention) and 'from 3 label files' in ds.labels
    samples = list(ds)
    check(samples[1], rgb(1), raw_label(anomaly), '1')
    assert not samples[0].anomaly.any()


@pytest.mark.parametrize('values, message', [([0, 1, 2], 'both 1 and 2'),
                                             ([0, 128, 255], 'values [128]'),
                                             ([3, 7], 'values [3, 7]')])
def test_folder_refuses_unknown_masks_with_the_option_to_use(tmp_path, values, message):
    write_image(tmp_path / 'images/x.png', rgb(0))
    write_image(tmp_path / 'labels/x.png', raw_label(values))
    with pytest.raises(DatasetError) as err:
        open_dataset('folder', tmp_path)
    assert message in str(err.value) and '--option anomaly_values=' in str(err.value)
    assert str(tmp_path / 'labels/x.png') in str(err.value)
    # Saying which values mean what opens it.
    ds = open_dataset('folder', tmp_path, anomaly_values=[values[-1]], inlier_values=None)
    assert ds[0].anomaly.max() == 1 and 'anomaly [' in ds.labels


def test_folder_refuses_a_frame_outside_the_recognised_masks(tmp_path):
    for i in range(2 * 16):  # more frames than are read to recognise the masks
        write_image(tmp_path / f'images/{i:02d}.png', rgb(0))
        write_image(tmp_path / f'labels/{i:02d}.png', raw_label([0, 255]))
    write_image(tmp_path / 'labels/01.png', raw_label([0, 1, 255]))  # a 0/1/255 frame
    ds = open_dataset('folder', tmp_path)
    assert ds.labels.startswith('0/255 masks')
    samples = iter(ds)
    next(samples)
    with pytest.raises(DatasetError, match=r'01.png holds the values \[1\].*anomaly_values'):
        next(samples)


@pytest.mark.parametrize('kind', sorted(DATASETS))
def test_empty_root_names_the_path(tmp_path, kind):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DatasetError) as err:
        open_dataset(kind, tmp_path / 'empty')
    assert str(tmp_path / 'empty') in str(err.value)


def test_missing_root_unknown_kind_and_option(tmp_path):
    with pytest.raises(DatasetError, match='does not exist'):
        open_dataset('fs_static', tmp_path / 'nowhere')
    with pytest.raises(DatasetError, match='unknown dataset kind'):
        open_dataset('cityscapes', tmp_path)
    with pytest.raises(DatasetError, match='colour'):
        open_dataset('folder', tmp_path, colour=True)


def test_registry_imports_no_loader():
    script = ('import sys\n'
              'from pixel_anomaly_ros.evaluation.datasets import DATASETS\n'
              'heavy = ("numpy", "cv2", "PIL", "rosbags", "torch")\n'
              'print(sorted(m for m in sys.modules if m.split(".")[0] in heavy), len(DATASETS))')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ['[]', str(len(DATASETS))]


@pytest.mark.parametrize('kind', sorted(DATASETS))
def test_registry_entry_names_its_opener(kind):
    entry = DATASETS[kind]
    module = importlib.import_module(f'pixel_anomaly_ros.evaluation.datasets.{entry.module}')
    opener = getattr(module, entry.opener)
    assert callable(opener) and getattr(datasets, entry.opener) is opener
    assert entry.description and '\n' not in entry.description


def test_dataset_options_checks_keys_and_reads_lists():
    raw = {'images': 'original', 'anomaly_values': '1, 2', 'void_values': 0,
           'inlier_values': None, 'labels': [3]}
    assert dataset_options('folder', raw) == {'images': 'original', 'anomaly_values': [1, 2],
                                              'void_values': [0], 'inlier_values': None,
                                              'labels': [3]}
    assert dataset_options('smiyc_obstacle', {'exclude': 'validation_1,x'}) == \
        {'exclude': ['validation_1', 'x']}
    assert dataset_options('bag', {'void_values': (), 'inlier_values': (0, 3)}) == \
        {'void_values': (), 'inlier_values': (0, 3)}
    assert dataset_options('road_anomaly', {}) == {}
    with pytest.raises(DatasetError) as err:
        dataset_options('folder', {'images': 'x', 'colour': 'red'})
    assert str(err.value) == ("folder: unknown option 'colour'; valid options: images, labels, "
                              'label_suffix, anomaly_values, void_values, inlier_values, '
                              'semantic, semantic_suffix')
    with pytest.raises(DatasetError, match="unknown option 'root'; road_anomaly takes no"):
        dataset_options('road_anomaly', {'root': 'x'})
    with pytest.raises(DatasetError, match='unknown dataset kind'):
        dataset_options('cityscapes', {})


def test_dataset_title_names_the_dataset(tmp_path):
    from pixel_anomaly_ros.evaluation.datasets import dataset_title
    world = tmp_path / 'world'
    (world / 'anomaly').mkdir(parents=True)
    (world / 'manifest.json').write_text(json.dumps({'format': 'pixel_anomaly_ros.synthetic',
                                                     'seed': 3}))
    assert dataset_title('folder', world / 'anomaly') == 'synthetic world, seed 3 (anomaly)'
    assert dataset_title('fs_static', tmp_path / 'x') == 'Fishyscapes Static (val)'
    assert dataset_title('folder', tmp_path / 'road_anomaly') == 'road_anomaly'
    assert dataset_title('folder', tmp_path / 'kitti' / 'val') == 'kitti/val'
