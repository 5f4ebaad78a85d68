# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The synthetic world: Cityscapes/Fishyscapes layouts, labels, determinism, atomicity, bag."""

import argparse
import json
from pathlib import Path
import re

import cv2
import numpy as np
from PIL import Image
from pixel_anomaly_ros.cli import synth as synth_cli
from pixel_anomaly_ros.evaluation.bags import read_aligned
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.evaluation.datasets.samples import CITYSCAPES_TRAIN_IDS
from pixel_anomaly_ros.synthetic import writer
from pixel_anomaly_ros.synthetic.anomalies import KINDS, paste_anomaly, render_object
from pixel_anomaly_ros.synthetic.canvas import (
    ANOMALY, CLASS_NAMES, LABEL_TO_TRAIN_ID, THING_LABEL_IDS, TRAIN_ID_TO_LABEL_ID)
from pixel_anomaly_ros.synthetic.scene import build_scene, render_scene
from pixel_anomaly_ros.synthetic.writer import generate
import pytest

SIZE = (64, 128)  # (height, width)
ARGS = {'seed': 0, 'train': 6, 'val': 2, 'anomalies': 4, 'size': SIZE, 'bag': True}
REQUIRED = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
            'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'car')


def read(path: Path) -> np.ndarray:
    """Read a PNG keeping its raw values (RGB for colour images)."""
    with Image.open(path) as image:
        return np.asarray(image)


def files_of(root: Path) -> dict:
    """Return ``{relative path: bytes}`` of every file under a directory."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def world(tmp_path_factory) -> Path:
    """Generate one tiny world for the module."""
    out = tmp_path_factory.mktemp('synth') / 'world'
    result = generate(out, progress=False, **ARGS)
    assert not result['reused'] and Path(result['out_dir']) == out.absolute()
    return out


def test_cityscapes_layout_and_names(world):
    pattern = re.compile(r'cityscapes/(leftImg8bit|gtFine)/(train|val)/([a-z]+)/\3_(\d{6})_000019_'
                         r'(leftImg8bit|gtFine_labelIds|gtFine_labelTrainIds|'
                         r'gtFine_instanceIds)\.png')
    names = sorted(p.relative_to(world).as_posix()
                   for p in (world / 'cityscapes').rglob('*') if p.is_file())
    assert len(names) == 4 * (ARGS['train'] + ARGS['val'])
    ids = {'train': set(), 'val': set()}
    for name in names:
        m = pattern.fullmatch(name)
        assert m, name
        assert (m[1] == 'leftImg8bit') == (m[5] == 'leftImg8bit'), name
        ids[m[2]].add(int(m[4]))
    assert ids == {'train': set(range(ARGS['train'])), 'val': set(range(ARGS['val']))}
    image = world / 'cityscapes/leftImg8bit/val/deltaville' / \
        'deltaville_000001_000019_leftImg8bit.png'
    assert read(image).shape == SIZE + (3,) and read(image).dtype == np.uint8
    manifest = json.loads((world / 'manifest.json').read_text())
    assert manifest['seed'] == 0 and manifest['arguments']['size'] == list(SIZE)
    assert manifest['counts'] == {'train': 6, 'val': 2, 'anomalies': 4, 'bag_frames': 20}


def test_label_ids_train_ids_and_instances_are_consistent(world):
    things = np.isin(np.arange(256), THING_LABEL_IDS)
    for ids_path in sorted((world / 'cityscapes/gtFine').rglob('*_gtFine_labelIds.png')):
        prefix = str(ids_path)[:-len('labelIds.png')]
        ids, train = read(ids_path), read(Path(prefix + 'labelTrainIds.png'))
        instances = read(Path(prefix + 'instanceIds.png'))
        assert ids.dtype == np.uint8 and train.dtype == np.uint8 and ids.shape == SIZE
        assert instances.dtype in (np.uint16, np.int32) and instances.shape == SIZE
        np.testing.assert_array_equal(train, CITYSCAPES_TRAIN_IDS[ids])
        assert set(np.unique(ids)) <= set(CLASS_NAMES) - {ANOMALY}
        thing = things[ids]
        np.testing.assert_array_equal(instances[thing] // 1000, ids[thing])
        np.testing.assert_array_equal(instances[~thing], ids[~thing])
        for inst in np.unique(instances[thing]):  # one class per instance id
            assert len(np.unique(ids[instances == inst])) == 1


def test_every_listed_class_appears_across_a_few_scenes():
    seen = set()
    for index in range(10):
        canvas = render_scene(build_scene(np.random.default_rng([1, index]), (96, 192)))
        seen |= {CLASS_NAMES[k] for k in np.unique(canvas.labels)}
    assert set(REQUIRED) <= seen, set(REQUIRED) - seen
    assert LABEL_TO_TRAIN_ID[list(TRAIN_ID_TO_LABEL_ID)].tolist() == list(range(19))


def test_anomaly_labels_are_0_1_255_non_empty_and_vary_in_size(world):
    areas = []
    for path in sorted((world / 'anomaly/labels').glob('*.png')):
        label = read(path)
        assert set(np.unique(label)) <= {0, 1, 255} and (label == 1).any()
        semantic = read(world / 'anomaly/semantic' / path.name)
        assert (semantic[label == 1] == 255).all() and (semantic[label == 0] < 19).all()
    for index in range(10):
        files, _ = writer.render_job(('anomaly', index, 10, 5, SIZE, 0))
        label = cv2.imdecode(np.frombuffer(files[f'anomaly/labels/'
                                                 f'{writer.frame_id("anomaly", index, 10)}.png'],
                                           np.uint8), cv2.IMREAD_UNCHANGED)
        areas.append(int((label == 1).sum()))
        border = (label == 255) & (cv2.dilate((label == 1).astype(np.uint8), np.ones((3, 3))) > 0)
        assert border.any()  # a void ring around the object
    assert min(areas) > 0 and max(areas) >= 4 * min(areas), areas


def test_same_seed_same_bytes_other_seed_differs(world, tmp_path):
    again = generate(tmp_path / 'again', progress=False, **ARGS)
    assert files_of(Path(again['out_dir'])) == files_of(world)
    other = generate(tmp_path / 'other', progress=False, **{**ARGS, 'seed': 1, 'bag': False})
    first, second = files_of(world), files_of(Path(other['out_dir']))
    images = [k for k in second if 'leftImg8bit' in k or k.startswith('anomaly/images')]
    assert images and all(first[k] != second[k] for k in images)


def test_loaders_read_the_anomaly_set(world):
    folder = open_dataset('folder', world / 'anomaly', semantic='semantic')
    fs = open_dataset('fs_static', world / 'fishyscapes_static')
    assert len(folder) == len(fs) == ARGS['anomalies']
    for a, b in zip(folder, fs):
        assert b.name == f'{int(a.name.split("_")[1]):04d}_{a.name}'
        np.testing.assert_array_equal(a.image, b.image)  # clean scene + overlay
        np.testing.assert_array_equal(a.anomaly, b.anomaly)
        np.testing.assert_array_equal(a.semantic, b.semantic)
        assert a.image.shape == SIZE + (3,) and (a.anomaly == 1).any()


def test_paste_keeps_the_image_outside_the_mask():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 200, 3), np.uint8)
    label = np.full((120, 200), 10, np.uint8)
    label[60:] = 0  # road below row 60
    for seed in range(12):
        out, mask = paste_anomaly(image, label, rng=seed, on_road=1.0)
        assert out.dtype == np.uint8 and mask.shape == label.shape and mask.any()
        np.testing.assert_array_equal(out[~mask], image[~mask])
        assert not (out[mask] == image[mask]).all()
        bottom = np.nonzero(mask.any(1))[0][-1]
        assert bottom >= 60  # stands on the road
    out, mask = paste_anomaly(image, rng=1, kind='box', height=30, position=(100, 50))
    assert mask[100, 50] and not mask[:70].any() and (out[~mask] == image[~mask]).all()
    for kind in KINDS:
        rgb, silhouette = render_object(np.random.default_rng(3), 20, 30, kind)
        assert silhouette.shape == rgb.shape[:2] == (20, 30) and silhouette[-1].any(), kind
    with pytest.raises(ValueError, match='unknown anomaly kind'):
        render_object(rng, 10, 10, 'unicorn')


class Boom(RuntimeError):
    """Raised by a patched file writer."""


@pytest.mark.parametrize('error', [Boom, KeyboardInterrupt])
def test_interrupted_generate_leaves_nothing(tmp_path, monkeypatch, error):
    calls = []
    original = writer._write_file

    def failing(path, data):
        calls.append(path)
        if len(calls) == 7:
            raise error('stop')
        original(path, data)

    monkeypatch.setattr(writer, '_write_file', failing)
    with pytest.raises(error):
        generate(tmp_path / 'out', progress=False, **{**ARGS, 'bag': False})
    assert len(calls) == 7 and list(tmp_path.iterdir()) == []


def test_rerun_reuses_and_other_arguments_refuse(world, tmp_path, capsys):
    before = {p: p.stat().st_mtime_ns for p in world.rglob('*')}
    result = generate(world, **ARGS)
    assert result['reused'] and 'reusing' in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in world.rglob('*')} == before
    out = tmp_path / 'w'
    small = {**ARGS, 'train': 1, 'val': 0, 'anomalies': 1, 'bag': False}
    generate(out, progress=False, **small)
    with pytest.raises(FileExistsError, match='--force'):
        generate(out, progress=False, **{**small, 'seed': 9})
    replaced = generate(out, progress=False, overwrite=True, **{**small, 'seed': 9})
    assert not replaced['reused'] and json.loads((out / 'manifest.json').read_text())['seed'] == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ['w']


def test_bag_is_readable_with_ego_motion(world):
    bag = read_aligned(world / 'anomaly_bag', '/camera/image_raw', '/camera/anomaly_label')
    frames = list(bag)
    assert len(frames) == ARGS['anomalies'] * writer.BAG_FRAMES_PER_SCENE
    assert all(v == 0 for v in bag.unmatched.values())
    stamps = [image.stamp_ns for image, _ in frames]
    assert np.all(np.diff(stamps) == 100_000_000)
    first = open_dataset('folder', world / 'anomaly')[0]
    np.testing.assert_array_equal(frames[0][0].image, first.image)
    np.testing.assert_array_equal(frames[0][1].image, first.anomaly)
    for image, label in frames:
        assert image.encoding == 'rgb8' and label.encoding == 'mono8'
        assert set(np.unique(label.image)) <= {0, 1, 255}
    assert not np.array_equal(frames[0][0].image, frames[1][0].image)  # the camera moves


def test_cli_parser_and_run(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog='pixel-anomaly')
    sub = parser.add_subparsers(dest='command')
    synth_cli.add_parser(sub)
    help_text = sub.choices['synth'].format_help()
    assert 'examples:' in help_text and 'fs_static' in help_text and '--size' in help_text
    argv = ['synth', '--out', str(tmp_path / 'cli'), '--size', '128x64', '--train', '1',
            '--val', '1', '--anomalies', '1', '--seed', '4', '--quiet']
    args = parser.parse_args(argv)
    assert args.size == (64, 128) and args.func is synth_cli.run
    assert args.func(args) == 0 and 'wrote 1 train' in capsys.readouterr().out
    assert read(next((tmp_path / 'cli/anomaly/images').glob('*.png'))).shape == (64, 128, 3)
    assert args.func(args) == 0 and 'reused' in capsys.readouterr().out
    args = parser.parse_args(argv[:-2] + ['5', '--quiet'])
    assert args.func(args) == 2 and 'exists' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(['synth', '--out', 'x', '--size', '12x4'])


def test_parallel_workers_write_the_same_bytes(tmp_path):
    small = {**ARGS, 'train': 3, 'val': 1, 'anomalies': 2, 'bag': False}
    one = generate(tmp_path / 'one', progress=False, workers=1, **small)
    two = generate(tmp_path / 'two', progress=False, workers=2, **small)
    assert files_of(Path(one['out_dir'])) == files_of(Path(two['out_dir']))
    (tmp_path / 'empty').mkdir()
    assert not generate(tmp_path / 'empty', progress=False, **small)['reused']


def test_pixel_anomaly_synth_command(tmp_path):
    from pixel_anomaly_ros.cli import main
    out = tmp_path / 'world'
    args = ['synth', '--out', str(out), '--train', '1', '--val', '1', '--anomalies', '1',
            '--size', '128x64', '--quiet']
    assert main(args) == 0
    assert len(list((out / 'cityscapes' / 'leftImg8bit').rglob('*.png'))) == 2
    assert main(args) == 0  # reused
