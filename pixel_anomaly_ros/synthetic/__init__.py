# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Procedural driving scenes in Cityscapes layout with anomalies in Fishyscapes layout.

``pixel-anomaly synth`` (:mod:`pixel_anomaly_ros.cli.synth`) and :func:`.writer.generate`
write a small synthetic world: training/validation scenes with Cityscapes label ids, train ids
and instance ids, an anomaly set readable by ``open_dataset('folder')`` and ``('fs_static')``,
and optionally a bag with ego-motion. :func:`.anomalies.paste_anomaly` puts a random anomaly
object into any image (AnomalyMix). Modules: :mod:`.scene` (street renderer), :mod:`.things`,
:mod:`.placement`, :mod:`.anomalies`, :mod:`.textures`, :mod:`.canvas`, :mod:`.writer`.
"""
