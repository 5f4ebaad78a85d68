# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A user's own ONNX segmentation network in a bundle: the ``segmentation_onnx`` section.

A bundle may take its segmentation stage from an ONNX model instead of a built-in network:
the ``segmentation_onnx`` variant scores that model's logits with a post-hoc scorer
(:data:`SCORERS`), and a ``synboost_light`` bundle may run its synthesis and dissimilarity
around it. The model is kept as it was given (``network.onnx``); the stage graph that every
backend runs is that model composed with the input normalisation in front and the scorer
behind (:mod:`pixel_anomaly_ros.stages.external_graph`). This module is only the description
in ``bundle.yaml``; it imports nothing heavy.
"""

from dataclasses import dataclass, field
import math
from typing import Dict, List, Optional, Tuple

from pixel_anomaly_ros.errors import PixelAnomalyError

#: File name of the user's model inside the bundle.
NETWORK_FILE = 'network.onnx'
#: The stage graph built around the user's model, per variant that can take one.
EXTERNAL_STAGE = {'segmentation_onnx': 'posthoc', 'synboost_light': 'segmentation'}
#: Named class sets: ``cityscapes`` is the 19 Cityscapes train ids.
CLASS_SETS = {'cityscapes': 19}
#: Post-hoc scorers of the ``segmentation_onnx`` variant (all: higher = more anomalous).
SCORERS = ('energy', 'max_logit', 'entropy', 'max_softmax', 'sml')
#: How low-resolution logits are resized to the input size. The official pipelines all use
#: bilinear with ``align_corners=True`` (NVIDIA ``mynn.Upsample`` in SynBoost, PEBAL and SML,
#: Fast_Seg's ICNet); ``half_pixel`` is ``align_corners=False`` (e.g. most mmsegmentation models).
LOGITS_RESIZE = ('align_corners', 'half_pixel')
#: Post-processing each scorer gets unless told otherwise: PEBAL smooths its energy (7x7
#: Gaussian, sigma 1); SML's evaluation defaults enable boundary suppression and dilated
#: smoothing (``eval.py`` of shjung13/Standardized-max-logits).
SCORER_DEFAULTS = {
    'energy': {'blur': True, 'boundary_suppression': False, 'dilated_smoothing': False},
    'max_logit': {'blur': False, 'boundary_suppression': False, 'dilated_smoothing': False},
    'entropy': {'blur': False, 'boundary_suppression': False, 'dilated_smoothing': False},
    'max_softmax': {'blur': False, 'boundary_suppression': False, 'dilated_smoothing': False},
    'sml': {'blur': False, 'boundary_suppression': True, 'dilated_smoothing': True},
}
#: Raw score range mapped to [0, 1] before ``calibrate`` measures one: max softmax and the
#: entropy (divided by ln C) lie in [0, 1]; SML is a standard score (inliers about N(0, 1)).
#: Energy and max logit depend on the network's logit scale: calibrate such bundles.
SCORE_RANGES = {'energy': (-20.0, 0.0), 'max_logit': (-20.0, 0.0), 'entropy': (0.0, 1.0),
                'max_softmax': (0.0, 1.0), 'sml': (-1.0, 4.0)}


class ExternalModelError(PixelAnomalyError, ValueError):
    """A user's ONNX model or its description cannot be used; the message says why."""


@dataclass
class ExternalSegmentation:
    """
    The user's segmentation network and what is computed on its logits.

    :ivar input_name: the model's image input.
    :ivar logits_output: the model's (1, C, h, w) logits output.
    :ivar logits_size: (h, w) of the logits at the bundle's input size.
    :ivar logits_resize: :data:`LOGITS_RESIZE` convention of the bilinear logits resize.
    :ivar input_scale: 1 (the model expects 0..1 pixels) or 255 (0..255); recorded for the
        reader, the bundle's mean and std already include it.
    :ivar classes: ``cityscapes`` when the classes are the 19 Cityscapes train ids, else empty.
    :ivar scorer: one of :data:`SCORERS` (``segmentation_onnx`` bundles; empty in SynBoost).
    :ivar blur: smooth the score with PEBAL's 7x7 Gaussian (sigma 1, reflect padding).
    :ivar boundary_suppression: SML's iterative boundary suppression.
    :ivar dilated_smoothing: SML's dilated Gaussian smoothing.
    :ivar sml: per-class SML statistics measured by ``calibrate`` (``mean``, ``std``,
        ``pixels``, ``fallback``), or None: the scorer then uses mean 0 and std 1.
    :ivar sha256: the model file's SHA-256.
    :ivar source: the file name it was converted from.
    """

    input_name: str
    logits_output: str
    logits_size: Tuple[int, int]
    logits_resize: str = 'align_corners'
    input_scale: float = 255.0
    classes: str = ''
    scorer: str = ''
    blur: bool = False
    boundary_suppression: bool = False
    dilated_smoothing: bool = False
    sml: Optional[Dict[str, List]] = None
    sha256: str = ''
    source: str = ''
    file: str = field(default=NETWORK_FILE)

    def sml_constants(self, num_classes: int) -> Tuple[List[float], List[float]]:
        """
        Return the per-class mean and std the SML scorer uses (0 and 1 before calibration).

        :param num_classes: number of classes.
        :return: (means, stds), one value per class.
        """
        if not self.sml:
            return [0.0] * num_classes, [1.0] * num_classes
        return [float(v) for v in self.sml['mean']], [float(v) for v in self.sml['std']]

    def validate(self, variant: str, num_classes: int) -> None:
        """
        Check the section for consistency.

        :param variant: the bundle's variant.
        :param num_classes: the bundle's class count.
        :raises ExternalModelError: with the field and the reason.
        """
        if variant == 'segmentation_onnx' and self.scorer not in SCORERS:
            raise ExternalModelError(f'segmentation_onnx.scorer must be one of {SCORERS}, '
                                     f'not {self.scorer!r}')
        if variant == 'synboost_light' and (num_classes != 19 or self.scorer):
            raise ExternalModelError('a synboost_light segmentation_onnx model needs the 19 '
                                     'Cityscapes classes and no scorer')
        if self.logits_resize not in LOGITS_RESIZE:
            raise ExternalModelError(f'segmentation_onnx.logits_resize must be one of '
                                     f'{LOGITS_RESIZE}, not {self.logits_resize!r}')
        if self.input_scale not in (1.0, 255.0):
            raise ExternalModelError(f'segmentation_onnx.input_scale must be 1 or 255, not '
                                     f'{self.input_scale!r}')
        if '/' in self.file or '\\' in self.file or not self.file.endswith('.onnx'):
            raise ExternalModelError(f'segmentation_onnx.file must be a file name ending in '
                                     f'.onnx inside the bundle, not {self.file!r}')
        if len(self.logits_size) != 2 or min(self.logits_size) < 1:
            raise ExternalModelError(f'segmentation_onnx.logits_size must be [h, w], got '
                                     f'{self.logits_size!r}')
        if self.sml:
            means, stds = self.sml.get('mean', ()), self.sml.get('std', ())
            if len(means) != num_classes or len(stds) != num_classes:
                raise ExternalModelError(f'segmentation_onnx.sml needs {num_classes} means and '
                                         f'stds, got {len(means)} and {len(stds)}')
            if not all(math.isfinite(m) for m in means) or \
                    not all(math.isfinite(s) and s > 0 for s in stds):
                raise ExternalModelError('segmentation_onnx.sml: means must be finite and stds '
                                         'finite and > 0; run `pixel-anomaly calibrate` again')

    def to_yaml_dict(self) -> dict:
        """Return the ``segmentation_onnx`` section of ``bundle.yaml``."""
        doc = {'file': self.file, 'sha256': self.sha256, 'source': self.source,
               'input_name': self.input_name, 'input_scale': float(self.input_scale),
               'logits_output': self.logits_output, 'logits_size': list(self.logits_size),
               'logits_resize': self.logits_resize, 'classes': self.classes}
        if self.scorer:
            doc.update(scorer=self.scorer, blur=self.blur,
                       boundary_suppression=self.boundary_suppression,
                       dilated_smoothing=self.dilated_smoothing, sml=self.sml)
        return doc

    @classmethod
    def from_yaml_dict(cls, doc: dict) -> 'ExternalSegmentation':
        """
        Parse the ``segmentation_onnx`` section.

        :param doc: the section.
        :return: the description (not yet validated).
        :raises KeyError: for a missing field; TypeError or ValueError for a malformed one.
        """
        sml = doc.get('sml')
        return cls(input_name=str(doc['input_name']), logits_output=str(doc['logits_output']),
                   logits_size=tuple(int(v) for v in doc['logits_size']),
                   logits_resize=str(doc.get('logits_resize', 'align_corners')),
                   input_scale=float(doc.get('input_scale', 255.0)),
                   classes=str(doc.get('classes') or ''), scorer=str(doc.get('scorer') or ''),
                   blur=bool(doc.get('blur', False)),
                   boundary_suppression=bool(doc.get('boundary_suppression', False)),
                   dilated_smoothing=bool(doc.get('dilated_smoothing', False)),
                   sml=dict(sml) if sml else None, sha256=str(doc.get('sha256', '')),
                   source=str(doc.get('source', '')), file=str(doc.get('file', NETWORK_FILE)))
