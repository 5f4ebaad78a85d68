# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
INT8 calibration data: the inputs every stage graph sees on real camera images.

Both INT8 paths (TensorRT engines, ONNX Runtime quantised graphs) calibrate each stage on the
inputs that stage receives in the fp32 pipeline, recorded here once for all stages.
"""

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.pipelines.graphs import GRAPH_IO
from pixel_anomaly_ros.runtime.base import Executor


def collect_stage_inputs(bundle: Bundle, images: Sequence[np.ndarray], device: str = 'auto',
                         progress: bool = True) -> Dict[str, List[Dict[str, np.ndarray]]]:
    """
    Run the fp32 pipeline over calibration images and record every stage's inputs.

    Every image costs one host copy of all stage inputs (about 80 MB for a 2048x1024 Light
    bundle), so a few dozen images is the practical range on a small machine.

    :param bundle: the bundle (its weights run on the torch executor).
    :param images: RGB uint8 images.
    :param device: torch device of the fp32 pipeline; ``auto`` uses CUDA when present.
    :param progress: show a progress bar.
    :return: ``{stage: [{input name: array}, ...]}``, one entry per image.
    """
    import torch
    from tqdm import tqdm

    from pixel_anomaly_ros.pipelines import pipeline_for
    from pixel_anomaly_ros.runtime.torch_executor import TorchExecutor
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    recorder = RecordingExecutor(TorchExecutor.from_bundle(bundle, device, 'fp32'))
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

    def from_numpy(self, array: np.ndarray) -> Any:
        """Delegate."""
        return self.inner.from_numpy(array)

    def to_numpy(self, value: Any) -> np.ndarray:
        """Delegate."""
        return self.inner.to_numpy(value)

    def synchronize(self) -> None:
        """Delegate."""
        self.inner.synchronize()
