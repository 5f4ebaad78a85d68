# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SynBoost's VGG19 perceptual difference (``VGG19_difference``).

Re-implements ``image_dissimilarity/models/vgg_features.py::VGG19_difference`` of
giandbt/synboost (Di Biase et al., CVPR 2021). The convolutions live in ``features``, an
``nn.Sequential`` with torchvision's exact ``vgg19().features`` indices, so the ``features.*``
entries of a torchvision VGG19 (ImageNet) state_dict load with ``strict=True``
(``features.30/32/34`` are loaded but unused).

Differences from the official class (values identical otherwise):

* the official forward only supports batch size 1: it takes the channel mean and then
  ``unsqueeze(0)``, so a batch ends up in the channel dimension; here the output is (B, 1, H, W)
  and each sample is processed independently;
* the official code upsamples with fixed scale factors 1, 2, 4, 8, 16; here every level is resized
  to the input size, which is the same (bicubic, align_corners=False) when H and W are multiples
  of 16 (the official sum fails otherwise);
* like the official class, the raw weighted sum is returned; SynBoost's pipeline min-max
  normalises it afterwards (the caller's job).
"""

from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

# torchvision ``cfgs['E']`` (VGG19): convolution widths, 'M' = 2x2 max-pool.
_VGG19_CFG = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M',
              512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M')
# ``features`` slice boundaries of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
_SLICES = (0, 2, 7, 12, 21, 30)
_LEVEL_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGG19Difference(nn.Module):
    """Weighted multi-level L1 distance between VGG19 features of two images."""

    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512, 512),
                 in_channels: int = 3) -> None:
        """
        Create the network.

        :param channels: widths of the five VGG19 stages (torchvision: 64, 128, 256, 512, 512).
        :param in_channels: image channels.
        """
        super().__init__()
        if len(channels) != 5:
            raise ValueError('VGG19 needs five stage widths')
        layers = []
        stage = 0
        prev = in_channels
        for item in _VGG19_CFG:
            if item == 'M':
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                stage += 1
            else:
                width = int(channels[stage])
                layers += [nn.Conv2d(prev, width, kernel_size=3, padding=1), nn.ReLU()]
                prev = width
        self.features = nn.Sequential(*layers)
        self.weights = _LEVEL_WEIGHTS

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """
        Compute the perceptual difference map.

        :param a: (B, 3, H, W) ImageNet-normalised image (SynBoost: the original image).
        :param b: (B, 3, H, W) ImageNet-normalised image (SynBoost: the synthesised image).
        :return: (B, 1, H, W) float map, sum over relu1_1..relu5_1 of the channel mean of
            ``|f_a - f_b|`` upsampled bicubically to (H, W), weights 1/32, 1/16, 1/8, 1/4, 1.
            Not normalised (SynBoost min-max normalises it afterwards).
        """
        size = a.shape[-2:]
        fa, fb = a, b
        out = None
        for level, weight in enumerate(self.weights):
            for idx in range(_SLICES[level], _SLICES[level + 1]):
                layer = self.features[idx]
                fa = layer(fa)
                fb = layer(fb)
            diff = torch.mean(torch.abs(fa - fb), dim=1, keepdim=True)
            if level > 0:
                diff = F.interpolate(diff, size=size, mode='bicubic', align_corners=False)
            term = weight * diff
            out = term if out is None else out + term
        return out


def vgg19_difference() -> VGG19Difference:
    """
    Build the full VGG19 difference network (torchvision widths; load ImageNet ``features``).

    :return: the network.
    """
    return VGG19Difference((64, 128, 256, 512, 512))


def vgg19_difference_tiny() -> VGG19Difference:
    """
    Build a narrow VGG19 difference network for tests (same indices and key names).

    :return: the network.
    """
    return VGG19Difference((4, 8, 8, 16, 16))
