# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Anomaly-segmentation datasets as lazy sequences of samples with one label convention.

Every loader yields :class:`Sample` ``(image, anomaly, semantic, name)``: image (H, W, 3) uint8
RGB, anomaly (H, W) uint8 with 0 inlier / 1 anomaly / 255 void, semantic (H, W) uint8 Cityscapes
train ids (255 ignore) or ``None``. Frames are listed when a dataset is opened (missing files are
reported then) and read one at a time while iterating. The raw label values of each dataset and
where they come from (``research/benchmarks.md`` §2):

* Fishyscapes L&F / Static val: 0 inlier, 1 anomaly, anything else void
  (``bdlb/fishyscapes/benchmark.py`` keeps only pixels labelled 0 or 1).
* Road Anomaly: ``labels_semantic.png`` values >= 2 anomaly, the rest inlier, no void
  (the authors' ``labels_source >= 2``; the readme: background 0, anomaly 2).
* SegmentMeIfYouCan RoadAnomaly21 / RoadObstacle21: 0 inlier (road for obstacles), 1 anomaly,
  255 void (``road_anomaly_benchmark/datasets/tracks.py``).
* LostAndFound ``gtCoarse_labelIds``: 0 void (outside the road ROI, ego vehicle), 1 free road,
  2..200 anomaly as in SMIYC ``tracks.py``; or ``labelTrainIds`` (PEBAL/SynBoost/RbA): 2 anomaly,
  0/1 inlier, 255 void.
"""

from dataclasses import dataclass
import inspect
import json
from pathlib import Path
import re
from typing import Iterable, Iterator, NamedTuple, Sequence

import cv2
import numpy as np
from PIL import Image
from pixel_anomaly_ros.evaluation.bags import AlignedBag, BagError

INLIER, ANOMALY, VOID = 0, 1, 255
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.ppm', '.tif', '.tiff')


class Sample(NamedTuple):
    """One evaluation frame: RGB image, 0/1/255 anomaly label, optional train ids, name."""

    image: np.ndarray
    anomaly: np.ndarray
    semantic: np.ndarray | None
    name: str


class DatasetError(ValueError):
    """A dataset that is missing, malformed or inconsistent; the message names the path."""


def label_lut(anomaly: Iterable[int], void: Iterable[int] = (),
              inlier: Iterable[int] | None = None) -> np.ndarray:
    """
    Build a lookup table from raw label values (8 or 16 bit) to 0 inlier / 1 anomaly / 255 void.

    :param anomaly: raw values that mean anomaly.
    :param void: raw values that mean void (ignored by the metrics).
    :param inlier: raw values that mean inlier; ``None`` makes every value not listed in
        ``anomaly`` or ``void`` an inlier, otherwise unlisted values are void.
    :return: (65536,) uint8 table; ``table[raw]`` is the unified label.
    """
    table = np.full(65536, INLIER if inlier is None else VOID, np.uint8)
    table[list(inlier or [])] = INLIER
    table[list(void)] = VOID
    table[list(anomaly)] = ANOMALY
    return table


FISHYSCAPES_LUT = label_lut(anomaly=[1], inlier=[0])
SMIYC_LUT = label_lut(anomaly=[1], void=[255], inlier=[0])
ROAD_ANOMALY_LUT = label_lut(anomaly=range(2, 65536))
LAF_IDS_LUT = label_lut(anomaly=range(2, 201), void=[0], inlier=[1])
LAF_TRAIN_IDS_LUT = label_lut(anomaly=[2], void=[255], inlier=[0, 1])

# Cityscapes labelIds -> train ids (cityscapesScripts helpers/labels.py); other ids -> 255.
CITYSCAPES_TRAIN_IDS = np.full(65536, VOID, np.uint8)
CITYSCAPES_TRAIN_IDS[[7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32,
                      33]] = np.arange(19)

# SMIYC ObstacleTrack-validation leaves these frames out (tracks.py, ``exclude_prefix``).
SMIYC_OBSTACLE_EXCLUDED = ('validation_19', 'validation_21', 'validation_22', 'validation_23',
                           'validation_24', 'validation_25', 'validation_26', 'validation_27',
                           'validation_28', 'validation_29')
# SMIYC LostAndFound-testNoKnown leaves out frames with children and bicycles (tracks.py).
LAF_KNOWN_OBJECT_FRAMES = ('15_Rechbergstr_Deckenpfronn', '01_Hanns_Klemm_Str_45_000006',
                           '01_Hanns_Klemm_Str_45_000007', '10_Schlossberg_9_000004')

_FISHYSCAPES_LABEL = re.compile(r'(\d+)_(.+)_labels\.png')
_CITYSCAPES_ID = re.compile(r'(.+)_(\d{6})_(\d{6})')  # <scene or city>_<seq>_<frame>


def read_image(path: Path) -> np.ndarray:
    """
    Read an image file as RGB.

    :param path: any format OpenCV reads (png, jpg, webp, ...).
    :return: (H, W, 3) uint8 RGB.
    :raises DatasetError: when the file cannot be read.
    """
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f'cannot read image {path}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label(path: Path) -> np.ndarray:
    """
    Read a label PNG keeping its raw values (palette indices are not turned into colours).

    :param path: single-channel 8/16-bit or palette PNG (an RGB PNG with equal channels too).
    :return: (H, W) uint8 or uint16 raw values.
    :raises DatasetError: when the file cannot be read or is not a single-channel label.
    """
    try:
        with Image.open(path) as image:
            raw = np.asarray(image)
    except OSError as err:
        raise DatasetError(f'cannot read label {path}: {err}') from None
    if raw.dtype == bool:
        raw = raw.astype(np.uint8)
    if raw.ndim == 3 and (raw == raw[..., :1]).all():
        raw = raw[..., 0]
    if raw.dtype == np.int32 and raw.size and 0 <= raw.min() and raw.max() < 65536:
        raw = raw.astype(np.uint16)
    if raw.ndim != 2 or raw.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f'label {path} is a {raw.dtype} array of shape {raw.shape}: expected '
                           'a single-channel 8- or 16-bit PNG')
    return raw


def _check_size(image: np.ndarray, label: np.ndarray, image_source, label_source) -> None:
    if label.shape[:2] != image.shape[:2]:
        raise DatasetError(f'label {label_source} is {label.shape[1]}x{label.shape[0]} but image '
                           f'{image_source} is {image.shape[1]}x{image.shape[0]}')


@dataclass(frozen=True, eq=False)
class Frame:
    """
    Files of one frame on disk.

    ``overlay`` is a Fishyscapes Static ``*_rgb.npz`` added to the image; ``semantic_lut`` maps
    the semantic file's values to train ids (``None``: already train ids).
    """

    name: str
    image: Path
    label: Path
    semantic: Path | None = None
    semantic_lut: np.ndarray | None = None
    overlay: Path | None = None


class FileDataset:
    """A list of frames on disk, read one at a time."""

    def __init__(self, kind: str, root: Path, frames: Sequence[Frame], lut: np.ndarray):
        """
        Hold a frame list.

        :param kind: dataset kind, for messages and reports.
        :param root: dataset root.
        :param frames: the frames, in order.
        :param lut: raw label value -> 0/1/255 (:func:`label_lut`).
        """
        self.kind, self.root, self.frames, self.lut = kind, Path(root), list(frames), lut

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.frames)

    def __iter__(self) -> Iterator[Sample]:
        """Yield every sample, reading its files when it is reached."""
        return (self.load(frame) for frame in self.frames)

    def __getitem__(self, index: int) -> Sample:
        """Read one sample by position."""
        return self.load(self.frames[index])

    @property
    def names(self) -> list[str]:
        """Sample names, in order."""
        return [frame.name for frame in self.frames]

    def load(self, frame: Frame) -> Sample:
        """
        Read one frame.

        :param frame: a frame of this dataset.
        :return: the sample.
        :raises DatasetError: for unreadable files or sizes that differ.
        """
        image = read_image(frame.image)
        if frame.overlay is not None:
            image = _apply_overlay(image, frame.overlay, frame.image)
        label = read_label(frame.label)
        _check_size(image, label, frame.image, frame.label)
        anomaly = self.lut[label]
        semantic = None
        if frame.semantic is not None:
            raw = read_label(frame.semantic)
            _check_size(image, raw, frame.image, frame.semantic)
            semantic = raw.astype(np.uint8) if frame.semantic_lut is None else \
                frame.semantic_lut[raw]
            semantic[anomaly == ANOMALY] = VOID  # pasted objects hide the labelled class
        return Sample(image, anomaly, semantic, frame.name)


def _apply_overlay(image: np.ndarray, overlay_path: Path, image_path: Path) -> np.ndarray:
    try:
        with np.load(overlay_path) as npz:
            overlay = npz['rgb']
    except (OSError, KeyError, ValueError) as err:
        raise DatasetError(f'cannot read the "rgb" array of {overlay_path}: {err}') from None
    if overlay.shape != image.shape:
        raise DatasetError(f'overlay {overlay_path} has shape {overlay.shape} but image '
                           f'{image_path} has {image.shape}')
    return np.clip(image.astype(np.int32) + overlay, 0, 255).astype(np.uint8)


def _require_dir(path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f'{path} is not a directory: expected {layout}')
    return path


def _first_existing(candidates: Iterable[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def _split_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def _fishyscapes_labels(root: Path, layout: str) -> list[tuple[str, str, Path]]:
    _require_dir(root, layout)
    labels = sorted(root.glob('*_labels.png')) or sorted(root.glob('*/*_labels.png'))
    found = [(m[1], m[2], p) for p in labels if (m := _FISHYSCAPES_LABEL.fullmatch(p.name))]
    if not found:
        raise DatasetError(f'no NNNN_<id>_labels.png files under {root}: expected {layout}')
    return found


def open_fs_lost_found(root: str | Path, laf_root: str | Path | None = None) -> FileDataset:
    """
    Open Fishyscapes Lost & Found validation (100 frames).

    :param root: the extracted ``fishyscapes_lostandfound.zip`` (``NNNN_<lafid>_labels.png``).
    :param laf_root: LostAndFound root holding ``leftImg8bit/{train,test}/<scene>/``; default
        ``root``.
    :return: the dataset; names are ``NNNN_<lafid>``.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    root = Path(root)
    laf_root = Path(laf_root) if laf_root is not None else root
    layout = ('the Fishyscapes LostAndFound layout <root>/NNNN_<lafid>_labels.png with images in '
              '<laf_root>/leftImg8bit/{train,test}/<scene>/<lafid>_leftImg8bit.png')
    labels = _fishyscapes_labels(root, layout)
    splits = _split_dirs(_require_dir(laf_root / 'leftImg8bit', layout + ' (pass laf_root=)'))
    frames = []
    for fs_id, laf_id, label in labels:
        scene = m[1] if (m := _CITYSCAPES_ID.fullmatch(laf_id)) else laf_id
        candidates = [s / scene / f'{laf_id}_leftImg8bit{ext}' for s in splits
                      for ext in ('.png', '.jpg', '.webp')]
        image = _first_existing(candidates)
        if image is None:
            raise DatasetError(f'label {label} has no image: expected {candidates[0]} '
                               f'(LostAndFound leftImg8bit under {laf_root})')
        frames.append(Frame(f'{fs_id}_{laf_id}', image, label))
    return FileDataset('fs_lost_found', root, frames, FISHYSCAPES_LUT)


def open_fs_static(root: str | Path, cityscapes_root: str | Path | None = None) -> FileDataset:
    """
    Open Fishyscapes Static validation (30 frames): Cityscapes val images plus overlays.

    The image is ``clip(cityscapes + overlay, 0, 255)`` as in ``fishyscapes_tfds.py``. Semantic
    labels come from Cityscapes ``gtFine`` (``labelTrainIds``, else ``labelIds``) when present,
    with the pasted objects set to 255.

    :param root: the extracted ``fs_val_v3.zip`` (``NNNN_<csid>_labels.png``,
        ``NNNN_<csid>_rgb.npz``).
    :param cityscapes_root: Cityscapes root with ``leftImg8bit/<split>/<city>/``; default
        ``root``.
    :return: the dataset; names are ``NNNN_<csid>``.
    :raises DatasetError: for a missing layout, image or overlay.
    """
    root = Path(root)
    cs_root = Path(cityscapes_root) if cityscapes_root is not None else root
    layout = ('the Fishyscapes Static layout <root>/NNNN_<csid>_labels.png + NNNN_<csid>_rgb.npz '
              'with images in <cityscapes_root>/leftImg8bit/val/<city>/<csid>_leftImg8bit.png')
    labels = _fishyscapes_labels(root, layout)
    images = _require_dir(cs_root / 'leftImg8bit', layout + ' (pass cityscapes_root=)')
    splits = _split_dirs(images)
    frames = []
    for fs_id, cs_id, label in labels:
        city = m[1] if (m := _CITYSCAPES_ID.fullmatch(cs_id)) else cs_id
        candidates = [s / city / f'{cs_id}_leftImg8bit.png' for s in splits]
        image = _first_existing(candidates)
        if image is None:
            raise DatasetError(f'label {label} has no image: expected {candidates[0]} '
                               f'(Cityscapes leftImg8bit under {cs_root})')
        overlays = sorted(label.parent.glob(f'{fs_id}_*rgb.npz'))
        if len(overlays) != 1:
            raise DatasetError(f'label {label} needs exactly one overlay '
                               f'{label.parent}/{fs_id}_*rgb.npz, found {len(overlays)}')
        gt = cs_root / 'gtFine' / image.parent.parent.name / city / f'{cs_id}_gtFine'
        train_ids, ids = Path(f'{gt}_labelTrainIds.png'), Path(f'{gt}_labelIds.png')
        semantic, lut = (train_ids, None) if train_ids.is_file() else \
            (ids, CITYSCAPES_TRAIN_IDS) if ids.is_file() else (None, None)
        frames.append(Frame(f'{fs_id}_{cs_id}', image, label, semantic, lut, overlays[0]))
    return FileDataset('fs_static', root, frames, FISHYSCAPES_LUT)


def open_road_anomaly(root: str | Path) -> FileDataset:
    """
    Open Road Anomaly (Lis et al. 2019, 60 frames).

    :param root: ``RoadAnomaly_jpg`` (or ``RoadAnomaly``) or its parent; frames are listed by
        ``frame_list.json``, else every image in ``frames/``.
    :return: the dataset; names are the frame file stems.
    :raises DatasetError: for a missing layout or an image without its label.
    """
    root = Path(root)
    layout = ('the Road Anomaly layout RoadAnomaly_jpg/frame_list.json, frames/<name>.jpg and '
              'frames/<name>.labels/labels_semantic.png')
    base = next((d for d in (root, root / 'RoadAnomaly_jpg', root / 'RoadAnomaly')
                 if (d / 'frames').is_dir()), None)
    if base is None:
        raise DatasetError(f'no frames/ directory under {root}: expected {layout}')
    listing = base / 'frame_list.json'
    if listing.is_file():
        try:
            names = [str(n) for n in json.loads(listing.read_text())]
        except (ValueError, TypeError) as err:
            raise DatasetError(f'{listing} is not a JSON list of file names: {err}') from None
    else:
        names = sorted(p.name for p in (base / 'frames').iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise DatasetError(f'no images under {base / "frames"}: expected {layout}')
    frames = []
    for name in names:
        image = base / 'frames' / name
        label = base / 'frames' / f'{Path(name).stem}.labels' / 'labels_semantic.png'
        _check_pair(image, label)
        frames.append(Frame(Path(name).stem, image, label))
    return FileDataset('road_anomaly', root, frames, ROAD_ANOMALY_LUT)


def _check_pair(image: Path, label: Path) -> None:
    if not image.is_file():
        raise DatasetError(f'image {image} is missing (its label would be {label})')
    if not label.is_file():
        raise DatasetError(f'image {image} has no label: expected {label}')


def _open_smiyc(kind: str, root: Path, folder: str, exclude: Sequence[str]) -> FileDataset:
    layout = (f'the SegmentMeIfYouCan layout {folder}/images/<fid>.(jpg|webp|png) and '
              f'{folder}/labels_masks/<fid>_labels_semantic.png')
    base = root if (root / 'labels_masks').is_dir() else root / folder
    labels = sorted(_require_dir(base / 'labels_masks', layout).glob('*_labels_semantic.png'))
    if not labels:
        raise DatasetError(f'no *_labels_semantic.png under {base / "labels_masks"}: expected '
                           f'{layout} (test-set labels are not public)')
    frames = []
    for label in labels:
        fid = label.name[:-len('_labels_semantic.png')]
        if fid.startswith(tuple(exclude)):
            continue
        candidates = [base / 'images' / f'{fid}{ext}' for ext in ('.jpg', '.webp', '.png')]
        image = _first_existing(candidates)
        if image is None:
            raise DatasetError(f'label {label} has no image: expected one of '
                               f'{", ".join(map(str, candidates))}')
        frames.append(Frame(fid, image, label))
    return FileDataset(kind, root, frames, SMIYC_LUT)


def open_smiyc_anomaly(root: str | Path) -> FileDataset:
    """
    Open the labelled frames of SegmentMeIfYouCan RoadAnomaly21 (10 ``validation*`` frames).

    Images without a label (the hidden test set) are skipped.

    :param root: ``dataset_AnomalyTrack`` or its parent.
    :return: the dataset; names are the frame ids.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    return _open_smiyc('smiyc_anomaly', Path(root), 'dataset_AnomalyTrack', ())


def open_smiyc_obstacle(root: str | Path,
                        exclude: Sequence[str] = SMIYC_OBSTACLE_EXCLUDED) -> FileDataset:
    """
    Open the labelled frames of SegmentMeIfYouCan RoadObstacle21 (30 validation frames).

    :param root: ``dataset_ObstacleTrack`` or its parent.
    :param exclude: frame-id prefixes to leave out; the default is SMIYC's
        ``ObstacleTrack-validation`` selection, ``()`` keeps every labelled frame.
    :return: the dataset; names are the frame ids.
    :raises DatasetError: for a missing layout or a label without its image.
    """
    return _open_smiyc('smiyc_obstacle', Path(root), 'dataset_ObstacleTrack', exclude)


def open_lost_and_found(root: str | Path, split: str = 'test', labels: str = 'ids',
                        subset: str = 'all') -> FileDataset:
    """
    Open LostAndFound in its original layout (test: 1203 frames, train: 1036).

    :param root: LostAndFound root with ``leftImg8bit/`` and ``gtCoarse/``.
    :param split: ``'test'`` or ``'train'``.
    :param labels: ``'ids'`` reads ``_gtCoarse_labelIds.png`` (0 void, 1 road, 2..200 anomaly;
        SMIYC); ``'train_ids'`` reads ``_gtCoarse_labelTrainIds.png`` (2 anomaly, 0/1 inlier,
        255 void; PEBAL/SynBoost/RbA).
    :param subset: ``'all'``, or ``'no_known'`` to drop the frames with children and bicycles
        (SMIYC ``LostAndFound-testNoKnown``). Frames whose label is all 0 are kept: they are
        entirely void and add no pixels to the metrics.
    :return: the dataset; names are the frame ids ``<scene>_<seq>_<frame>``.
    :raises DatasetError: for bad options, a missing layout or an image without its label.
    """
    root = Path(root)
    options = {'split': (split, ('test', 'train')), 'labels': (labels, ('ids', 'train_ids')),
               'subset': (subset, ('all', 'no_known'))}
    for option, (value, allowed) in options.items():
        if value not in allowed:
            raise DatasetError(f'lost_and_found: {option}={value!r}, expected one of {allowed}')
    layout = ('the LostAndFound layout leftImg8bit/<split>/<scene>/<id>_leftImg8bit.png and '
              'gtCoarse/<split>/<scene>/<id>_gtCoarse_labelIds.png')
    image_dir = _require_dir(root / 'leftImg8bit' / split, layout)
    images = sorted((p for p in image_dir.glob('*/*_leftImg8bit.*')
                     if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)
    if not images:
        raise DatasetError(f'no images under {image_dir}: expected {layout}')
    suffix, lut = ('labelIds', LAF_IDS_LUT) if labels == 'ids' else \
        ('labelTrainIds', LAF_TRAIN_IDS_LUT)
    frames = []
    for image in images:
        fid = image.name[:image.name.rindex('_leftImg8bit')]
        if subset == 'no_known' and fid.startswith(LAF_KNOWN_OBJECT_FRAMES):
            continue
        label = root / 'gtCoarse' / split / image.parent.name / f'{fid}_gtCoarse_{suffix}.png'
        _check_pair(image, label)
        frames.append(Frame(fid, image, label))
    return FileDataset('lost_and_found', root, frames, lut)


def open_folder(root: str | Path, images: str = 'images', labels: str = 'labels',
                label_suffix: str = '.png', anomaly_values: Sequence[int] = (1,),
                void_values: Sequence[int] = (255,), inlier_values: Sequence[int] | None = (0,),
                semantic: str | None = None, semantic_suffix: str = '.png') -> FileDataset:
    """
    Open a folder of images and masks (sub-folders allowed, mirrored between the two).

    Suits the preprocessed layouts of PEBAL/SynBoost (``original/`` + ``labels/``) and the
    course-project copies (``images/`` + ``labels_masks/``).

    :param root: folder holding the image and label folders.
    :param images: image folder, relative to ``root``.
    :param labels: label folder; the label of ``<images>/a/b.jpg`` is
        ``<labels>/a/b<label_suffix>``.
    :param label_suffix: label file name after the image stem, e.g. ``'_labels_semantic.png'``.
    :param anomaly_values: mask values that mean anomaly (e.g. ``(255,)`` for 0/255 masks).
    :param void_values: mask values that mean void.
    :param inlier_values: mask values that mean inlier; other values are void. ``None`` makes
        every other value inlier.
    :param semantic: optional folder of train-id masks, mirrored the same way.
    :param semantic_suffix: semantic file name after the image stem.
    :return: the dataset; names are the image paths relative to the image folder, without
        extension.
    :raises DatasetError: for a missing folder or an image without its label.
    """
    root = Path(root)
    layout = f'<root>/{images}/<name>.(png|jpg|...) and <root>/{labels}/<name>{label_suffix}'
    image_dir = _require_dir(root / images, layout)
    files = sorted(p for p in image_dir.rglob('*')
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f'no images under {image_dir}: expected {layout}')
    frames = []
    for image in files:
        stem = image.relative_to(image_dir).with_suffix('')
        label = root / labels / f'{stem}{label_suffix}'
        _check_pair(image, label)
        semantic_file = root / semantic / f'{stem}{semantic_suffix}' if semantic else None
        if semantic_file is not None and not semantic_file.is_file():
            raise DatasetError(f'image {image} has no semantic label: expected {semantic_file}')
        frames.append(Frame(stem.as_posix(), image, label, semantic_file))
    lut = label_lut(anomaly_values, void_values, inlier_values)
    return FileDataset('folder', root, frames, lut)


class BagDataset:
    """Samples from a bag with a camera topic and a label topic paired by header stamp."""

    def __init__(self, path: str | Path, image_topic: str, label_topic: str,
                 semantic_topic: str | None, tolerance_ns: int, lut: np.ndarray):
        """
        Index a bag (see :func:`open_bag`).

        :param path: rosbag2 directory or ``.mcap``/``.db3`` file.
        :param image_topic: camera topic (any encoding convertible to rgb8, raw or compressed).
        :param label_topic: label topic, mono8/16-bit single channel.
        :param semantic_topic: optional mono8 train-id topic.
        :param tolerance_ns: largest stamp difference of a pair.
        :param lut: raw label value -> 0/1/255.
        :raises DatasetError: for a missing bag or topic.
        """
        self.kind, self.root, self.lut = 'bag', Path(path), lut
        topics = [label_topic] + ([semantic_topic] if semantic_topic else [])
        try:
            self.bag = AlignedBag(path, image_topic, topics, tolerance_ns)
        except BagError as err:
            raise DatasetError(f'{err} (expected a rosbag2 bag with image topic '
                               f'{image_topic!r} and label topic {label_topic!r})') from None
        self.unmatched = self.bag.unmatched

    def __len__(self) -> int:
        """Return the number of paired frames."""
        return len(self.bag)

    def __iter__(self) -> Iterator[Sample]:
        """Yield every paired frame, decoding it when it is reached."""
        try:
            for image, label, *semantic in self.bag:
                yield self._sample(image, label, semantic[0] if semantic else None)
        except BagError as err:
            raise DatasetError(f'bag {self.root}: {err}') from None

    def _sample(self, image, label, semantic) -> Sample:
        for frame in (label, semantic):
            if frame is None:
                continue
            where = f'{self.root}:{frame.topic}@{frame.stamp_ns}'
            if frame.image.ndim != 2 or frame.image.dtype not in (np.uint8, np.uint16):
                raise DatasetError(f'{where} is {frame.encoding}: expected a single-channel '
                                   '8/16-bit label')
            _check_size(image.image, frame.image, f'{self.root}:{image.topic}@{image.stamp_ns}',
                        where)
        anomaly = self.lut[label.image]
        semantic = None if semantic is None else semantic.image.astype(np.uint8)
        return Sample(image.image, anomaly, semantic, f'{image.stamp_ns:019d}')


def open_bag(root: str | Path, image_topic: str = '/camera/image',
             label_topic: str = '/camera/anomaly_label', semantic_topic: str | None = None,
             tolerance_ns: int = 0, anomaly_values: Sequence[int] = (1,),
             void_values: Sequence[int] = (255,),
             inlier_values: Sequence[int] | None = (0,)) -> BagDataset:
    """
    Open a bag as a dataset: each camera image paired with the label of equal header stamp.

    ``unmatched`` on the result counts the messages of each topic left without a partner.

    :param root: rosbag2 directory or ``.mcap``/``.db3`` file.
    :param image_topic: camera topic.
    :param label_topic: label topic (0/1/255 mono8 as written by ``dataset_to_bag``).
    :param semantic_topic: optional train-id topic; frames then need all three.
    :param tolerance_ns: pair the nearest label within this many nanoseconds; 0 needs equal
        stamps.
    :param anomaly_values: label values that mean anomaly.
    :param void_values: label values that mean void.
    :param inlier_values: label values that mean inlier (others void); ``None``: all others.
    :return: the dataset; names are the zero-padded image stamps in nanoseconds.
    :raises DatasetError: for a missing bag or topic.
    """
    lut = label_lut(anomaly_values, void_values, inlier_values)
    return BagDataset(root, image_topic, label_topic, semantic_topic, tolerance_ns, lut)


DATASETS = {
    'fs_lost_found': open_fs_lost_found,
    'fs_static': open_fs_static,
    'road_anomaly': open_road_anomaly,
    'smiyc_anomaly': open_smiyc_anomaly,
    'smiyc_obstacle': open_smiyc_obstacle,
    'lost_and_found': open_lost_and_found,
    'folder': open_folder,
    'bag': open_bag,
}


def open_dataset(kind: str, root: str | Path, **options) -> FileDataset | BagDataset:
    """
    Open a dataset of a registered kind.

    :param kind: a key of :data:`DATASETS`.
    :param root: dataset root (a bag path for ``'bag'``).
    :param options: keyword options of that kind's ``open_*`` function.
    :return: a lazy dataset with ``len()`` and iteration over :class:`Sample`.
    :raises DatasetError: for an unknown kind, unknown options, or a missing/malformed dataset.
    """
    if kind not in DATASETS:
        raise DatasetError(f'unknown dataset kind {kind!r}: expected one of {sorted(DATASETS)}')
    root = Path(root)
    if not root.exists():
        raise DatasetError(f'{root} does not exist: expected a {kind} dataset there')
    opener = DATASETS[kind]
    try:
        inspect.signature(opener).bind(root, **options)
    except TypeError as err:
        raise DatasetError(f'{kind}: {err}') from None
    return opener(root, **options)
