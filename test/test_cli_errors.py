# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Every user mistake gives one line that says what to do, never a traceback: one test per case.

Argument mistakes exit through argparse (status 2, ``SystemExit``); mistakes found while a
command runs return 2 from ``main``. Either way stderr holds exactly one line.
"""

from pathlib import Path

from conftest import make_random_bundle
import cv2
import numpy as np
from pixel_anomaly_ros.cli import build_parser, main
from pixel_anomaly_ros.evaluation.bags import list_topics, read_images
import pytest
import yaml


def one_line_error(capsys, argv, *fragments) -> str:
    """Run the command; assert status 2 and one error line holding ``fragments``; return it."""
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse
        status = exit_info.code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert status == 2, (status, captured.err)
    assert err.startswith('pixel-anomaly') and ': error: ' in err, err
    assert '\n' not in err and 'Traceback' not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.fixture(scope='module')
def pebal_bundle(tmp_path_factory):
    """Write a random-weight PEBAL-on-ICNet bundle without exported graphs."""
    return make_random_bundle('pebal_icnet_tiny', tmp_path_factory.mktemp('b') / 'pebal',
                              input_size=(64, 128)).path


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """Write an image + label folder dataset of two frames."""
    root = tmp_path_factory.mktemp('folder')
    for sub in ('images', 'labels'):
        (root / sub).mkdir()
    rng = np.random.default_rng(0)
    for name in ('a', 'b'):
        cv2.imwrite(str(root / 'images' / f'{name}.png'),
                    rng.integers(0, 256, (32, 64, 3), np.uint8))
        cv2.imwrite(str(root / 'labels' / f'{name}.png'), rng.integers(0, 2, (32, 64), np.uint8))
    return root


def test_evaluate_option_value_of_the_wrong_type(capsys, pebal_bundle, folder):
    one_line_error(capsys, ['evaluate', '--bundle', str(pebal_bundle), '--dataset', 'folder',
                            '--root', str(folder), '--option', 'anomaly_values=abc'],
                   'option anomaly_values takes a list, each item a whole number', "'abc'")


def test_evaluate_wrong_option_lists_the_valid_keys(capsys, pebal_bundle, folder):
    one_line_error(capsys, ['evaluate', '--bundle', str(pebal_bundle), '--dataset', 'folder',
                            '--root', str(folder), '--option', 'anomaly_value=1'],
                   "unknown option 'anomaly_value'",
                   'valid options: images, labels, label_suffix, anomaly_values')


def test_bench_threads_zero(capsys):
    one_line_error(capsys, ['bench', '--preset', 'pebal_tiny', '--threads', '0'],
                   'argument --threads: expected a number >= 1, got 0')


def test_bench_writes_under_out_unless_asked(tmp_path):
    args = build_parser().parse_args(['bench', '--preset', 'pebal_tiny'])
    assert Path(args.out) == Path('out/benchmarks')  # benchmarks/ only with --out
    args = build_parser().parse_args(['bench', '--preset', 'pebal_tiny', '--out', 'benchmarks'])
    assert args.out == 'benchmarks'


def test_train_data_that_is_not_a_cityscapes_tree(capsys, tmp_path):
    (tmp_path / 'photos').mkdir()
    one_line_error(capsys, ['train', 'segmentation', '--data', str(tmp_path / 'photos'),
                            '--out', str(tmp_path / 'out'), '--steps', '1', '--quiet'],
                   f'no images under {tmp_path / "photos"}/leftImg8bit/train',
                   'Cityscapes layout')
    assert not (tmp_path / 'out').exists()


def test_train_dissimilarity_from_a_pebal_bundle(capsys, tmp_path, pebal_bundle):
    one_line_error(capsys, ['train', 'dissimilarity', '--data', str(tmp_path), '--init',
                            str(pebal_bundle), '--out', str(tmp_path / 'out'), '--steps', '1'],
                   'train dissimilarity needs a synboost_light bundle',
                   f'--init {pebal_bundle} is a pebal bundle')


def test_train_zero_steps(capsys, tmp_path):
    one_line_error(capsys, ['train', 'pebal', '--data', str(tmp_path), '--out',
                            str(tmp_path / 'out'), '--steps', '0'],
                   'argument --steps: expected a number >= 1, got 0')


def test_calibrate_percentiles_in_the_wrong_order(capsys, tmp_path, pebal_bundle):
    one_line_error(capsys, ['calibrate', '--bundle', str(pebal_bundle), '--data', str(tmp_path),
                            '--percentiles', '99', '1'], '0 <= LO < HI <= 100, got 99 1')


def test_calibrate_negative_smoothing(capsys, tmp_path, pebal_bundle):
    one_line_error(capsys, ['calibrate', '--bundle', str(pebal_bundle), '--data', str(tmp_path),
                            '--smoothing', '0', '-1'],
                   '--smoothing sigmas must lie in [0, 16] raw-score pixels (0 for none), '
                   'got 0 -1')


def test_export_unsupported_opset(capsys, pebal_bundle):
    one_line_error(capsys, ['export', '--bundle', str(pebal_bundle), '--opset', '25'],
                   'argument --opset: invalid choice: 25')


def test_quantization_error(capsys, pebal_bundle, folder):
    # --build-only quantises the graphs already there: none were exported.
    one_line_error(capsys, ['export', '--bundle', str(pebal_bundle), '--int8', '--build-only',
                            '--calibration', str(folder / 'images')],
                   'energy.onnx: missing; export the fp32 graphs first')


def test_misspelt_key_in_bundle_yaml(capsys, tmp_path, pebal_bundle):
    bundle = tmp_path / 'misspelt'
    bundle.mkdir()
    doc = yaml.safe_load((pebal_bundle / 'bundle.yaml').read_text())
    doc['input']['szie'] = doc['input'].pop('size')
    (bundle / 'bundle.yaml').write_text(yaml.safe_dump(doc))
    one_line_error(capsys, ['export', '--bundle', str(bundle)],
                   str(bundle / 'bundle.yaml'), 'unknown key input.szie (did you mean size?)')


def test_dataset_to_bag_writes_the_file_the_user_named(capsys, tmp_path, folder):
    out = tmp_path / 'out' / 'ra21.mcap'
    assert main(['dataset-to-bag', '--dataset', 'folder', '--root', str(folder), '--out',
                 str(out)]) == 0, capsys.readouterr().err
    assert out.is_file() and sorted(p.name for p in out.parent.iterdir()) == ['ra21.mcap']
    assert sorted(list_topics(out)) == ['/camera/anomaly_label', '/camera/image']
    assert len(list(read_images(out, '/camera/image'))) == 2
    # Any other name is a rosbag2 directory, as before.
    assert main(['dataset-to-bag', '--dataset', 'folder', '--root', str(folder), '--out',
                 str(tmp_path / 'out' / 'ra21_bag')]) == 0
    assert sorted(p.name for p in (tmp_path / 'out' / 'ra21_bag').iterdir()) == [
        'metadata.yaml', 'ra21_bag.mcap']
    capsys.readouterr()
    one_line_error(capsys, ['dataset-to-bag', '--dataset', 'folder', '--root', str(folder),
                            '--out', str(out)], f'{out} exists already')
