# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
ICNet (Zhao et al., ECCV 2018) image-cascade network for real-time semantic segmentation.

State_dict compatible (``strict=True``) with lxtGH/Fast_Seg ``libs/models/ICNet.py::ICNet``
(the segmentation network of SynBoost's "Light" variant): a deep-stem ResNet-50 with dilated
layer3/layer4 and a PSP head (``backbone.*``), a three-convolution full-resolution branch
(``conv_sub1``), 1x1 projections of the 1/2-input (``conv_sub2``) and 1/4-input (``conv_sub4``)
branches, and the cascade-feature-fusion head (``head.cff_24``, ``head.cff_12``,
``head.conv_cls``). Every resize is bilinear with ``align_corners=True`` and the stem max-pool
uses ``ceil_mode=True``, as in the official code.

``align_corners=False`` (networks trained here only; same keys) resizes with half-pixel
centres instead. With ``True`` the cascade's resizes do not map the grids onto each other
evenly (17x33 -> 32x64 lands every other output on an input node), which stamps a weak lattice
of period 16, 8 and 4 input pixels on the logits and their entropy (issue 15: ratio 7-8 in
:func:`pixel_anomaly_ros.evaluation.periodicity.spectrum_periodicity`).
"""

from typing import Sequence, Tuple

import torch
from torch import nn
import torch.nn.functional as F


def _resize(x: torch.Tensor, size: Sequence[int], align_corners: bool = True) -> torch.Tensor:
    """Resize bilinearly (official: ``align_corners=True``)."""
    return F.interpolate(x, size=tuple(size), mode='bilinear', align_corners=align_corners)


def _rescale(x: torch.Tensor, factor: float, align_corners: bool = True) -> torch.Tensor:
    """Rescale bilinearly by ``factor`` (official: ``align_corners=True``; size floored)."""
    return F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=align_corners)


class PSPPool(nn.Module):
    """
    Adaptive average pooling to a ``size`` x ``size`` grid (the PSP pyramid prior).

    Same semantics as ``nn.AdaptiveAvgPool2d(size)`` (and no parameters). Kept as the single
    place to swap in an export-friendly formulation, since the TorchScript ONNX exporter
    rejects adaptive pooling whose output size does not divide the input size.
    """

    def __init__(self, size: int) -> None:
        """
        Create the pooling.

        :param size: output grid side length.
        """
        super().__init__()
        self.size = int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Pool ``x``.

        :param x: (B, C, H, W) features.
        :return: (B, C, size, size) bin averages.
        """
        return F.adaptive_avg_pool2d(x, (self.size, self.size))


class ConvBnRelu(nn.Module):
    """Bias-free convolution, BatchNorm and ReLU (keys ``conv.*``, ``bn.*``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        """
        Create the block.

        :param in_ch: input channels.
        :param out_ch: output channels.
        :param kernel_size: square kernel size.
        :param stride: convolution stride.
        :param padding: zero padding.
        """
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply convolution, BatchNorm and ReLU."""
        return self.relu(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """ResNet bottleneck (stride and dilation on the 3x3 convolution), expansion 4."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: bool = False) -> None:
        """
        Create the block.

        :param in_ch: input channels.
        :param planes: bottleneck width; the output has ``planes * 4`` channels.
        :param stride: stride of the 3x3 convolution (and of the projection shortcut).
        :param dilation: dilation (= padding) of the 3x3 convolution.
        :param downsample: use a 1x1 convolution + BatchNorm projection shortcut.
        """
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if downsample:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the residual block."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class PSPModule(nn.Module):
    """
    Pyramid pooling module (keys ``stages.<i>.{1,2}``, ``bottleneck.{0,1}``).

    Each stage pools, projects with a bias-free 1x1 convolution and BatchNorm (no ReLU), and is
    resized back; the priors are concatenated in stage order followed by the input features,
    then fused by a bias-free 3x3 convolution, BatchNorm, ReLU and Dropout2d(0.1).
    """

    def __init__(self, in_ch: int, out_ch: int, sizes: Sequence[int] = (1, 2, 3, 6),
                 dropout: float = 0.1, align_corners: bool = True) -> None:
        """
        Create the module.

        :param in_ch: input feature channels.
        :param out_ch: channels of every pyramid stage and of the output.
        :param sizes: pooled grid sizes of the stages.
        :param dropout: Dropout2d probability after the fusion (training only).
        :param align_corners: resize convention of the priors (official ``True``).
        """
        super().__init__()
        self.align_corners = align_corners
        self.stages = nn.ModuleList([
            nn.Sequential(PSPPool(s), nn.Conv2d(in_ch, out_ch, 1, bias=False),
                          nn.BatchNorm2d(out_ch))
            for s in sizes])
        self.bottleneck = nn.Sequential(
            nn.Conv2d(in_ch + len(sizes) * out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Fuse the pyramid priors with the features.

        :param x: (B, in_ch, H, W) features.
        :return: (B, out_ch, H, W) fused features.
        """
        size = x.shape[2:]
        priors = [_resize(stage(x), size, self.align_corners) for stage in self.stages]
        return self.bottleneck(torch.cat(priors + [x], dim=1))


class PSPBackbone(nn.Module):
    """
    Deep-stem dilated ResNet with a PSP head (Fast_Seg ``PSPHead``); output stride 8.

    ICNet does not call :meth:`forward` as a whole: it runs the stem + layer1 + layer2 on the
    half-resolution input and layer3 + layer4 + head on the half of that.
    """

    def __init__(self, layers: Sequence[int], stem_widths: Sequence[int],
                 base_widths: Sequence[int], dilations: Sequence[int], psp_width: int,
                 psp_sizes: Sequence[int], align_corners: bool = True) -> None:
        """
        Create the backbone.

        :param layers: number of bottlenecks in layer1..layer4.
        :param stem_widths: output channels of the three 3x3 stem convolutions.
        :param base_widths: bottleneck widths of layer1..layer4 (outputs are 4x these).
        :param dilations: dilations of layer3 and layer4 (both stride 1).
        :param psp_width: channels of the PSP stages and of the PSP output.
        :param psp_sizes: PSP pooled grid sizes.
        :param align_corners: resize convention of the PSP priors (official ``True``).
        """
        super().__init__()
        s0, s1, s2 = stem_widths
        self.conv1 = nn.Conv2d(3, s0, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(s0)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(s0, s1, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(s1)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(s1, s2, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(s2)
        self.relu3 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self._in_ch = s2
        self.layer1 = self._make_layer(base_widths[0], layers[0], 1, 1)
        self.layer2 = self._make_layer(base_widths[1], layers[1], 2, 1)
        self.layer3 = self._make_layer(base_widths[2], layers[2], 1, dilations[0])
        self.layer4 = self._make_layer(base_widths[3], layers[3], 1, dilations[1])
        self.head = PSPModule(self._in_ch, psp_width, psp_sizes, align_corners=align_corners)

    def _make_layer(self, planes: int, blocks: int, stride: int,
                    dilation: int) -> nn.Sequential:
        """Stack ``blocks`` bottlenecks; the first one strides and (if needed) projects."""
        out_ch = planes * Bottleneck.expansion
        project = stride != 1 or self._in_ch != out_ch
        mods = [Bottleneck(self._in_ch, planes, stride, dilation, downsample=project)]
        mods += [Bottleneck(out_ch, planes, 1, dilation) for _ in range(1, blocks)]
        self._in_ch = out_ch
        return nn.Sequential(*mods)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the three stem convolutions and the ceil-mode max-pool (stride 4)."""
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.bn3(self.conv3(x)))
        return self.maxpool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the whole backbone (stem, layer1-4, PSP head); not used by ICNet."""
        x = self.layer2(self.layer1(self.stem(x)))
        return self.head(self.layer4(self.layer3(x)))


class CascadeFeatureFusion(nn.Module):
    """
    Cascade feature fusion unit (keys ``conv_low.{0,1}``, ``conv_high.{0,1}``, ``conv_low_cls``).

    The low-resolution input is resized to the high-resolution one, passed through a dilated
    (2) 3x3 convolution + BatchNorm; the high-resolution input through a 1x1 convolution +
    BatchNorm; the output is ReLU of their sum. The auxiliary classifier sees the projected
    low-resolution branch (before the sum and the ReLU).
    """

    def __init__(self, low_ch: int, high_ch: int, out_ch: int, num_classes: int,
                 align_corners: bool = True) -> None:
        """
        Create the unit.

        :param low_ch: channels of the low-resolution input.
        :param high_ch: channels of the high-resolution input.
        :param out_ch: output channels.
        :param num_classes: auxiliary classifier outputs.
        :param align_corners: resize convention (official ``True``).
        """
        super().__init__()
        self.align_corners = align_corners
        self.conv_low = nn.Sequential(
            nn.Conv2d(low_ch, out_ch, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm2d(out_ch))
        self.conv_high = nn.Sequential(
            nn.Conv2d(high_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch))
        self.conv_low_cls = nn.Conv2d(out_ch, num_classes, 1, bias=False)

    def forward(self, x_low: torch.Tensor,
                x_high: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Fuse two branches.

        :param x_low: (B, low_ch, h, w) low-resolution features.
        :param x_high: (B, high_ch, H, W) high-resolution features.
        :return: (B, out_ch, H, W) fused features and (B, num_classes, H, W) auxiliary logits.
        """
        low = self.conv_low(_resize(x_low, x_high.shape[2:], self.align_corners))
        fused = F.relu(low + self.conv_high(x_high))
        return fused, self.conv_low_cls(low)


class ICHead(nn.Module):
    """ICNet cascade head (keys ``cff_12``, ``cff_24``, ``conv_cls``)."""

    def __init__(self, num_classes: int, sub1_ch: int, branch_ch: int, cff_ch: int,
                 align_corners: bool = True) -> None:
        """
        Create the head.

        :param num_classes: number of output classes.
        :param sub1_ch: channels of the full-resolution (1/8) branch.
        :param branch_ch: channels of the projected 1/16 and 1/32 branches.
        :param cff_ch: output channels of both CFF units.
        :param align_corners: resize convention (official ``True``).
        """
        super().__init__()
        self.align_corners = align_corners
        self.cff_12 = CascadeFeatureFusion(cff_ch, sub1_ch, cff_ch, num_classes, align_corners)
        self.cff_24 = CascadeFeatureFusion(branch_ch, branch_ch, cff_ch, num_classes,
                                           align_corners)
        self.conv_cls = nn.Conv2d(cff_ch, num_classes, 1, bias=False)

    def forward(self, x_sub1: torch.Tensor, x_sub2: torch.Tensor,
                x_sub4: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """
        Fuse the three branches.

        :return: logits at full, 1/4, 1/8 and ~1/16 resolution (official order).
        """
        x_12, cls_12, cls_24 = self.fuse(x_sub1, x_sub2, x_sub4)
        cls_full, cls_4 = self.classify(x_12)
        return cls_full, cls_4, cls_12, cls_24

    def classify(self, x_12: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Classify the fused 1/8 features as the official head does (x2, 1x1 conv, x4).

        :return: logits at full resolution and at 1/4.
        """
        cls_4 = self.conv_cls(_rescale(x_12, 2, self.align_corners))
        return _rescale(cls_4, 4, self.align_corners), cls_4

    def fuse(self, x_sub1: torch.Tensor, x_sub2: torch.Tensor,
             x_sub4: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Run the two cascade fusions.

        :return: fused 1/8 features, auxiliary logits at 1/8 and ~1/16.
        """
        x_24, cls_24 = self.cff_24(x_sub4, x_sub2)
        x_12, cls_12 = self.cff_12(x_24, x_sub1)
        return x_12, cls_12, cls_24


class ICNet(nn.Module):
    """
    ICNet with a PSP ResNet backbone, key-compatible with Fast_Seg ``ICNet(nclass)``.

    For an (H, W) input the branches are: ``conv_sub1`` at ceil(H/8); the backbone stem,
    layer1 and layer2 on the floor(H/2) input (~1/16 because of the ceil-mode max-pool, e.g.
    65x129 for 1024x2048); layer3, layer4 and the PSP head on the floor-half of that (32x64).
    The full-resolution logits are 8 x the ``conv_sub1`` size, i.e. exactly (H, W) when H and W
    are multiples of 8 (otherwise rounded up to the next multiple of 8, as in the official code).
    """

    def __init__(self, num_classes: int = 19, layers: Sequence[int] = (3, 4, 6, 3),
                 stem_widths: Sequence[int] = (64, 64, 128),
                 base_widths: Sequence[int] = (64, 128, 256, 512),
                 dilations: Sequence[int] = (2, 4), psp_width: int = 512,
                 psp_sizes: Sequence[int] = (1, 2, 3, 6),
                 sub1_widths: Sequence[int] = (32, 32, 64), branch_width: int = 256,
                 cff_width: int = 128, align_corners: bool = True) -> None:
        """
        Create the network (defaults = the official Fast_Seg ICNet layout).

        :param num_classes: output classes (19 Cityscapes train ids; 20 for PEBAL).
        :param layers: bottleneck counts of backbone layer1..layer4.
        :param stem_widths: channels of the three backbone stem convolutions.
        :param base_widths: bottleneck widths of layer1..layer4 (block outputs are 4x these).
        :param dilations: dilations of layer3 and layer4.
        :param psp_width: PSP stage / output channels.
        :param psp_sizes: PSP pooled grid sizes.
        :param sub1_widths: channels of the three stride-2 ``conv_sub1`` convolutions.
        :param branch_width: channels of ``conv_sub2`` and ``conv_sub4``.
        :param cff_width: channels of the CFF units.
        :param align_corners: resize convention of every resize (official ``True``; ``False``
            for half-pixel centres, see the module docstring).
        """
        super().__init__()
        self.align_corners = align_corners
        a, b, c = sub1_widths
        self.conv_sub1 = nn.Sequential(
            ConvBnRelu(3, a, 3, 2, 1), ConvBnRelu(a, b, 3, 2, 1), ConvBnRelu(b, c, 3, 2, 1))
        self.backbone = PSPBackbone(layers, stem_widths, base_widths, dilations, psp_width,
                                    psp_sizes, align_corners)
        self.head = ICHead(num_classes, c, branch_width, cff_width, align_corners)
        self.conv_sub4 = ConvBnRelu(psp_width, branch_width, 1)
        self.conv_sub2 = ConvBnRelu(base_widths[1] * Bottleneck.expansion, branch_width, 1)

    def _branches(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the 1/8, projected 1/16 and projected 1/32 branch features."""
        x_sub1 = self.conv_sub1(x)
        bb = self.backbone
        x_sub2 = bb.layer2(bb.layer1(bb.stem(_rescale(x, 0.5, self.align_corners))))
        x_sub4 = bb.head(bb.layer4(bb.layer3(_rescale(x_sub2, 0.5, self.align_corners))))
        return x_sub1, self.conv_sub2(x_sub2), self.conv_sub4(x_sub4)

    def forward_pyramid(
            self, x: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Return all four official outputs (for the cascade loss).

        :param x: (B, 3, H, W) normalised image.
        :return: logits at full resolution, 1/4, 1/8 and ~1/16 (the stride-16 branch, whose size
            follows the ceil-mode max-pool), each (B, num_classes, h, w).
        """
        return self.head(*self._branches(x))

    def forward_coarse(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Return the full-resolution logits and the 1/8-resolution logits they come from.

        The classifier is a 1x1 convolution on the fused 1/8 features, which the head resizes
        x2 before it and the logits x4 after it: the full logits are a bilinear resize of the
        1/8 logits. A nonlinear map of resized logits (entropy, energy) varies with the
        position inside each resize cell, the same on every frame: a lattice. Taken on the
        1/8 logits and then resized, it has none (stage graphs with ``coarse_scores``).

        :param x: (B, 3, H, W) normalised image.
        :return: (B, num_classes, H, W) and (B, num_classes, H/8, W/8) logits.
        """
        x_12 = self.head.fuse(*self._branches(x))[0]
        return self.head.classify(x_12)[0], self.head.conv_cls(x_12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Compute the full-resolution logits (official output element 0).

        :param x: (B, 3, H, W) normalised image, H and W multiples of 8 for an exact size match.
        :return: (B, num_classes, H, W) logits.
        """
        return self.forward_pyramid(x)[0]


def icnet_r50(num_classes: int = 19) -> ICNet:
    """Build the official Fast_Seg ICNet (deep-stem ResNet-50 PSP backbone)."""
    return ICNet(num_classes=num_classes)


def icnet_tiny(num_classes: int = 19, align_corners: bool = True, width: int = 1) -> ICNet:
    """
    Build a small ICNet with the same key names (one block per layer, few channels).

    :param num_classes: output classes.
    :param align_corners: resize convention (``False``: half-pixel, no lattice).
    :param width: channel multiplier (1: the tests'; 4: the demo bundles', 1.26 M parameters).
    :return: the network.
    """
    k = int(width)
    return ICNet(num_classes=num_classes, layers=(1, 1, 1, 1), stem_widths=(8 * k, 8 * k, 16 * k),
                 base_widths=(8 * k, 8 * k, 16 * k, 32 * k), psp_width=16 * k,
                 sub1_widths=(8 * k, 8 * k, 16 * k), branch_width=16 * k, cff_width=16 * k,
                 align_corners=align_corners)


def icnet_pebal() -> ICNet:
    """Build the full-size ICNet with 20 outputs (19 inlier classes + PEBAL abstention class)."""
    return icnet_r50(num_classes=20)


def icnet_pebal_tiny(align_corners: bool = True, width: int = 1) -> ICNet:
    """
    Build the tiny ICNet with 20 outputs (19 inlier classes + PEBAL abstention class).

    :param align_corners: resize convention (``False``: half-pixel, no lattice).
    :param width: channel multiplier (1: the tests'; 4: the demo bundles', 1.26 M parameters).
    :return: the network.
    """
    return icnet_tiny(num_classes=20, align_corners=align_corners, width=width)
