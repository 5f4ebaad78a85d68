# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
INT8 range calibration data: the inputs every stage graph sees on real camera images.

The quantised graphs (``export --int8``) calibrate each stage on the inputs that stage receives
in the fp32 pipeline, recorded here once for all stages; ONNX Runtime runs those graphs on the
CPU and TensorRT builds its INT8 engines from them, so one calibration serves both.
"""

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.pipelines import pipeline_for
from pixel_anomaly_ros.runtime.base import Executor
from pixel_anomaly_ros.stages.graph_io import GRAPH_IO


class CalibrationError(PixelAnomalyError, ValueError):
    """Calibration images that are missing or unreadable; the message names the path."""


def collect_stage_inputs(bundle: Bundle, images: Sequence[np.ndarray], device: str = 'auto',
                         progress: bool = True) -> Dict[str, List[Dict[str, np.ndarray]]]:
    """
    Run the fp32 pipeline over calibration images and record every stage's inputs.

    Every image costs one host copy of all stage inputs (about 80 MB for a 2048x1024 Light
    bundle), so a few dozen images is the practical range on a small machine.

    :param bundle: the bundle (its weights run on the torch executor; a segmentation that is
        an ONNX model runs on ONNX Runtime on the CPU, fp32).
    :param images: RGB uint8 images.
    :param device: torch device of the fp32 pipeline; ``auto`` uses CUDA when present.
    :param progress: show a progress bar.
    :return: ``{stage: [{input name: array}, ...]}``, one entry per image.
    """
    from tqdm import tqdm
    if bundle.spec.external is not None:
        from pixel_anomaly_ros.runtime.onnxruntime_executor import OnnxRuntimeExecutor
        inner = OnnxRuntimeExecutor(bundle)
    else:
        import torch

        from pixel_anomaly_ros.runtime.torch_executor import TorchExecutor
        if device == 'auto':
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        inner = TorchExecutor.for_bundle(bundle, device, 'fp32')
    recorder = RecordingExecutor(inner)
    pipeline = pipeline_for(bundle, recorder)
    try:
        for image in tqdm(images, desc='calibration images', unit='image',
                          disable=not progress):
            pipeline(image)
    finally:
        recorder.inner.close()
    return recorder.recorded


class RecordingExecutor(Executor):
    """Delegates to another executor and keeps a host copy of every stage's inputs."""

    def __init__(self, inner: Executor):
        """
        Wrap an executor.

        :param inner: the executor that does the work.
        """
        self.inner = inner
        self.backend, self.device, self.precision = inner.backend, inner.device, inner.precision
        self.recorded: Dict[str, List[Dict[str, np.ndarray]]] = {s: [] for s in inner.stages}

    @property
    def stages(self) -> Tuple[str, ...]:
        """Stage names of the wrapped executor."""
        return self.inner.stages

    def run(self, stage: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """
        Record the stage inputs, then run the stage.

        :param stage: stage name.
        :param inputs: ``{input name: native value}``.
        :return: the wrapped executor's outputs.
        """
        names = GRAPH_IO[stage][0]
        self.recorded[stage].append({n: np.array(self.inner.to_numpy(inputs[n]))
                                     for n in names})
        return self.inner.run(stage, inputs)

    def image_input(self, image: np.ndarray) -> Any:
        """Delegate."""
        return self.inner.image_input(image)

    def stage_timer(self):
        """Delegate."""
        return self.inner.stage_timer()

    def from_numpy(self, array: np.ndarray) -> Any:
        """Delegate."""
        return self.inner.from_numpy(array)

    def to_numpy(self, value: Any) -> np.ndarray:
        """Delegate."""
        return self.inner.to_numpy(value)

    def synchronize(self) -> None:
        """Delegate."""
        self.inner.synchronize()


IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def load_calibration_images(source, limit: int = 32) -> List[np.ndarray]:
    """
    Read INT8 calibration images: a folder of images, or a text file with one path per line.

    :param source: folder or list file.
    :param limit: most images to read, evenly spread over the sorted list (every image
        costs one copy of all stage inputs during calibration).
    :return: RGB uint8 images.
    :raises CalibrationError: when the source is missing, empty or holds unreadable images.
    """
    import cv2
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    elif source.is_file():
        paths = [Path(line.strip()) for line in source.read_text().splitlines()
                 if line.strip() and not line.startswith('#')]
    else:
        raise CalibrationError(f'{source}: no such folder or list file of calibration images')
    if not paths:
        raise CalibrationError(f'{source}: no calibration images found '
                               f'({", ".join(IMAGE_SUFFIXES)})')
    if limit < 1:
        raise CalibrationError(f'calibration limit must be at least 1, got {limit}')
    if len(paths) > limit:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
    images = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CalibrationError(f'{path}: cannot read this calibration image')
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return images
