# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write a synthetic world to disk in the layouts of Cityscapes and Fishyscapes (and a bag).

Layout under ``out_dir`` (``<id>`` is ``<city>_<seq:06d>_000019``)::

    manifest.json                     seed, arguments, counts, paths, label conventions
    cityscapes/leftImg8bit/{train,val}/<city>/<id>_leftImg8bit.png
    cityscapes/gtFine/{train,val}/<city>/<id>_gtFine_{labelIds,labelTrainIds,instanceIds}.png
    anomaly/images/<id>.png           scenes with pasted anomalies (``open_dataset('folder')``)
    anomaly/labels/<id>.png           0 inlier, 1 anomaly, 255 void
    anomaly/semantic/<id>.png         train ids, anomaly pixels 255
    fishyscapes_static/NNNN_<id>_labels.png, NNNN_<id>_rgb.npz     (``open_dataset('fs_static')``)
    fishyscapes_static/leftImg8bit/val/<city>/<id>_leftImg8bit.png  the scenes without anomalies
    fishyscapes_static/gtFine/val/<city>/<id>_gtFine_*.png
    anomaly_bag/                      optional rosbag2 (MCAP) of the anomaly scenes in motion

Void (255) in the anomaly labels: Cityscapes void pixels (ego vehicle, static objects) and a
thin ring around every anomaly (2 px at 512 columns), where blur mixes object and background.
Every image has its own seed ``[seed, split, index]``, so files do not depend on the counts of
the other splits and parallel workers give the same bytes.
"""

from concurrent.futures import ProcessPoolExecutor
import io
import json
import multiprocessing
import os
from pathlib import Path
import shutil
import tempfile
import zipfile

import cv2
import numpy as np
from pixel_anomaly_ros.synthetic.camera import apply_camera, REALISM, sample_camera
from pixel_anomaly_ros.synthetic.canvas import ANOMALY, LABEL_TO_TRAIN_ID
from pixel_anomaly_ros.synthetic.scene import build_scene, render_scene
from pixel_anomaly_ros.synthetic.textures import apply_finish
from tqdm import tqdm

FORMAT = 'pixel_anomaly_ros.synthetic'
VERSION = 1
CITIES = {'train': ('alphaville', 'betaburg', 'gammadorf'), 'val': ('deltaville',),
          'anomaly': ('omegaville',)}
SPLIT_CODES = {'train': 0, 'val': 1, 'anomaly': 2}
#: Extra seed word of the camera model's stream (``--realism camera``), apart from the scene's.
CAMERA_STREAM = 7
IMAGE_TOPIC, LABEL_TOPIC, SEMANTIC_TOPIC = ('/camera/image_raw', '/camera/anomaly_label',
                                            '/camera/semantic')
BAG_FRAMES_PER_SCENE = 5
BAG_RATE_HZ = 10.0
BAG_START_NS = 1_700_000_000 * 1_000_000_000


def frame_id(split: str, index: int, count: int) -> str:
    """
    Return the Cityscapes-style id ``<city>_<seq:06d>_000019`` of an image.

    :param split: ``'train'``, ``'val'`` or ``'anomaly'``.
    :param index: image index within the split.
    :param count: number of images in the split (cities get equal consecutive shares).
    :return: the id.
    """
    cities = CITIES[split]
    return f'{cities[index * len(cities) // max(count, 1)]}_{index:06d}_000019'


def anomaly_label(labels: np.ndarray, border: int) -> np.ndarray:
    """
    Turn label ids with :data:`ANOMALY` pixels into a Fishyscapes label.

    :param labels: (H, W) uint8 label ids.
    :param border: width in pixels of the void ring around anomalies.
    :return: (H, W) uint8: 0 inlier, 1 anomaly, 255 void.
    """
    anomaly = labels == ANOMALY
    out = np.where(LABEL_TO_TRAIN_ID[labels] == 255, 255, 0).astype(np.uint8)
    if border > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * border + 1,) * 2)
        out[cv2.dilate(anomaly.astype(np.uint8), kernel) > 0] = 255
    out[anomaly] = 1
    return out


def _png(array: np.ndarray) -> bytes:
    data = array[..., ::-1] if array.ndim == 3 else array
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(data))
    if not ok:
        raise RuntimeError(f'cannot encode a {array.dtype} array of shape {array.shape} as PNG')
    return buf.tobytes()


def _npz(name: str, array: np.ndarray) -> bytes:
    """Return a ``.npz`` archive with fixed timestamps (``np.savez`` stamps the time)."""
    member = io.BytesIO()
    np.lib.format.write_array(member, array, allow_pickle=False)
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f'{name}.npy', date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, member.getvalue())
    return out.getvalue()


def _gt_files(prefix: str, labels: np.ndarray, instances: np.ndarray) -> dict:
    return {f'{prefix}_gtFine_labelIds.png': _png(labels),
            f'{prefix}_gtFine_labelTrainIds.png': _png(LABEL_TO_TRAIN_ID[labels]),
            f'{prefix}_gtFine_instanceIds.png': _png(instances)}


def render_job(job: tuple) -> tuple[dict, list]:
    """
    Render one image of a split and encode its files.

    :param job: ``(split, index, count, seed, (height, width), bag_frames[, realism])``.
    :return: ``(files, frames)``: ``{relative path: bytes}`` and, for anomaly scenes with
        ``bag_frames``, a list of ``(image, anomaly_label, train_ids)`` frames in motion.
    """
    split, index, count, seed, size, bag_frames = job[:6]
    realism = job[6] if len(job) > 6 else 'none'
    name = frame_id(split, index, count)
    city = name.split('_')[0]
    look = None
    if realism == 'camera':  # its own stream: the scene stays the default one
        look = sample_camera(np.random.default_rng([seed, SPLIT_CODES[split], index,
                                                    CAMERA_STREAM]), size[1])

    def finish(image, spec, frame=0):
        image = apply_finish(image, spec.finish, frame=frame)
        return image if look is None else apply_camera(image, look, frame=frame)

    if split != 'anomaly':
        spec = build_scene(np.random.default_rng([seed, SPLIT_CODES[split], index]), size)
        canvas = render_scene(spec)
        image = finish(canvas.image, spec)
        base = f'cityscapes/gtFine/{split}/{city}/{name}'
        files = {f'cityscapes/leftImg8bit/{split}/{city}/{name}_leftImg8bit.png': _png(image)}
        files.update(_gt_files(base, canvas.labels, canvas.instances))
        return files, []
    h, w = size
    least = max(12, int(4e-4 * h * w))
    for attempt in range(50):
        rng = np.random.default_rng([seed, SPLIT_CODES[split], index, attempt])
        spec = build_scene(rng, size, anomalies=1 + min(2, int(rng.poisson(0.6))))
        canvas = render_scene(spec)
        if (canvas.labels == ANOMALY).sum() >= least:
            break
    border = max(1, int(round(2 * w / 512)))
    image = finish(canvas.image, spec)
    clean = render_scene(spec, anomalies=False)
    clean_image = finish(clean.image, spec)
    semantic = LABEL_TO_TRAIN_ID[canvas.labels]
    fs = f'{index:04d}_{name}'
    label = _png(anomaly_label(canvas.labels, border))
    files = {f'anomaly/images/{name}.png': _png(image),
             f'anomaly/labels/{name}.png': label,
             f'anomaly/semantic/{name}.png': _png(semantic),
             f'fishyscapes_static/{fs}_labels.png': label,
             f'fishyscapes_static/{fs}_rgb.npz': _npz(
                 'rgb', image.astype(np.int16) - clean_image.astype(np.int16)),
             f'fishyscapes_static/leftImg8bit/val/{city}/{name}_leftImg8bit.png':
                 _png(clean_image)}
    files.update(_gt_files(f'fishyscapes_static/gtFine/val/{city}/{name}', clean.labels,
                           clean.instances))
    frames = []
    for k in range(bag_frames):
        moved = canvas if k == 0 else render_scene(spec, t=k / BAG_RATE_HZ)
        frames.append((image if k == 0 else finish(moved.image, spec, frame=k),
                       anomaly_label(moved.labels, border), LABEL_TO_TRAIN_ID[moved.labels]))
    return files, frames


def _arguments(seed, train, val, anomalies, size, bag, realism='none') -> dict:
    arguments = {'seed': int(seed), 'train': int(train), 'val': int(val),
                 'anomalies': int(anomalies), 'size': [int(size[0]), int(size[1])],
                 'bag': bool(bag)}
    if realism != 'none':  # absent by default: default manifests stay as they were
        arguments['realism'] = realism
    return arguments


def _manifest(arguments: dict, counts: dict) -> dict:
    return {
        'format': FORMAT, 'version': VERSION, 'seed': arguments['seed'],
        'arguments': arguments, 'counts': counts,
        'paths': {'cityscapes': 'cityscapes', 'anomaly': 'anomaly',
                  'fishyscapes_static': 'fishyscapes_static',
                  'bag': 'anomaly_bag' if arguments['bag'] else None},
        'open_dataset': {
            'folder': {'root': 'anomaly', 'semantic': 'semantic'},
            'fs_static': {'root': 'fishyscapes_static'},
            'bag': {'root': 'anomaly_bag', 'image_topic': IMAGE_TOPIC,
                    'label_topic': LABEL_TOPIC, 'semantic_topic': SEMANTIC_TOPIC}},
        'labels': {'cityscapes': 'gtFine labelIds / labelTrainIds (255 void) / instanceIds '
                                 '(label_id * 1000 + k for person..bicycle, else the label id)',
                   'anomaly': '0 inlier, 1 anomaly, 255 void (Cityscapes void pixels such as '
                              'the ego vehicle, and a ring of 2 px per 512 columns around '
                              'each anomaly)'},
        'bag': {'frames_per_scene': BAG_FRAMES_PER_SCENE, 'rate_hz': BAG_RATE_HZ,
                'topics': [IMAGE_TOPIC, LABEL_TOPIC, SEMANTIC_TOPIC]}}


def _summary(out: Path, manifest: dict, reused: bool) -> dict:
    paths = {k: (str(out / v) if v else None) for k, v in manifest['paths'].items()}
    return {'out_dir': str(out), 'reused': reused, 'counts': manifest['counts'], 'paths': paths,
            'manifest': str(out / 'manifest.json')}


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _jobs(seed, train, val, anomalies, size, bag, realism='none'):
    for split, count in (('train', train), ('val', val), ('anomaly', anomalies)):
        for index in range(count):
            yield (split, index, count, seed, tuple(size), BAG_FRAMES_PER_SCENE if bag else 0,
                   realism)


def _produce(tmp: Path, jobs: list, workers: int, bar, bag_writer) -> int:
    frames_written = 0
    pool = None
    try:
        if workers > 1:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn'))
            results = pool.map(render_job, jobs, chunksize=4)
        else:
            results = map(render_job, jobs)
        for files, frames in results:
            for rel, data in files.items():
                _write_file(tmp / rel, data)
            for image, label, semantic in frames if bag_writer is not None else ():
                stamp = BAG_START_NS + round(frames_written * 1e9 / BAG_RATE_HZ)
                for topic, array, encoding in ((IMAGE_TOPIC, image, 'rgb8'),
                                               (LABEL_TOPIC, label, 'mono8'),
                                               (SEMANTIC_TOPIC, semantic, 'mono8')):
                    bag_writer.write(topic, array, stamp, encoding, 'camera')
                frames_written += 1
            bar.update(1)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return frames_written


def generate(out_dir: str | os.PathLike, seed: int = 0, train: int = 300, val: int = 50,
             anomalies: int = 50, size: tuple[int, int] = (256, 512), bag: bool = False,
             progress: bool = True, workers: int | None = None, overwrite: bool = False,
             realism: str = 'none') -> dict:
    """
    Generate a synthetic street world with an anomaly validation set, atomically.

    Everything is written into a hidden temporary sibling of ``out_dir`` and renamed into place
    at the end, so a failure or Ctrl-C leaves nothing behind. An existing output written with
    the same arguments is reused as it is.

    :param out_dir: directory to create.
    :param seed: master seed; the same seed and arguments give byte-identical files.
    :param train: number of Cityscapes-layout training images.
    :param val: number of Cityscapes-layout validation images.
    :param anomalies: number of anomaly images (folder and Fishyscapes Static layouts).
    :param size: ``(height, width)`` of every image.
    :param bag: also write ``anomaly_bag`` (MCAP): the anomaly scenes with ego-motion, 5 frames
        each at 10 Hz on ``/camera/image_raw`` (rgb8), ``/camera/anomaly_label`` and
        ``/camera/semantic`` (mono8), equal stamps.
    :param progress: show a tqdm progress bar.
    :param workers: processes rendering in parallel (the files do not depend on it); ``None``
        picks 1 for small jobs, else up to 8 and the CPU count.
    :param overwrite: replace an existing ``out_dir`` written with other arguments.
    :param realism: ``'none'`` (default: the world as it always was) or ``'camera'``: every
        image also passes :func:`.camera.apply_camera` (exposure, white balance, vignetting,
        chromatic aberration, defocus or motion blur, shot noise, JPEG); scenes and labels
        are those of ``'none'``.
    :return: ``{'out_dir', 'reused', 'counts', 'paths', 'manifest'}``.
    :raises FileExistsError: when ``out_dir`` exists, differs and ``overwrite`` is false.
    :raises ValueError: for negative counts, a size below 32x16 or an unknown ``realism``.
    """
    if realism not in REALISM:
        raise ValueError(f'unknown realism {realism!r}; choose one of {", ".join(REALISM)}')
    height, width = (int(v) for v in size)
    if min(train, val, anomalies) < 0 or height < 16 or width < 32:
        raise ValueError(f'need non-negative counts and a size of at least 32x16, got '
                         f'train={train} val={val} anomalies={anomalies} size={width}x{height}')
    out = Path(out_dir).absolute()
    arguments = _arguments(seed, train, val, anomalies, (height, width), bag, realism)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # an empty directory is as good as none
    if out.exists():
        try:
            manifest = json.loads((out / 'manifest.json').read_text())
        except (OSError, ValueError):
            manifest = None
        if manifest and manifest.get('version') == VERSION and \
                manifest.get('arguments') == arguments:
            if progress:
                print(f'synth: reusing {out} (same seed and arguments)')
            return _summary(out, manifest, reused=True)
        if not overwrite:
            raise FileExistsError(f'{out} exists and was not written by synth with these '
                                  'arguments; remove it, choose another --out or pass --force')
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.partial', dir=out.parent))
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the output should not be
        jobs = list(_jobs(seed, train, val, anomalies, (height, width), bag, realism))
        workers = default_workers(len(jobs)) if workers is None else max(1, int(workers))
        with tqdm(total=len(jobs), desc='synth', unit='img', disable=not progress) as bar:
            if bag:
                from pixel_anomaly_ros.evaluation.bag_writer import BagWriter
                with BagWriter(tmp / 'anomaly_bag', 'mcap') as writer:
                    frames = _produce(tmp, jobs, workers, bar, writer)
            else:
                frames = _produce(tmp, jobs, workers, bar, None)
        counts = {'train': train, 'val': val, 'anomalies': anomalies, 'bag_frames': frames}
        manifest = _manifest(arguments, counts)
        (tmp / 'manifest.json').write_text(json.dumps(manifest, indent=2, sort_keys=True) + '\n')
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.old', dir=out.parent))
            os.rename(out, old / out.name)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _summary(out, manifest, reused=False)


def default_workers(jobs: int) -> int:
    """
    Choose the number of rendering processes for a job count.

    :param jobs: images to render.
    :return: 1 for small jobs, else up to 8 and the CPU count.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return max(1, min(8, cpus or 1, jobs // 32))
