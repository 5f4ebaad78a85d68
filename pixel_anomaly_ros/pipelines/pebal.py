# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""PEBAL: one graph from image to Gaussian-smoothed free energy (Tian et al., ECCV 2022)."""

from typing import Dict, Tuple

import numpy as np

from pixel_anomaly_ros.pipelines.base import AnomalyPipeline
from pixel_anomaly_ros.runtime.stage_timing import StageTimer


class PEBAL(AnomalyPipeline):
    """Energy-based anomaly pipeline; the ensemble weights do not apply to it."""

    #: The one stage graph: image -> score and train ids.
    stage = 'energy'

    def _infer(self, timer: StageTimer, return_maps: bool
               ) -> Tuple[object, object, Dict[str, np.ndarray]]:
        with timer.stage(self.stage):
            out = self.executor.run(self.stage, {'image': self._input_image()})
        maps = self._baseline_maps(out)
        if return_maps:
            maps['raw_score'] = self.executor.to_numpy(out['score'])[0, 0]
        return out['score'], out['train_ids'], maps
