# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bags as a dataset: camera images paired with label images by header stamp; one bag or a folder.

The label topic holds mono8 (or 16-bit) raw values, 0 / 1 / 255 by default as written by
``dataset_to_bag``; the optional semantic topic holds train ids. A bag without the label topic
is *unlabelled* (by default; ``labels=True`` requires the topic): its frames carry no anomaly
label, and ``evaluate`` records alarm statistics for it instead of pixel metrics.

The root may also be a folder of bags: every MCAP file and rosbag2 directory (one holding
``metadata.yaml``) below it, recursively, hidden entries left out, in path order
(:func:`find_bags`). A bag of a folder that cannot be read is reported in
:attr:`BagFolderDataset.failed` with the reason and the other bags still count: when it fails
to open its frames are never read, when it fails later the frames read before stay counted.
Frame names are then ``<bag path relative to the root>/<stamp>``.
"""

import inspect
import logging
import os
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
from pixel_anomaly_ros.evaluation.bags import AlignedBag, BagError, list_topics
from pixel_anomaly_ros.evaluation.datasets.samples import (check_size, DatasetError, label_lut,
                                                           Sample)

LOG = logging.getLogger(__name__)

#: Suffix of the single-file bags found in a folder.
MCAP_SUFFIX = '.mcap'
#: The file that makes a directory a rosbag2 bag.
METADATA = 'metadata.yaml'


class BagDataset:
    """Samples from a bag with a camera topic and (if labelled) a label topic paired by stamp."""

    def __init__(self, path: str | Path, image_topic: str, label_topic: str,
                 semantic_topic: str | None, tolerance_ns: int, lut: np.ndarray,
                 labels: bool | None = None, source: str | None = None):
        """
        Index a bag (see :func:`open_bag`).

        :param path: rosbag2 directory or ``.mcap``/``.db3`` file.
        :param image_topic: camera topic (any encoding convertible to rgb8, raw or compressed).
        :param label_topic: label topic, mono8/16-bit single channel.
        :param semantic_topic: optional mono8 train-id topic.
        :param tolerance_ns: largest stamp difference of a pair.
        :param lut: raw label value -> 0/1/255.
        :param labels: ``None`` uses the label topic when the bag has it, ``True`` requires it,
            ``False`` ignores it.
        :param source: name of the bag in a folder (frame names are prefixed with it); ``None``
            for a single bag (names are the stamps, the source is the bag's file name).
        :raises DatasetError: for a missing or unreadable bag or topic.
        """
        self.kind, self.root, self.lut = 'bag', Path(path), lut
        self.source = source or self.root.name
        self._prefix = f'{source}/' if source else ''
        self.label_topic = label_topic
        try:
            has_labels = label_topic in list_topics(path)
            self.labelled = has_labels if labels is None else bool(labels)
            topics = [label_topic] + ([semantic_topic] if semantic_topic else []) \
                if self.labelled else []
            self.bag = AlignedBag(path, image_topic, topics, tolerance_ns)
        except BagError as err:
            raise DatasetError(f'{err} (expected a rosbag2 bag with image topic '
                               f'{image_topic!r}' + (f' and label topic {label_topic!r})'
                                                     if labels else ')')) from None
        self.unmatched = self.bag.unmatched

    def __len__(self) -> int:
        """Return the number of paired frames."""
        return len(self.bag)

    def restrict(self, start: int, stop: int) -> None:
        """
        Keep only the frames whose camera message is the ``start``-th to ``stop - 1``-th.

        Message positions count the camera topic's messages in bag order from 0, so ranges
        that tile ``0 .. messages`` split the bag's frames into disjoint shards.

        :param start: first camera message position kept.
        :param stop: camera message position after the last one kept.
        """
        image_position = self.bag.pairs[:, 0]
        self.bag.pairs = self.bag.pairs[(image_position >= start) & (image_position < stop)]

    def __iter__(self) -> Iterator[Sample]:
        """Yield every paired frame, decoding it when it is reached."""
        try:
            for image, *rest in self.bag:
                if self.labelled:
                    yield self._sample(image, rest[0], rest[1] if len(rest) > 1 else None)
                else:
                    yield Sample(image.image, None, None, self._name(image), self.source)
        except BagError as err:
            raise DatasetError(f'bag {self.root}: {err}') from None

    def _name(self, image) -> str:
        return f'{self._prefix}{image.stamp_ns:019d}'

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
        return Sample(image.image, anomaly, semantic, self._name(image), self.source)

    def describe(self) -> Dict[str, object]:
        """
        Describe the bag for a report.

        :return: ``labelled``, ``paired`` (frames with every topic) and ``unmatched`` messages.
        """
        return {'labelled': self.labelled, 'paired': len(self), 'unmatched': self.unmatched,
                'error': None}


def find_bags(root: str | Path) -> List[Path]:
    """
    List the bags at or below a path: MCAP files and rosbag2 directories, in path order.

    A rosbag2 directory (with ``metadata.yaml``) is one bag, its files are not listed again;
    hidden files and directories (such as a bag being written) are left out.

    :param root: a bag, or a folder of bags (searched recursively).
    :return: the bag paths; ``[root]`` when the root itself is a bag or a file.
    """
    root = Path(root)
    if root.is_file() or (root / METADATA).is_file():
        return [root]
    bags = []
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        if here != root and METADATA in files:
            bags.append(here)
            subdirs[:] = []
            continue
        subdirs[:] = [d for d in subdirs if not d.startswith('.')]
        bags += [here / f for f in files if f.endswith(MCAP_SUFFIX) and not f.startswith('.')]
    return sorted(bags, key=lambda p: p.relative_to(root).as_posix())


class BagFolderDataset:
    """
    The frames of every bag of a folder, bag after bag; unreadable bags are reported, not fatal.

    :ivar bags: readable bags by name (path relative to the root, POSIX separators).
    :ivar failed: bags that could not be read, by name, with the reason.
    """

    def __init__(self, root: Path, paths: Sequence[Path],
                 opener: Callable[[Path, str], BagDataset]):
        """
        Index every bag.

        :param root: the folder.
        :param paths: its bags (:func:`find_bags`).
        :param opener: opens one bag given its path and name.
        """
        self.kind, self.root = 'bag', Path(root)
        self.bag_names = [p.relative_to(self.root).as_posix() for p in paths]
        self.bags: Dict[str, BagDataset] = {}
        self.failed: Dict[str, str] = {}
        for name, path in zip(self.bag_names, paths):
            try:
                self.bags[name] = opener(path, name)
            except DatasetError as err:
                self._fail(name, err)

    def _fail(self, name: str, err: Exception) -> None:
        self.failed[name] = str(err)
        LOG.warning('bag %s left out: %s', name, err)

    def __len__(self) -> int:
        """Return the number of paired frames of the readable bags."""
        return sum(len(bag) for bag in self.bags.values())

    def __iter__(self) -> Iterator[Sample]:
        """Yield the frames of each readable bag; a bag that fails while read is reported."""
        for name, bag in self.bags.items():
            try:
                yield from bag
            except DatasetError as err:
                self._fail(name, err)

    def describe(self) -> Dict[str, Dict[str, object]]:
        """
        Describe every bag for a report, in path order.

        :return: per bag name, :meth:`BagDataset.describe` plus ``error`` (``None`` when read).
        """
        out = {}
        for name in self.bag_names:
            bag = self.bags.get(name)
            out[name] = dict(bag.describe() if bag is not None else
                             {'labelled': None, 'paired': None, 'unmatched': {}},
                             error=self.failed.get(name))
        return out


def describe_bags(data: 'BagDataset | BagFolderDataset') -> Dict[str, Dict[str, object]]:
    """
    Describe each bag of a bag dataset, one bag or a folder, by name.

    :param data: what :func:`open_bag` returned.
    :return: per bag, ``labelled``, ``paired``, ``unmatched`` and ``error``.
    """
    if isinstance(data, BagFolderDataset):
        return data.describe()
    return {data.source: data.describe()}


def open_bag(root: str | Path, image_topic: str = '/camera/image',
             label_topic: str = '/camera/anomaly_label', semantic_topic: str | None = None,
             tolerance_ns: int = 0, anomaly_values: Sequence[int] = (1,),
             void_values: Sequence[int] = (255,),
             inlier_values: Sequence[int] | None = (0,),
             labels: Optional[bool] = None) -> 'BagDataset | BagFolderDataset':
    """
    Open a bag, or a folder of bags, as a dataset: each camera image paired with its label.

    ``unmatched`` on a bag counts the messages of each topic left without a partner.

    :param root: rosbag2 directory, ``.mcap``/``.db3`` file, or a folder of bags (every MCAP
        file and rosbag2 directory below it).
    :param image_topic: camera topic.
    :param label_topic: label topic (0/1/255 mono8 as written by ``dataset_to_bag``).
    :param semantic_topic: optional train-id topic; frames then need all three.
    :param tolerance_ns: pair the nearest label within this many nanoseconds; 0 needs equal
        stamps.
    :param anomaly_values: label values that mean anomaly.
    :param void_values: label values that mean void.
    :param inlier_values: label values that mean inlier (others void); ``None``: all others.
    :param labels: ``None``: a bag without the label topic is unlabelled (alarm statistics
        only); ``True``: the label topic is required; ``False``: labels are ignored.
    :return: the dataset; names are the zero-padded image stamps in nanoseconds (prefixed with
        the bag's relative path in a folder).
    :raises DatasetError: for a missing or unreadable single bag or topic, or a folder without
        bags.
    """
    options = {'image_topic': image_topic, 'label_topic': label_topic,
               'semantic_topic': semantic_topic, 'tolerance_ns': tolerance_ns,
               'anomaly_values': anomaly_values, 'void_values': void_values,
               'inlier_values': inlier_values, 'labels': labels}
    root = Path(root)
    paths = find_bags(root)
    if paths == [root]:
        return open_bag_member(root, None, **options)
    if not paths:
        raise DatasetError(f'{root} holds no bag: expected MCAP files or rosbag2 directories '
                           f'(with {METADATA}) in it or below it')
    return BagFolderDataset(root, paths,
                            lambda path, name: open_bag_member(path, name, **options))


def open_bag_member(path: str | Path, source: str | None = None, **options) -> BagDataset:
    """
    Open one bag as :func:`open_bag` opens it alone (``source`` None) or as part of a folder.

    :param path: the bag.
    :param source: its name in the folder (path relative to the folder), or None.
    :param options: keyword options of :func:`open_bag`.
    :return: the dataset of that bag.
    :raises DatasetError: for a missing or unreadable bag or topic.
    """
    given = inspect.signature(open_bag).bind(path, **options)
    given.apply_defaults()
    a = given.arguments
    lut = label_lut(a['anomaly_values'], a['void_values'], a['inlier_values'])
    return BagDataset(Path(path), a['image_topic'], a['label_topic'], a['semantic_topic'],
                      a['tolerance_ns'], lut, a['labels'], source)
