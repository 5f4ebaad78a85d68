# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SynBoost Light: ICNet segmentation -> SPADE re-synthesis -> dissimilarity ensemble."""

from typing import Dict, Tuple

import numpy as np

from pixel_anomaly_ros.pipelines.base import AnomalyPipeline
from pixel_anomaly_ros.runtime.stage_timing import StageTimer


class SynBoostLight(AnomalyPipeline):
    """The three-graph SynBoost Light pipeline (Di Biase et al., CVPR 2021, Sec. 5.2)."""

    def _infer(self, timer: StageTimer, return_maps: bool
               ) -> Tuple[object, object, Dict[str, np.ndarray]]:
        run = self.executor.run
        image = self._input_image()
        with timer.stage('segmentation'):
            seg = run('segmentation', {'image': image})
        with timer.stage('synthesis'):
            syn = run('synthesis', {'train_ids': seg['train_ids']})
        with timer.stage('dissimilarity'):
            diss = run('dissimilarity', {
                'image': image, 'synthesis': syn['synthesis'], 'train_ids': seg['train_ids'],
                'entropy': seg['entropy'], 'distance': seg['distance'],
                'weights': self._weights_value})
        maps = self._baseline_maps(seg)
        if return_maps:
            to_numpy = self.executor.to_numpy
            maps.update(raw_score=to_numpy(diss['score'])[0, 0],
                        p_anomaly=to_numpy(diss['p_anomaly'])[0, 0],
                        perceptual=to_numpy(diss['perceptual'])[0, 0],
                        entropy=to_numpy(seg['entropy'])[0, 0],
                        distance=to_numpy(seg['distance'])[0, 0],
                        synthesis=to_numpy(syn['synthesis'])[0].transpose(1, 2, 0))
        return diss['score'], seg['train_ids'], maps
