# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
DeepLabV3+ with a WideResNet38-A2 trunk (NVIDIA ``DeepWV3Plus``) and PEBAL's ``Network`` wrapper.

Key-compatible with NVIDIA/semantic-segmentation (sdcnet branch) ``network/deepv3.py::DeepWV3Plus``
(``cityscapes_best.pth`` after stripping ``module.`` and dropping ``criterion.nll_loss.weight``),
with SynBoost's copy ``image_segmentation/network/deepv3.py`` and with PEBAL (Tian et al.,
ECCV 2022, tianyu0207/PEBAL ``code/model/network.py::Network``, submodule ``branch1``, 19 + 1
outputs).

Layout (output stride 8): ``mod1`` 3x3 conv -> ``pool2`` -> ``mod2`` (1/2, feeds ``bot_fine``)
-> ``pool3`` -> ``mod3`` (1/4) -> ``mod4`` (first block stride 2, 1/8) -> ``mod5`` (dilation 2)
-> ``mod6``/``mod7`` (bottlenecks, dilation 4, Dropout2d 0.3/0.5) -> ASPP (image pooling, 1x1,
3x3 at rates 12/24/36) -> ``bot_aspp`` -> upsample to the ``mod2`` grid -> concat with ``bot_fine``
-> ``final`` -> bilinear upsample (``align_corners=True``) to the input size.
"""

from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

WRN38_STRUCTURE = (3, 3, 6, 3, 1, 1)
WRN38_CHANNELS = ((128, 128), (256, 256), (512, 512), (512, 1024), (512, 1024, 2048),
                  (1024, 2048, 4096))
WRN38_STRIDES = (1, 1, 2, 1, 1, 1)
WRN38_DILATIONS = (1, 1, 1, 2, 4, 4)
WRN38_DROPOUTS = (0.0, 0.0, 0.0, 0.0, 0.3, 0.5)
ASPP_RATES = (12, 24, 36)

TINY_STRUCTURE = (2, 1, 2, 2, 1, 1)
TINY_CHANNELS = ((16, 16), (24, 24), (32, 32), (32, 48), (24, 48, 64), (32, 64, 96))

PEBAL_INLIER_CLASSES = 19
PEBAL_NUM_OUTPUTS = PEBAL_INLIER_CLASSES + 1


def _upsample(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize with ``align_corners=True`` (NVIDIA ``mynn.Upsample``)."""
    return F.interpolate(x, size=tuple(size), mode='bilinear', align_corners=True)


def _bn_relu(channels: int) -> nn.Sequential:
    """BatchNorm2d (eps 1e-5) followed by ReLU; keys ``<name>.0.*``."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class IdentityResidualBlock(nn.Module):
    """
    Pre-activation (identity-mapping) residual block of WideResNet-A2.

    ``bn1`` (BN + ReLU) is applied to the input; the shortcut is ``proj_conv(bn1(x))`` when the
    block changes the channel count or the stride, otherwise ``x``. Basic blocks (two widths) run
    ``conv1`` 3x3 (stride, dilation) -> ``bn2`` -> ``conv2`` 3x3 (dilation); bottlenecks (three
    widths) run ``conv1`` 1x1 (stride) -> ``bn2`` -> ``conv2`` 3x3 (dilation) -> ``bn3`` ->
    ``conv3`` 1x1. Dropout2d, when enabled, sits right before the last convolution.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], stride: int = 1,
                 dilation: int = 1, dropout: float = 0.0) -> None:
        """
        Build the block.

        :param in_channels: number of input channels.
        :param channels: two (basic) or three (bottleneck) internal widths; the last is the output.
        :param stride: stride of the first convolution and of ``proj_conv``.
        :param dilation: dilation (and padding) of the 3x3 convolutions.
        :param dropout: Dropout2d probability before the last convolution (0 disables it).
        """
        super().__init__()
        channels = tuple(channels)
        if len(channels) not in (2, 3):
            raise ValueError('channels must have two or three entries')
        self.bn1 = _bn_relu(in_channels)
        if len(channels) == 2:
            layers = [
                ('conv1', nn.Conv2d(in_channels, channels[0], 3, stride=stride,
                                    padding=dilation, dilation=dilation, bias=False)),
                ('bn2', _bn_relu(channels[0])),
                ('conv2', nn.Conv2d(channels[0], channels[1], 3, padding=dilation,
                                    dilation=dilation, bias=False)),
            ]
        else:
            layers = [
                ('conv1', nn.Conv2d(in_channels, channels[0], 1, stride=stride, bias=False)),
                ('bn2', _bn_relu(channels[0])),
                ('conv2', nn.Conv2d(channels[0], channels[1], 3, padding=dilation,
                                    dilation=dilation, bias=False)),
                ('bn3', _bn_relu(channels[1])),
                ('conv3', nn.Conv2d(channels[1], channels[2], 1, bias=False)),
            ]
        if dropout > 0.0:
            layers.insert(len(layers) - 1, ('dropout', nn.Dropout2d(p=dropout)))
        self.convs = nn.Sequential(OrderedDict(layers))
        self.proj_conv: Optional[nn.Conv2d] = None
        if stride != 1 or in_channels != channels[-1]:
            self.proj_conv = nn.Conv2d(in_channels, channels[-1], 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Apply the block.

        :param x: (B, C_in, H, W) features.
        :return: (B, C_out, H', W') features.
        """
        pre = self.bn1(x)
        shortcut = x if self.proj_conv is None else self.proj_conv(pre)
        return self.convs(pre) + shortcut


class AtrousSpatialPyramidPooling(nn.Module):
    """
    DeepLabV3 ASPP: image pooling, a 1x1 branch and dilated 3x3 branches, each conv + BN + ReLU.

    Output channel order: [image pooling, 1x1, rate 1, rate 2, ...] (``img_conv`` first).
    """

    def __init__(self, in_channels: int, reduction_channels: int = 256,
                 rates: Sequence[int] = ASPP_RATES) -> None:
        """
        Build the module.

        :param in_channels: number of input channels.
        :param reduction_channels: channels of every branch.
        :param rates: dilation rates of the 3x3 branches (already doubled for output stride 8).
        """
        super().__init__()
        branches = [nn.Sequential(nn.Conv2d(in_channels, reduction_channels, 1, bias=False),
                                  nn.BatchNorm2d(reduction_channels), nn.ReLU(inplace=True))]
        for rate in rates:
            branches.append(nn.Sequential(
                nn.Conv2d(in_channels, reduction_channels, 3, padding=rate, dilation=rate,
                          bias=False),
                nn.BatchNorm2d(reduction_channels), nn.ReLU(inplace=True)))
        self.features = nn.ModuleList(branches)
        self.img_pooling = nn.AdaptiveAvgPool2d(1)
        self.img_conv = nn.Sequential(nn.Conv2d(in_channels, reduction_channels, 1, bias=False),
                                      nn.BatchNorm2d(reduction_channels), nn.ReLU(inplace=True))
        self.out_channels = reduction_channels * (len(rates) + 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Apply the pyramid.

        :param x: (B, C, H, W) features.
        :return: (B, reduction_channels * (len(rates) + 2), H, W) features.
        """
        pooled = _upsample(self.img_conv(self.img_pooling(x)), x.shape[2:])
        return torch.cat([pooled] + [branch(x) for branch in self.features], dim=1)


class DeepWV3Plus(nn.Module):
    """
    NVIDIA DeepLabV3+ with a dilated WideResNet38-A2 trunk (output stride 8).

    The defaults give the full-size network (keys of NVIDIA ``cityscapes_best.pth`` without the
    ``module.`` prefix). Any input size works: both max-pools and the stride-2 block compute
    ``ceil(n / 2)``, and the decoder resizes to the ``mod2`` grid and then to the input size.
    """

    def __init__(self, num_classes: int = 19,
                 structure: Sequence[int] = WRN38_STRUCTURE,
                 stem_channels: int = 64,
                 channels: Sequence[Sequence[int]] = WRN38_CHANNELS,
                 strides: Sequence[int] = WRN38_STRIDES,
                 dilations: Sequence[int] = WRN38_DILATIONS,
                 dropouts: Sequence[float] = WRN38_DROPOUTS,
                 aspp_channels: int = 256,
                 aspp_rates: Sequence[int] = ASPP_RATES,
                 fine_channels: int = 48,
                 decoder_channels: int = 256) -> None:
        """
        Build the network.

        :param num_classes: number of output channels of ``final.6``.
        :param structure: number of residual blocks in mod2..mod7 (six entries).
        :param stem_channels: output channels of ``mod1.conv1``.
        :param channels: per module, the block widths (two = basic, three = bottleneck).
        :param strides: per module, the stride of its first block.
        :param dilations: per module, the dilation of its 3x3 convolutions.
        :param dropouts: per module, the Dropout2d probability before each block's last conv.
        :param aspp_channels: channels of each ASPP branch and of ``bot_aspp``.
        :param aspp_rates: dilation rates of the ASPP 3x3 branches.
        :param fine_channels: output channels of ``bot_fine`` (applied to the mod2 output).
        :param decoder_channels: width of the two 3x3 convolutions of ``final``.
        """
        super().__init__()
        settings = (structure, channels, strides, dilations, dropouts)
        if any(len(s) != 6 for s in settings):
            raise ValueError('structure/channels/strides/dilations/dropouts need six entries')
        self.num_classes = num_classes
        self.mod1 = nn.Sequential(OrderedDict(
            [('conv1', nn.Conv2d(3, stem_channels, 3, padding=1, bias=False))]))
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = stem_channels
        for index, num_blocks in enumerate(structure):
            blocks = []
            for block_index in range(num_blocks):
                blocks.append(('block%d' % (block_index + 1), IdentityResidualBlock(
                    in_channels, channels[index],
                    stride=strides[index] if block_index == 0 else 1,
                    dilation=dilations[index], dropout=dropouts[index])))
                in_channels = channels[index][-1]
            self.add_module('mod%d' % (index + 2), nn.Sequential(OrderedDict(blocks)))
        self.aspp = AtrousSpatialPyramidPooling(in_channels, aspp_channels, aspp_rates)
        self.bot_fine = nn.Conv2d(channels[0][-1], fine_channels, 1, bias=False)
        self.bot_aspp = nn.Conv2d(self.aspp.out_channels, aspp_channels, 1, bias=False)
        self.final = nn.Sequential(
            nn.Conv2d(aspp_channels + fine_channels, decoder_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(decoder_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(decoder_channels, decoder_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(decoder_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(decoder_channels, num_classes, 1, bias=False))

    def forward_features(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Run the trunk.

        :param x: (B, 3, H, W) ImageNet-normalised RGB image.
        :return: (mod2 output at 1/2 resolution, mod7 output at 1/8 resolution).
        """
        m2 = self.mod2(self.pool2(self.mod1(x)))
        out = self.mod3(self.pool3(m2))
        out = self.mod7(self.mod6(self.mod5(self.mod4(out))))
        return m2, out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Compute segmentation logits.

        :param x: (B, 3, H, W) float image, RGB, normalised with the ImageNet mean/std.
        :return: (B, num_classes, H, W) logits at the input resolution.
        """
        if x.dim() != 4:
            raise ValueError('expected a (B, 3, H, W) tensor')
        m2, deep = self.forward_features(x)
        dec_up = _upsample(self.bot_aspp(self.aspp(deep)), m2.shape[2:])
        dec = torch.cat([self.bot_fine(m2), dec_up], dim=1)
        return _upsample(self.final(dec), x.shape[2:])


class PebalNetwork(nn.Module):
    """
    PEBAL ``Network``: a ``DeepWV3Plus`` named ``branch1`` with 19 inlier + 1 abstention outputs.

    The anomaly score (free energy of the 19 inlier logits, Gaussian-blurred) is not computed here.
    """

    def __init__(self, num_classes: int = PEBAL_NUM_OUTPUTS,
                 structure: Sequence[int] = WRN38_STRUCTURE,
                 stem_channels: int = 64,
                 channels: Sequence[Sequence[int]] = WRN38_CHANNELS,
                 aspp_channels: int = 256,
                 fine_channels: int = 48,
                 decoder_channels: int = 256) -> None:
        """
        Build the wrapper (strides, dilations, dropouts and ASPP rates are those of WRN38).

        :param num_classes: outputs of ``branch1`` (19 inlier classes + 1 abstention class).
        :param structure: number of residual blocks in mod2..mod7.
        :param stem_channels: output channels of ``mod1.conv1``.
        :param channels: per module, the block widths.
        :param aspp_channels: channels of each ASPP branch.
        :param fine_channels: output channels of ``bot_fine``.
        :param decoder_channels: width of ``final``.
        """
        super().__init__()
        self.num_inlier_classes = PEBAL_INLIER_CLASSES
        self.branch1 = DeepWV3Plus(num_classes=num_classes, structure=structure,
                                   stem_channels=stem_channels, channels=channels,
                                   aspp_channels=aspp_channels, fine_channels=fine_channels,
                                   decoder_channels=decoder_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Compute PEBAL logits.

        :param x: (B, 3, H, W) ImageNet-normalised RGB image.
        :return: (B, 20, H, W) logits; channels 0..18 are the Cityscapes classes, 19 abstention.
        """
        return self.branch1(x)


def deepwv3plus(num_classes: int = 19) -> DeepWV3Plus:
    """
    Build the full-size NVIDIA DeepWV3Plus (WideResNet38, ASPP 256, rates 12/24/36).

    :param num_classes: number of output classes (19 for Cityscapes).
    :return: the network (random weights).
    """
    return DeepWV3Plus(num_classes=num_classes)


def deepwv3plus_tiny(num_classes: int = 19) -> DeepWV3Plus:
    """
    Build a small DeepWV3Plus with the same module names and code paths (for tests).

    :param num_classes: number of output classes.
    :return: the network (random weights).
    """
    return DeepWV3Plus(num_classes=num_classes, structure=TINY_STRUCTURE, stem_channels=8,
                       channels=TINY_CHANNELS, aspp_channels=16, fine_channels=8,
                       decoder_channels=16)


def pebal_wrn38() -> PebalNetwork:
    """
    Build PEBAL's full-size network (keys ``branch1.*``, 20 outputs).

    :return: the network (random weights).
    """
    return PebalNetwork()


def pebal_wrn38_tiny() -> PebalNetwork:
    """
    Build a small PEBAL network with the same key names (for tests).

    :return: the network (random weights).
    """
    return PebalNetwork(structure=TINY_STRUCTURE, stem_channels=8, channels=TINY_CHANNELS,
                        aspp_channels=16, fine_channels=8, decoder_channels=16)
