# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly run`` on photos, a video and bags without labels; Ctrl-C and bad inputs."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from conftest import make_random_bundle
import cv2
import numpy as np
from pixel_anomaly_ros import cli
from pixel_anomaly_ros.evaluation.bag_writer import BagWriter
from pixel_anomaly_ros.evaluation.bags import list_topics, read_images
from pixel_anomaly_ros.inference import outputs as outputs_module
from pixel_anomaly_ros.inference.run import run
from pixel_anomaly_ros.pipelines import create_pipeline
import pytest

CAMERA, LABEL = '/camera/image_raw', '/camera/anomaly_label'


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    return make_random_bundle('light_tiny', tmp_path_factory.mktemp('run') / 'bundle',
                              input_size=(64, 128))


def scene(seed: int, size) -> np.ndarray:
    """Return a smooth RGB image with a bright box (survives JPEG with small errors)."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([x * 200 // w, y * 200 // h, np.full_like(x, 40 + 20 * seed)], -1)
    image[h // 3:h // 2, w // 4:w // 2] = (250, 30, 250)
    return image.astype(np.uint8)


def check_frame_files(out: Path, entry: dict, threshold: float) -> np.ndarray:
    """Check one frame's overlay, mask and 16-bit score; return the score."""
    width, height = entry['size']
    overlay = cv2.imread(str(out / entry['files']['overlay']))
    mask = cv2.imread(str(out / entry['files']['mask']), cv2.IMREAD_UNCHANGED)
    levels = cv2.imread(str(out / entry['files']['score']), cv2.IMREAD_UNCHANGED)
    assert overlay.shape == (height, width, 3) and mask.shape == levels.shape == (height, width)
    assert levels.dtype == np.uint16 and set(np.unique(mask)) <= {0, 255}
    score = levels / 65535.0
    flagged = mask == 255
    assert flagged.mean() == pytest.approx(entry['anomaly_fraction'], abs=1e-6)
    # The mask is score >= threshold; 16-bit rounding blurs it by 1/65535 at most.
    assert (score[flagged] >= threshold - 1e-5).all()
    assert (score[~flagged] < threshold + 1e-5).all()
    assert score.max() == pytest.approx(entry['max_score'], abs=1e-5)
    return score


def no_partial_files(out: Path) -> bool:
    return not [p for p in out.rglob('*') if p.name.startswith('.') or 'partial' in p.name]


def test_folder_of_mixed_photos_without_labels(bundle, tmp_path, capsys):
    photos = tmp_path / 'photos'
    sizes = {'a.jpg': (120, 200), 'street/b.png': (90, 90), 'c.webp': (64, 160),
             'street/deep/d.bmp': (150, 100), 'e.JPG': (80, 96)}
    for i, (name, size) in enumerate(sizes.items()):
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(photos / name), scene(i, size)[..., ::-1])
    (photos / 'street' / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    (photos / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    status = cli.main(['run', str(photos), '--bundle', str(bundle.path), '--out', str(out),
                       '--backend', 'torch', '--no-progress'])
    assert status == 0
    printed = capsys.readouterr().out
    assert '5 frames processed, 1 skipped' in printed and 'skipped street/broken' in printed
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['input'] == {'path': str(photos), 'kind': 'folder', 'frames': 6}
    assert summary['backend'] == 'torch' and summary['precision'] == 'fp32'
    assert summary['bundle']['name'] == bundle.spec.name
    point = summary['operating_point']
    assert point['name'] == 'threshold' and point['threshold'] == bundle.spec.threshold
    assert summary['interrupted'] is False and 'outputs' in summary and not summary['outputs']
    assert [s['name'] for s in summary['skipped']] == ['street/broken']
    assert 'cannot be decoded' in summary['skipped'][0]['error']
    names = {f['name']: f for f in summary['frames']}
    assert sorted(names) == ['a', 'c', 'e', 'street/b', 'street/deep/d']
    pipeline = create_pipeline(bundle)
    for name, size in sizes.items():
        entry = names[Path(name).with_suffix('').as_posix()]
        assert entry['size'] == [size[1], size[0]] and entry['latency_ms'] > 0
        score = check_frame_files(out, entry, point['threshold'])
        image = cv2.cvtColor(cv2.imread(str(photos / name)), cv2.COLOR_BGR2RGB)
        np.testing.assert_allclose(score, pipeline(image).score, atol=2e-5)
    assert summary['frames_processed'] == 5 and summary['frames_skipped'] == 1
    assert summary['latency_ms']['median'] > 0 and summary['load_average']['cores'] >= 1
    assert not (out / 'overlay.mp4').exists() and no_partial_files(out)
    # A second run replaces the first; a directory holding other files is refused.
    assert cli.main(['run', str(photos / 'a.jpg'), '--bundle', str(bundle.path), '--out',
                     str(out), '--backend', 'torch', '--no-progress', '--score-format',
                     'npy']) == 0
    assert sorted(p.name for p in (out / 'scores').rglob('*.*')) == ['a.npy']
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'thesis.tex').write_text('keep me')
    capsys.readouterr()
    assert cli.main(['run', str(photos), '--bundle', str(bundle.path), '--out',
                     str(tmp_path / 'mine'), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'thesis.tex' in err and err.count('\n') == 1
    assert sorted(p.name for p in (tmp_path / 'mine').iterdir()) == ['thesis.tex']


def write_video(path: Path, frames: int, rate: float, size=(96, 160)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), rate, size[::-1])
    for i in range(frames):
        writer.write(scene(i, size)[..., ::-1])
    writer.release()


def test_video_frames_in_equal_frames_out_and_the_mp4_reads_back(bundle, tmp_path):
    video = tmp_path / 'drive.mp4'
    write_video(video, 11, 15.0)
    summary = run(bundle, video, tmp_path / 'out', backend='torch', progress=False)
    assert summary['input'] == {'path': str(video), 'kind': 'video', 'frames': 11,
                                'rate_hz': 15.0}
    assert [f['name'] for f in summary['frames']] == [f'frame_{i:06d}' for i in range(11)]
    assert summary['frames'][3]['stamp_ns'] == round(3 * 1e9 / 15)
    written = summary['outputs']['video']
    assert written['frames'] == written['frames_read_back'] == 11 and written['rate_hz'] == 15
    capture = cv2.VideoCapture(str(tmp_path / 'out' / 'overlay.mp4'))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape[0] == 96 and first.shape[1] > 160  # the colour bar at the right
    for entry in summary['frames']:
        check_frame_files(tmp_path / 'out', entry, summary['operating_point']['threshold'])
    # --every 3 keeps frames 0, 3, 6, 9 and a third of the rate; --limit stops early.
    summary = run(bundle, video, tmp_path / 'every', every=3, limit=3, backend='torch',
                  progress=False, threshold=0.5)
    assert [f['index'] for f in summary['frames']] == [0, 3, 6]
    assert summary['outputs']['video']['rate_hz'] == pytest.approx(5.0)
    assert summary['operating_point']['name'] == 'given'
    assert summary['outputs']['video']['frames_read_back'] == 3


def write_bag(path: Path, frames: int, compression=None, extra_camera: bool = False) -> list:
    images = [scene(i, (72, 120)) for i in range(frames)]
    stamps = [1_700_000_000_000_000_000 + i * 50_000_000 for i in range(frames)]
    with BagWriter(path) as writer:
        for image, stamp in zip(images, stamps):
            writer.write(CAMERA, image, stamp, 'rgb8', 'cam', compression)
            writer.write(LABEL, np.zeros(image.shape[:2], np.uint8), stamp, 'mono8', 'cam')
            if extra_camera:
                writer.write('/camera2/image', image, stamp, 'rgb8', 'cam')
    return stamps


@pytest.mark.parametrize('compression', [None, 'jpeg'])
def test_raw_and_compressed_bags(bundle, tmp_path, compression):
    bag = tmp_path / 'drive.mcap'
    stamps = write_bag(bag, 6, compression)
    out = tmp_path / 'out'
    # Two image topics; the camera is the colour (or compressed) one, found without a topic.
    summary = run(bundle, bag, out, backend='torch', progress=False, bag=True)
    assert summary['input']['topic'] == CAMERA and summary['input']['frames'] == 6
    assert summary['input']['rate_hz'] == pytest.approx(20.0)
    assert [f['stamp_ns'] for f in summary['frames']] == stamps
    assert summary['outputs']['video']['frames_read_back'] == 6
    pipeline = create_pipeline(bundle)
    decoded = [f.image for f in read_images(bag, CAMERA, 'rgb8')]
    for entry, image in zip(summary['frames'], decoded):
        score = check_frame_files(out, entry, summary['operating_point']['threshold'])
        np.testing.assert_allclose(score, pipeline(image).score, atol=2e-5)
    # The output bag holds the node's topics with the input stamps.
    topics = list_topics(out / 'outputs_bag')
    assert set(topics) == set(outputs_module.BAG_TOPICS)
    scores = list(read_images(out / 'outputs_bag', '/anomaly/score'))
    assert [s.stamp_ns for s in scores] == stamps and scores[0].encoding == '32FC1'
    masks = list(read_images(out / 'outputs_bag', '/anomaly/mask'))
    mask = cv2.imread(str(out / summary['frames'][0]['files']['mask']), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(masks[0].image, mask)


def test_bag_with_two_cameras_needs_a_topic(bundle, tmp_path, capsys):
    bag = tmp_path / 'two.mcap'
    write_bag(bag, 2, extra_camera=True)
    args = ['run', str(bag), '--bundle', str(bundle.path), '--out', str(tmp_path / 'out'),
            '--backend', 'torch', '--no-progress']
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert '2 camera topics' in err and '--image-topic' in err and err.count('\n') == 1
    assert not (tmp_path / 'out').exists()
    assert cli.main(args + ['--image-topic', '/nope']) == 2
    assert "no image topic '/nope'" in capsys.readouterr().err
    assert cli.main(args + ['--image-topic', '/camera2/image']) == 0


def test_an_interrupted_frame_leaves_no_partial_files(bundle, tmp_path, monkeypatch):
    video = tmp_path / 'v.mp4'
    write_video(video, 6, 10.0)
    calls = {'n': 0}
    replace = os.replace

    def interrupt_third_frame(src, dst):
        calls['n'] += 1
        if calls['n'] == 8:  # frame 2: its overlay is in place, its mask not yet
            raise KeyboardInterrupt
        return replace(src, dst)

    monkeypatch.setattr(outputs_module.os, 'replace', interrupt_third_frame)
    out = tmp_path / 'out'
    with pytest.raises(KeyboardInterrupt):
        run(bundle, video, out, backend='torch', progress=False)
    monkeypatch.setattr(outputs_module.os, 'replace', replace)
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['interrupted'] is True and summary['frames_processed'] == 2
    assert no_partial_files(out)
    for folder in ('overlays', 'masks', 'scores'):
        assert sorted(p.stem for p in (out / folder).iterdir()) == \
            ['frame_000000', 'frame_000001']
    assert summary['outputs']['video']['frames_read_back'] == 2


def test_ctrl_c_leaves_a_consistent_directory(bundle, tmp_path):
    photos = tmp_path / 'photos'
    photos.mkdir()
    for i in range(400):
        assert cv2.imwrite(str(photos / f'{i:03d}.png'), scene(i % 7, (64, 96))[..., ::-1])
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, '-c', 'import sys; from pixel_anomaly_ros.cli import main; '
         'sys.exit(main())', 'run', str(photos), '--bundle',
         str(bundle.path), '--out', str(out), '--backend', 'torch', '--no-progress'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as in a terminal, also when the suite runs as a shell's background job (which
        # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob('scores/*.png'))) < 3:  # some frames are done
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and 'interrupted' in err
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['interrupted'] is True and 3 <= summary['frames_processed'] < 400
    assert no_partial_files(out)
    done = sorted(f['name'] for f in summary['frames'])
    for folder in ('overlays', 'masks', 'scores'):
        assert sorted(p.stem for p in (out / folder).iterdir()) == done
