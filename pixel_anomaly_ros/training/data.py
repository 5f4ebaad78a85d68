# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training data: a Cityscapes-layout reader, SynBoost's anomaly generator and AnomalyMix.

Every random choice takes an explicit ``numpy.random.Generator`` so that a training step's data
depend only on ``(seed, step)`` and resumed runs see the same batches as uninterrupted ones.
"""

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.resizing import resize_nearest
from pixel_anomaly_ros.synthetic.canvas import LABEL_TO_TRAIN_ID
import torch

#: SynBoost's "optimized" replacement label ids (``create_unknown_examples.py``).
SWAP_LABEL_IDS = (7, 7, 7, 8, 11, 12, 13, 20, 21, 22, 24, 24, 24, 25, 26, 26, 26, 26, 26, 26,
                  26, 27, 28, 32, 33)
#: Void label ids SynBoost's older ``void_correction`` turned into anomalies (no ego vehicle).
VOID_LABEL_IDS = (0, 2, 3, 4, 29, 30)
OUTLIER_INDEX = 254
IGNORE_INDEX = 255
#: Bytes of decoded frames a training set keeps in memory (a 1500-frame 512x256 world: 1.4 GB).
FRAME_CACHE_BYTES = 2 << 30
#: An edit of a whole training frame before its crop: ``edit(frame, rng) -> frame``.
FrameEdit = Callable[[Dict[str, np.ndarray], np.random.Generator], Dict[str, np.ndarray]]


class TrainingDataError(PixelAnomalyError, FileNotFoundError):
    """The training data are missing or not in the Cityscapes layout; the message says where."""


def _read(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    array = cv2.imread(str(path), flags)
    if array is None:
        raise TrainingDataError(f'{path}: missing or unreadable')
    return array


class CityscapesTrainSet:
    """
    Cityscapes-layout training images with train ids, label ids and instance ids.

    Reads ``<root>/leftImg8bit/<split>/<city>/<id>_leftImg8bit.png`` and the matching
    ``gtFine`` files; ``root`` may also be a ``synth`` output (its ``cityscapes`` folder is
    used). Without ``*_labelTrainIds.png`` the train ids come from the label ids.

    Each file is decoded once: decoded frames stay in memory (read-only) until they fill
    ``cache_bytes``; frames beyond that are decoded from disk on every read. Decoding was a
    fifth of a segmentation training step on a small world.
    """

    def __init__(self, root: Union[str, Path], split: str = 'train',
                 crop: Tuple[int, int] = (64, 128), scales: Sequence[float] = (0.75, 1.0, 1.25),
                 flip: bool = True, size: Optional[Tuple[int, int]] = None,
                 cache_bytes: int = FRAME_CACHE_BYTES):
        """
        Index the split.

        :param root: Cityscapes root (holding ``leftImg8bit`` and ``gtFine``) or a synth output.
        :param split: ``train`` or ``val``.
        :param crop: (height, width) of the random crops.
        :param scales: random scale factors to choose from.
        :param flip: random horizontal flips.
        :param size: (height, width) the network sees a whole image at (the bundle's input
            size): each image is first scaled to that width, as the pipeline does, so objects
            have the size in pixels they will have at run time; None: the image's own size.
        :param cache_bytes: memory for decoded frames (0: decode on every read).
        :raises TrainingDataError: if there are no images.
        """
        root = Path(root)
        if not (root / 'leftImg8bit').is_dir() and (root / 'cityscapes').is_dir():
            root = root / 'cityscapes'
        self.root, self.split = root, split
        self.crop, self.scales, self.flip = tuple(crop), tuple(scales), flip
        self.size = tuple(size) if size is not None else None
        self.images = sorted((root / 'leftImg8bit' / split).glob('*/*_leftImg8bit.png'))
        if not self.images:
            raise TrainingDataError(f'no images under {root}/leftImg8bit/{split}/<city>/; '
                                    f'expected the Cityscapes layout (or a `synth` output)')
        self.cache_bytes = cache_bytes
        self._decoded: Dict[int, Dict[str, np.ndarray]] = {}
        self._decoded_bytes = 0

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.images)

    def read(self, index: int) -> Dict[str, np.ndarray]:
        """
        Read one full-size sample.

        :param index: image index.
        :return: ``image`` (H, W, 3) uint8 RGB, ``train_ids`` uint8, ``label_ids`` uint8 and
            ``instance_ids`` int32 (H, W); a new dict, whose arrays may be shared and read-only.
        """
        decoded = self._decoded.get(index)
        if decoded is None:
            decoded = self._decode(index)
            size = sum(a.nbytes for a in decoded.values())
            if self._decoded_bytes + size <= self.cache_bytes:
                for array in decoded.values():
                    array.flags.writeable = False
                self._decoded[index] = decoded
                self._decoded_bytes += size
        sample = dict(decoded)
        sample['instance_ids'] = sample['instance_ids'].astype(np.int32)
        return sample

    def _decode(self, index: int) -> Dict[str, np.ndarray]:
        path = self.images[index]
        stem = path.name[:-len('_leftImg8bit.png')]
        gt = self.root / 'gtFine' / self.split / path.parent.name / f'{stem}_gtFine_'
        label_ids = _read(Path(f'{gt}labelIds.png')).astype(np.uint8)
        train_path = Path(f'{gt}labelTrainIds.png')
        train_ids = _read(train_path).astype(np.uint8) if train_path.is_file() \
            else LABEL_TO_TRAIN_ID[label_ids]
        instance_path = Path(f'{gt}instanceIds.png')
        # Kept in the file's dtype (uint16 for Cityscapes) until read.
        instances = _read(instance_path) if instance_path.is_file() else label_ids
        image = cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return {'image': image, 'train_ids': train_ids, 'label_ids': label_ids,
                'instance_ids': instances}

    def sample(self, index: int, rng: np.random.Generator,
               before_crop: Optional[FrameEdit] = None) -> Dict[str, np.ndarray]:
        """
        Read one sample with random scale, flip and crop (padding: image 0, train ids 255).

        :param index: image index.
        :param rng: random generator.
        :param before_crop: optional ``edit(frame, rng) -> frame`` applied to the whole frame
            (:meth:`frame`) before it is cropped, e.g. AnomalyMix: an object pasted there has
            the size and perspective of the camera frame, not of the crop.
        :return: the fields of :meth:`read`, cropped to :attr:`crop`.
        """
        frame = self.frame(index, rng)
        if before_crop is not None:
            frame = before_crop(frame, rng)
        return random_crop(frame, self.crop, rng)

    def frame(self, index: int, rng: np.random.Generator) -> Dict[str, np.ndarray]:
        """
        Read one whole frame with the random scale and flip of :meth:`sample`, before its crop.

        :param index: image index.
        :param rng: random generator.
        :return: the fields of :meth:`read` at the input scale times the random scale.
        """
        s = self.read(index)
        h, w = s['image'].shape[:2]
        scale = float(rng.choice(self.scales)) * (self.size[1] / w if self.size else 1.0)
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            s['image'] = cv2.resize(s['image'], size, interpolation=cv2.INTER_LINEAR)
            for key in ('train_ids', 'label_ids', 'instance_ids'):
                s[key] = resize_nearest(s[key], size[::-1])
        if self.flip and rng.random() < 0.5:
            s = {k: np.ascontiguousarray(v[:, ::-1]) for k, v in s.items()}
        return s


def random_crop(sample: Dict[str, np.ndarray], crop: Tuple[int, int],
                rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """
    Pad (if smaller) and crop every map of a sample at the same random window.

    :param sample: ``image`` and label maps of equal (H, W).
    :param crop: (height, width).
    :param rng: random generator.
    :return: the cropped sample.
    """
    ch, cw = crop
    h, w = sample['image'].shape[:2]
    ph, pw = max(0, ch - h), max(0, cw - w)
    pads = {'image': 0, 'train_ids': IGNORE_INDEX, 'label_ids': 0, 'instance_ids': 0}
    out = {}
    top = int(rng.integers(0, max(h + ph - ch, 0) + 1))
    left = int(rng.integers(0, max(w + pw - cw, 0) + 1))
    for key, value in sample.items():
        if ph or pw:
            width = ((0, ph), (0, pw)) + ((0, 0),) * (value.ndim - 2)
            value = np.pad(value, width, constant_values=pads.get(key, 0))
        out[key] = np.ascontiguousarray(value[top:top + ch, left:left + cw])
    return out


def synboost_corrupt(label_ids: np.ndarray, instance_ids: np.ndarray, rng: np.random.Generator,
                     void: str = 'anomaly') -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Create a SynBoost "unknown" example: swap the class of random instances, mark void.

    As ``create_unknown_examples.py``: the candidates are thing instances (id >= 1000, i.e.
    ``label_id * 1000 + k``); ``floor(U(0, 1) * n)`` of them get a new label id drawn from
    :data:`SWAP_LABEL_IDS` (redrawn while equal to the original class). The image is not touched;
    the re-synthesis of the altered map will disagree with it exactly there.

    :param label_ids: (H, W) Cityscapes label ids.
    :param instance_ids: (H, W) Cityscapes instance ids.
    :param rng: random generator.
    :param void: ``'anomaly'``: void label ids (:data:`VOID_LABEL_IDS`) are anomalies (1), as
        in SynBoost's older void correction; ``'ignore'``: they are 255; ``'inlier'``: 0.
    :return: ``(label_ids, train_ids, target)``: the altered label ids and train ids, and the
        uint8 target (1 altered or void anomaly, 0 unchanged, 255 ignored).
    """
    labels = label_ids.copy()
    target = np.zeros(labels.shape, np.uint8)
    candidates = np.unique(instance_ids[instance_ids >= 1000])
    count = int(np.floor(rng.random() * len(candidates)))
    for inst in rng.choice(candidates, size=count, replace=False) if count else ():
        original = int(inst) // 1000
        new = original
        while new == original:
            new = int(rng.choice(SWAP_LABEL_IDS))
        mask = instance_ids == inst
        labels[mask] = new
        target[mask] = 1
    if void != 'inlier':
        void_mask = np.isin(label_ids, VOID_LABEL_IDS)
        target[void_mask] = 1 if void == 'anomaly' else IGNORE_INDEX
    return labels, LABEL_TO_TRAIN_ID[labels], target


def anomaly_mix(image: np.ndarray, train_ids: np.ndarray, rng: np.random.Generator,
                source: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                outlier_index: int = OUTLIER_INDEX
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Paste an outlier object into a training image (PEBAL's AnomalyMix).

    Without ``source`` a procedural object is drawn with
    :func:`pixel_anomaly_ros.synthetic.anomalies.paste_anomaly`; with ``source`` (an image and
    its object mask, e.g. a COCO instance) the masked pixels inside the mask's bounding box are
    cut and pasted at a uniformly random position fully inside the image, as in PEBAL's loader.

    :param image: (H, W, 3) uint8 RGB.
    :param train_ids: (H, W) train ids.
    :param rng: random generator.
    :param source: optional ``(image, mask)`` to cut the object from.
    :param outlier_index: label given to pasted pixels (PEBAL: 254).
    :return: ``(image, train_ids, mask)`` with the object pasted and labelled.
    """
    if source is None:
        from pixel_anomaly_ros.synthetic.anomalies import paste_anomaly
        new_image, mask = paste_anomaly(image, train_ids, rng)
    else:
        src_image, src_mask = source
        rows, cols = np.nonzero(src_mask)
        if not len(rows):
            return image.copy(), train_ids.copy(), np.zeros(train_ids.shape, bool)
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        obj, obj_mask = src_image[box], src_mask[box].astype(bool)
        h, w = image.shape[:2]
        factor = min(1.0, h / obj.shape[0], w / obj.shape[1])
        if factor < 1.0:
            size = (max(1, int(obj.shape[1] * factor)), max(1, int(obj.shape[0] * factor)))
            obj = cv2.resize(obj, size, interpolation=cv2.INTER_LINEAR)
            obj_mask = resize_nearest(obj_mask, size[::-1])
        top = int(rng.integers(0, h - obj.shape[0] + 1))
        left = int(rng.integers(0, w - obj.shape[1] + 1))
        mask = np.zeros((h, w), bool)
        mask[top:top + obj.shape[0], left:left + obj.shape[1]] = obj_mask
        new_image = image.copy()
        new_image[mask] = obj[obj_mask]
    ids = train_ids.copy()
    ids[mask] = outlier_index
    return new_image, ids, mask


def anomaly_mix_edit(mix_prob: float) -> FrameEdit:
    """
    Return a frame edit that pastes an AnomalyMix object with probability ``mix_prob``.

    Given to :func:`sample_batch` as ``before_crop``, the object is pasted into the whole frame,
    so its size follows the camera's perspective; ``train_ids`` mark it :data:`OUTLIER_INDEX`.

    :param mix_prob: probability of an object per frame, in [0, 1].
    :return: ``edit(frame, rng) -> frame``.
    """
    def edit(frame: Dict[str, np.ndarray], rng: np.random.Generator) -> Dict[str, np.ndarray]:
        if rng.random() < mix_prob:
            frame['image'], frame['train_ids'], _ = anomaly_mix(frame['image'],
                                                                frame['train_ids'], rng)
        return frame
    return edit


def sample_batch(dataset: CityscapesTrainSet, batch_size: int, rng: np.random.Generator,
                 before_crop: Optional[FrameEdit] = None) -> List[Dict[str, np.ndarray]]:
    """
    Draw a batch of augmented samples (indices with replacement).

    :param dataset: the training set.
    :param batch_size: number of samples.
    :param rng: random generator.
    :param before_crop: optional edit of each whole frame before its crop
        (:meth:`CityscapesTrainSet.sample`).
    :return: the samples.
    """
    return [dataset.sample(int(rng.integers(0, len(dataset))), rng, before_crop)
            for _ in range(batch_size)]


def to_tensors(samples: Sequence[Dict[str, np.ndarray]]) -> Dict[str, torch.Tensor]:
    """
    Stack samples into tensors.

    :param samples: dicts with ``image`` (H, W, 3) and (H, W) maps.
    :return: ``image`` (B, 3, H, W) float32 RGB 0..255, maps as (B, H, W) int64.
    """
    out = {}
    for key in samples[0]:
        stacked = np.stack([s[key] for s in samples])
        if key == 'image':
            out[key] = torch.from_numpy(stacked).permute(0, 3, 1, 2).float()
        else:
            out[key] = torch.from_numpy(stacked.astype(np.int64))
    return out
