# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A rosbag2 bag as a dataset: camera images paired with label images by header stamp.

The label topic holds mono8 (or 16-bit) raw values, 0 / 1 / 255 by default as written by
``dataset_to_bag``; the optional semantic topic holds train ids.
"""

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from pixel_anomaly_ros.evaluation.bags import AlignedBag, BagError
from pixel_anomaly_ros.evaluation.datasets.samples import (check_size, DatasetError, label_lut,
                                                           Sample)


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
            check_size(image.image, frame.image, f'{self.root}:{image.topic}@{image.stamp_ns}',
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
