# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What ``run`` writes into its directory, so that an interrupted run leaves it consistent.

Layout of ``DIR``::

    overlays/<name>.jpg   camera + heatmap (weight alpha * score) + mask outline
    masks/<name>.png      the mask at the operating point, 0 / 255
    scores/<name>.png     the calibrated score as a 16-bit PNG (score = value / 65535), or
    scores/<name>.npy     as float32 in [0, 1] (``score_format='npy'``)
    overlay.mp4           videos and bags: the overlays at the source rate, with a colour bar
    outputs_bag/          with ``bag``: the node's output topics (MCAP), for Foxglove or RViz
    summary.json          every frame and the run; written last, also on Ctrl-C

A frame's three files are written under hidden temporary names and renamed only when all three
are complete; if anything stops the frame half-way, its files are removed again. The video and
the bag are written into hidden temporary files and moved into place when the run ends (also on
Ctrl-C, with the frames done so far); ``summary.json`` is written atomically at the very end. A
directory that holds anything but the files of a previous run is refused; a previous run's files
are replaced.
"""

import json
import os
from pathlib import Path
import shutil
from typing import Dict, List, Optional

import cv2
import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.evaluation.bag_writer import BagWriter
from pixel_anomaly_ros.visualisation import colour_bar_bgr

SUMMARY_FILE = 'summary.json'
VIDEO_FILE = 'overlay.mp4'
BAG_DIR = 'outputs_bag'
FOLDERS = ('overlays', 'masks', 'scores')
#: Score file formats: suffix and what the values mean.
SCORE_FORMATS = {'png16': ('.png', '16-bit PNG, score = value / 65535'),
                 'npy': ('.npy', 'float32 .npy, the score in [0, 1]')}
#: Output bag topics (the node's names) and encodings.
BAG_TOPICS = {'/image': 'rgb8', '/anomaly/score': '32FC1', '/anomaly/mask': 'mono8',
              '/anomaly/overlay': 'bgr8', '/semantic/labels': 'mono8'}
OVERLAY_QUALITY = 90


class OutputError(PixelAnomalyError, ValueError):
    """The output directory cannot be used (it holds something other than a previous run)."""


def prepare_directory(out: Path) -> Path:
    """
    Make ``out`` ready: create it, or clear a previous run's files from it.

    :param out: the output directory.
    :return: the directory.
    :raises OutputError: if it exists and holds anything but a previous run's files.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f'{out} exists and is not a directory; choose another --out')
    if out.is_dir():
        entries = list(out.iterdir())
        ours = set(FOLDERS) | {SUMMARY_FILE, VIDEO_FILE, BAG_DIR}
        foreign = [e.name for e in entries if e.name not in ours and not e.name.startswith('.')]
        if foreign:
            raise OutputError(f'{out} holds files that are not the outputs of a run ('
                              f'{", ".join(sorted(foreign)[:5])}); choose another --out or '
                              'empty it')
        for entry in entries:
            if entry.name in ours or entry.name.endswith('.partial') \
                    or '.partial.' in entry.name:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _encode(suffix: str, image: np.ndarray, params=()) -> bytes:
    ok, data = cv2.imencode(suffix, image, list(params))
    if not ok:
        raise OutputError(f'OpenCV cannot encode a {image.dtype} {image.shape} image as '
                          f'{suffix}')
    return data.tobytes()


def score_bytes(score: np.ndarray, score_format: str) -> bytes:
    """
    Encode a score map in one of :data:`SCORE_FORMATS`.

    :param score: (H, W) float32 in [0, 1].
    :param score_format: ``'png16'`` or ``'npy'``.
    :return: the file content.
    """
    if score_format == 'npy':
        import io
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(score, np.float32))
        return buffer.getvalue()
    levels = np.rint(np.clip(score, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return _encode('.png', levels)


class RunOutputs:
    """Per-frame files, the video and the bag of one run, written into its directory."""

    def __init__(self, out: Path, score_format: str = 'png16', video_rate: Optional[float] = None,
                 bag: bool = False, threshold: Optional[float] = None):
        """
        Prepare the directory (see :func:`prepare_directory`); the video and bag open lazily.

        :param out: the output directory.
        :param score_format: a key of :data:`SCORE_FORMATS`.
        :param video_rate: frames per second of ``overlay.mp4``; None writes no video.
        :param bag: also write the node's output topics into ``outputs_bag`` (MCAP).
        :param threshold: the mask threshold, marked on the video's colour bar.
        :raises OutputError: for an unusable directory or score format.
        """
        if score_format not in SCORE_FORMATS:
            raise OutputError(f'score format must be one of {sorted(SCORE_FORMATS)}, got '
                              f'{score_format!r}')
        self.out = prepare_directory(out)
        self.score_format, self.video_rate, self.threshold = score_format, video_rate, threshold
        self._video: Optional[cv2.VideoWriter] = None
        self._video_size = None
        self._video_tmp = self.out / f'.{Path(VIDEO_FILE).stem}.partial.mp4'
        self.video_frames = 0
        self._bag = BagWriter(self.out / BAG_DIR, 'mcap') if bag else None
        self._bag_started = False

    def files(self, name: str) -> Dict[str, str]:
        """
        Return the relative paths of a frame's files.

        :param name: the frame's output name.
        :return: ``{'overlay', 'mask', 'score'}``.
        """
        suffix = SCORE_FORMATS[self.score_format][0]
        return {'overlay': f'overlays/{name}.jpg', 'mask': f'masks/{name}.png',
                'score': f'scores/{name}{suffix}'}

    def write_frame(self, name: str, overlay_bgr: np.ndarray, mask: np.ndarray,
                    score: np.ndarray) -> Dict[str, str]:
        """
        Write a frame's overlay, mask and score, all three or none.

        :param name: the frame's output name (may hold ``/`` for sub-folders).
        :param overlay_bgr: (H, W, 3) uint8 overlay.
        :param mask: (H, W) bool mask.
        :param score: (H, W) float32 score in [0, 1].
        :return: the relative paths written.
        """
        files = self.files(name)
        contents = {'overlay': _encode('.jpg', overlay_bgr,
                                       (cv2.IMWRITE_JPEG_QUALITY, OVERLAY_QUALITY)),
                    'mask': _encode('.png', mask.astype(np.uint8) * np.uint8(255)),
                    'score': score_bytes(score, self.score_format)}
        temporary, done = [], []
        try:
            for key, relative in files.items():
                target = self.out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f'.{target.name}.partial')
                temporary.append(tmp)
                tmp.write_bytes(contents[key])
            for tmp, relative in zip(temporary, files.values()):
                os.replace(tmp, self.out / relative)
                done.append(self.out / relative)
        except BaseException:
            for path in temporary + done:
                path.unlink(missing_ok=True)
            raise
        return files

    def add_video_frame(self, overlay_bgr: np.ndarray) -> None:
        """
        Append an overlay, with the colour bar at its right, to the video.

        :param overlay_bgr: (H, W, 3) uint8; resized to the first frame's size if it differs.
        """
        if self.video_rate is None:
            return
        if self._video is None:
            h, w = overlay_bgr.shape[:2]
            self._bar = colour_bar_bgr(h, max(48, w // 12), self.threshold)
            self._video_size = (w, h)
            self._video = cv2.VideoWriter(str(self._video_tmp), cv2.VideoWriter_fourcc(*'mp4v'),
                                          float(self.video_rate),
                                          (w + self._bar.shape[1], h))
            if not self._video.isOpened():
                raise OutputError(f'OpenCV cannot write an mp4v video to {self._video_tmp}')
        if overlay_bgr.shape[1::-1] != self._video_size:
            overlay_bgr = cv2.resize(overlay_bgr, self._video_size, interpolation=cv2.INTER_AREA)
        self._video.write(np.concatenate([overlay_bgr, self._bar], axis=1))
        self.video_frames += 1

    def add_bag_frame(self, stamp_ns: int, image_rgb: np.ndarray, score: np.ndarray,
                      mask: np.ndarray, overlay_bgr: np.ndarray, train_ids: np.ndarray) -> None:
        """
        Write one frame's camera image and outputs into the bag, as the node publishes them.

        :param stamp_ns: header stamp of every message of the frame.
        :param image_rgb: (H, W, 3) uint8 camera image.
        :param score: (H, W) float32 score.
        :param mask: (H, W) bool mask (written 0 / 255).
        :param overlay_bgr: (H, W, 3) uint8 overlay.
        :param train_ids: (H, W) uint8 semantic train ids.
        """
        if self._bag is None:
            return
        if not self._bag_started:
            self._bag.start()
            self._bag_started = True
        arrays = {'/image': image_rgb, '/anomaly/score': score.astype(np.float32),
                  '/anomaly/mask': mask.astype(np.uint8) * np.uint8(255),
                  '/anomaly/overlay': overlay_bgr, '/semantic/labels': train_ids}
        for topic, encoding in BAG_TOPICS.items():
            self._bag.write(topic, np.ascontiguousarray(arrays[topic]), stamp_ns, encoding,
                            'camera')

    def close(self) -> Dict[str, object]:
        """
        Finish the video (checked readable) and the bag and move them into place.

        :return: what was written: ``{'video': {...}, 'bag': ...}`` (only those written).
        """
        written: Dict[str, object] = {}
        if self._video is not None:
            self._video.release()
            self._video = None
            os.replace(self._video_tmp, self.out / VIDEO_FILE)
            written['video'] = {'file': VIDEO_FILE, 'frames': self.video_frames,
                                'rate_hz': self.video_rate, 'codec': 'mp4v',
                                'frames_read_back': count_video_frames(self.out / VIDEO_FILE)}
        if self._bag is not None and self._bag_started:
            self._bag.close()
            written['bag'] = {'path': BAG_DIR, 'storage': 'mcap', 'topics': list(BAG_TOPICS)}
        return written

    def abort(self) -> None:
        """Discard the unfinished video and bag (on an error that is not an interruption)."""
        if self._video is not None:
            self._video.release()
            self._video = None
        self._video_tmp.unlink(missing_ok=True)
        if self._bag is not None and self._bag_started:
            self._bag.abort()

    def write_summary(self, summary: Dict[str, object]) -> Path:
        """
        Write ``summary.json`` atomically.

        :param summary: JSON-ready content.
        :return: its path.
        """
        path = self.out / SUMMARY_FILE
        tmp = self.out / f'.{SUMMARY_FILE}.partial'
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False) + '\n')
        os.replace(tmp, path)
        return path


def count_video_frames(path: Path) -> int:
    """
    Count the frames OpenCV decodes from a video (to check that it reads back).

    :param path: the video.
    :return: the number of frames decoded (0 if it cannot be opened).
    """
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while capture.isOpened() and capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def frame_entries(frames: List[Dict[str, object]]) -> List[Dict[str, object]]:
    """
    Round a summary's per-frame figures for reading.

    :param frames: per-frame dictionaries.
    :return: the same entries, floats rounded to 6 significant figures.
    """
    return [{k: float(f'{v:.6g}') if isinstance(v, float) else v for k, v in f.items()}
            for f in frames]
