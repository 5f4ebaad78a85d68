# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Semantic segmentation metrics: per-class IoU, mIoU and pixel accuracy from a confusion matrix.

``evaluate`` reports them next to the anomaly metrics on datasets that come with Cityscapes
train ids (19 classes, 255 ignored), for the segmentation the anomaly scores build on.
"""

from dataclasses import asdict, dataclass
import math
from typing import Dict, Tuple

import numpy as np

#: Ground-truth value left out of the confusion matrix (Cityscapes ignore).
IGNORE = 255


@dataclass(frozen=True)
class SemanticMetrics:
    """Semantic segmentation metrics; ``iou`` is NaN for classes absent from both maps."""

    miou: float
    iou: Tuple[float, ...]
    pixel_accuracy: float
    pixels: int

    def to_dict(self) -> Dict[str, object]:
        """Return the metrics as a JSON-ready dictionary."""
        return asdict(self)


class SemanticConfusion:
    """
    Confusion-matrix accumulator for semantic mIoU (Cityscapes: 19 train ids, 255 ignored).

    ``matrix[target, prediction]`` counts pixels; ground-truth pixels equal to ``ignore_index``
    are left out. Counts are integers, so :meth:`merge` of partial accumulators is exact.
    """

    def __init__(self, num_classes: int = 19, ignore_index: int = IGNORE):
        """
        Create an empty accumulator.

        :param num_classes: number of classes (ids ``0 .. num_classes - 1``).
        :param ignore_index: ground-truth value left out.
        """
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, prediction: np.ndarray, target: np.ndarray) -> None:
        """
        Add one image of predicted and ground-truth class ids.

        :param prediction: predicted class ids, any integer type.
        :param target: ground-truth class ids of the same shape.
        :raises ValueError: on a shape mismatch or ids out of range.
        """
        prediction, target = np.asarray(prediction), np.asarray(target)
        if prediction.shape != target.shape:
            raise ValueError(f'prediction shape {prediction.shape} differs from target shape '
                             f'{target.shape}')
        valid = target != self.ignore_index
        target, prediction = target[valid].astype(np.intp), prediction[valid].astype(np.intp)
        for name, ids in (('target', target), ('prediction', prediction)):
            if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
                raise ValueError(f'{name} ids outside 0..{self.num_classes - 1}')
        target *= self.num_classes
        target += prediction
        self.matrix += np.bincount(target, minlength=self.num_classes ** 2).reshape(
            self.num_classes, self.num_classes)

    def merge(self, other: 'SemanticConfusion') -> None:
        """
        Add the counts of another accumulator.

        :param other: accumulator with the same number of classes (left unchanged).
        :raises ValueError: if the number of classes differs.
        """
        if other.num_classes != self.num_classes:
            raise ValueError('cannot merge confusion matrices of different sizes')
        self.matrix += other.matrix

    def compute(self) -> SemanticMetrics:
        """
        Compute per-class IoU, their mean over classes present, and pixel accuracy.

        :return: the metrics (NaN when nothing was added).
        """
        m = self.matrix
        tp = np.diag(m).astype(np.float64)
        union = m.sum(0) + m.sum(1) - tp
        iou = np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)
        total = int(m.sum())
        miou = float(np.nanmean(iou)) if np.any(union > 0) else math.nan
        return SemanticMetrics(miou=miou, iou=tuple(float(v) for v in iou),
                               pixel_accuracy=float(tp.sum() / total) if total else math.nan,
                               pixels=total)
