# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SynBoost dissimilarity network (Di Biase et al., CVPR 2021).

Re-implementation of the shipped "ours" model, ``DissimNetPrior(architecture='vgg16',
semantic=True, pretrained=True, correlation=True, prior=True, spade='decoder',
num_semantic_classes=19)`` from giandbt/synboost
(``image_dissimilarity/models/dissimilarity_model.py``). Module names are chosen so that the
official checkpoint loads with ``load_state_dict(..., strict=True)``:

* ``vgg_encoder.layer{1..4}``: four VGG16 (no BN) slices, indices restarting at 0 per slice;
  shared by the original and the synthesised image; outputs are post-ReLU;
* ``semantic_encoder`` / ``prior_encoder``: ``hidden_layers.{i}.0`` conv + ReLU pyramids
  (base widths 32 and 64);
* ``conv10/conv9/conv8/conv7``: 1x1 fusion convolutions (scale 1, 1/2, 1/4, 1/8);
* decoder ``conv1, conv2, tconv1, conv12, conv13, tconv3, conv3, conv4, tconv2, conv5, conv6,
  conv11`` (note: ``tconv3`` is the second up-sampling), where ``conv2/13/4/6`` are SPADE
  decoder layers (``norm1``, ``conv``, ``norm2``; SPADE parts ``shared.0``, ``gamma``, ``beta``).

The official up-sampling layers are 2x2 stride-2 transposed convolutions: each output pixel of a
2x2 block has its own kernel tap, so three of them in a row stamp a lattice of period 8 pixels
(at the dissimilarity scale) on P(anomaly) unless training equalises the taps. It dominates
``demo_light``'s score (issue 15: 4.5x the mean score on one pixel of every 4x4 block).
``upsampling='resize'`` replaces each by a half-pixel bilinear 2x resize and a 3x3 convolution
(:class:`ResizeConv`, keys ``tconv*.conv.*``): no phase-dependent weights, so no lattice. It is
for networks trained here; official checkpoints need ``'transposed'``.
"""

from typing import List, Sequence

from pixel_anomaly_ros.networks.spade import resize_nearest_floor
import torch
from torch import nn
import torch.nn.functional as F


def pointwise_correlation(feat_a: torch.Tensor, feat_b: torch.Tensor) -> torch.Tensor:
    """
    Compute SynBoost's point-wise correlation channel.

    :param feat_a: (B, C, h, w) features of the original image.
    :param feat_b: (B, C, h, w) features of the synthesised image.
    :return: (B, 1, h, w) channel sum of the element-wise product (un-normalised).
    """
    return torch.sum(feat_a * feat_b, dim=1, keepdim=True)


class VGGFeatures(nn.Module):
    """VGG16 (no BN) feature slices ``layer1..layer4`` returning post-ReLU features."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512),
                 depths: Sequence[int] = (2, 2, 3, 3), in_channels: int = 3) -> None:
        """
        Build the four slices (every slice but the first starts with a 2x2 max-pool).

        :param widths: output channels of each slice (VGG16: 64, 128, 256, 512).
        :param depths: number of 3x3 convolutions per slice (VGG16: 2, 2, 3, 3).
        :param in_channels: input image channels.
        """
        super().__init__()
        if len(widths) != 4 or len(depths) != 4:
            raise ValueError('VGGFeatures needs exactly four slices')
        channels = in_channels
        for idx, (width, depth) in enumerate(zip(widths, depths)):
            layers: List[nn.Module] = []
            if idx > 0:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            for _ in range(depth):
                layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
                layers.append(nn.ReLU(inplace=True))
                channels = width
            self.add_module('layer%d' % (idx + 1), nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """
        Encode an image.

        :param x: (B, 3, H, W) ImageNet-normalised image.
        :return: features at scales 1, 1/2, 1/4 and 1/8.
        """
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return [x1, x2, x3, x4]


class SemanticEncoder(nn.Module):
    """Conv + ReLU pyramid (7x7 stride 1, then 3x3 stride 2 doubling the width)."""

    def __init__(self, in_channels: int = 19, base_width: int = 32,
                 num_layers: int = 4) -> None:
        """
        Build the encoder (used both for the semantic map and for the uncertainty prior).

        :param in_channels: input channels (19 for the one-hot map, 3 for the priors).
        :param base_width: width of the first layer; each next layer doubles it.
        :param num_layers: number of layers / output scales.
        """
        super().__init__()
        self.hidden_layers = nn.ModuleList()
        channels = in_channels
        for idx in range(num_layers):
            if idx == 0:
                width = base_width
                conv = nn.Conv2d(channels, width, kernel_size=7, padding=3, stride=1)
            else:
                width = channels * 2
                conv = nn.Conv2d(channels, width, kernel_size=3, padding=1, stride=2)
            self.hidden_layers.append(nn.Sequential(conv, nn.ReLU(inplace=True)))
            channels = width
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """
        Encode a map.

        :param x: (B, C_in, H, W) input.
        :return: the output of every layer (scales 1, 1/2, 1/4, ...).
        """
        outputs = []
        for layer in self.hidden_layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class SPADEInstanceNorm(nn.Module):
    """SPADE with parameter-free instance norm (no affine, eps 1e-5) and 3x3 convolutions."""

    def __init__(self, norm_nc: int, label_nc: int = 19, hidden: int = 128) -> None:
        """
        Build the layer.

        :param norm_nc: channels of the normalised activations.
        :param label_nc: channels of the semantic map.
        :param hidden: width of the shared embedding (128 in SynBoost).
        """
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(norm_nc, affine=False)
        self.shared = nn.Sequential(
            nn.Conv2d(label_nc, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)
        self.beta = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        """
        Normalise ``x`` and modulate it with the semantic map.

        :param x: (B, C, h, w) features.
        :param segmap: (B, label_nc, H, W) one-hot map; resized (nearest) to (h, w), a view
            of it when H, W are whole multiples (itself when equal).
        :return: (B, C, h, w) modulated features.
        """
        normalized = self.param_free_norm(x)
        segmap = resize_nearest_floor(segmap, x.shape[2:])
        actv = self.shared(segmap)
        return normalized * (1 + self.gamma(actv)) + self.beta(actv)


class SPADEDecoderLayer(nn.Module):
    """SPADE -> SELU -> conv3x3 -> SPADE -> SELU."""

    def __init__(self, nc: int, label_nc: int = 19, hidden: int = 128) -> None:
        """
        Build the layer.

        :param nc: feature channels (input = output).
        :param label_nc: channels of the semantic map.
        :param hidden: SPADE hidden width.
        """
        super().__init__()
        self.norm1 = SPADEInstanceNorm(nc, label_nc, hidden)
        self.selu1 = nn.SELU()
        self.conv = nn.Conv2d(nc, nc, kernel_size=3, padding=1)
        self.norm2 = SPADEInstanceNorm(nc, label_nc, hidden)
        self.selu2 = nn.SELU()

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        """
        Apply the layer.

        :param x: (B, nc, h, w) features.
        :param segmap: (B, label_nc, H, W) one-hot semantic map.
        :return: (B, nc, h, w) features.
        """
        x = self.selu1(self.norm1(x, segmap))
        return self.selu2(self.norm2(self.conv(x), segmap))


class ResizeConv(nn.Module):
    """Bilinear 2x up-sampling (half-pixel centres) followed by a 3x3 convolution."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        """
        Create the layer.

        :param in_ch: input channels.
        :param out_ch: output channels.
        """
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Up-sample.

        :param x: (B, in_ch, h, w) features.
        :return: (B, out_ch, 2h, 2w) features.
        """
        x = F.interpolate(x, scale_factor=2.0, mode='bilinear', align_corners=False)
        return self.conv(x)


#: Up-sampling layers of the decoder: name -> constructor(in_ch, out_ch).
UPSAMPLING = {
    'transposed': lambda i, o: nn.ConvTranspose2d(i, o, kernel_size=2, stride=2, padding=0),
    'resize': ResizeConv,
}


def _conv3_selu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1), nn.SELU())


class DissimNetPrior(nn.Module):
    """SynBoost dissimilarity network with uncertainty priors, correlation and SPADE decoder."""

    def __init__(self, num_semantic_classes: int = 19,
                 vgg_widths: Sequence[int] = (64, 128, 256, 512),
                 vgg_depths: Sequence[int] = (2, 2, 3, 3),
                 semantic_base_width: int = 32,
                 prior_base_width: int = 64,
                 spade_hidden: int = 128,
                 decoder_widths: Sequence[int] = (256, 256, 128, 64),
                 num_outputs: int = 2,
                 upsampling: str = 'transposed') -> None:
        """
        Build the network (defaults = official layout).

        :param num_semantic_classes: channels of the one-hot semantic map.
        :param vgg_widths: VGG slice widths at scales 1, 1/2, 1/4, 1/8.
        :param vgg_depths: 3x3 convolutions per VGG slice.
        :param semantic_base_width: first width of the semantic encoder (doubles per scale).
        :param prior_base_width: first width of the prior encoder (doubles per scale); it also
            sets the widths of the 1x1 fusion convolutions, which are gated by the prior.
        :param spade_hidden: hidden width of every SPADE block.
        :param decoder_widths: outputs of conv1 (1/8), conv12 (1/4), conv3 (1/2), conv5 (1).
        :param num_outputs: output logits (2: inlier, anomaly).
        :param upsampling: decoder up-sampling, a key of :data:`UPSAMPLING`: ``'transposed'``
            (official, 2x2 stride-2 transposed convolutions) or ``'resize'`` (bilinear resize +
            3x3 convolution, no lattice artefact).
        """
        super().__init__()
        if len(decoder_widths) != 4:
            raise ValueError('decoder_widths needs four entries')
        if upsampling not in UPSAMPLING:
            raise ValueError(f'unknown upsampling {upsampling!r}; choose one of '
                             f'{sorted(UPSAMPLING)}')
        up = UPSAMPLING[upsampling]
        nsc = num_semantic_classes
        sem_w = [semantic_base_width * 2 ** i for i in range(4)]
        fuse_w = [prior_base_width * 2 ** i for i in range(4)]
        d0, d1, d2, d3 = decoder_widths

        self.vgg_encoder = VGGFeatures(vgg_widths, vgg_depths)
        self.semantic_encoder = SemanticEncoder(nsc, semantic_base_width, 4)
        self.prior_encoder = SemanticEncoder(3, prior_base_width, 4)

        # 3x3 decoder convolutions (+1 input channel: correlation)
        self.conv1 = _conv3_selu(fuse_w[3] + 1, d0)
        self.conv12 = _conv3_selu(d0 + fuse_w[2] + 1, d1)
        self.conv3 = _conv3_selu(d1 + fuse_w[1] + 1, d2)
        self.conv5 = _conv3_selu(d2 + fuse_w[0] + 1, d3)

        self.conv2 = SPADEDecoderLayer(d0, nsc, spade_hidden)
        self.conv13 = SPADEDecoderLayer(d1, nsc, spade_hidden)
        self.conv4 = SPADEDecoderLayer(d2, nsc, spade_hidden)
        self.conv6 = SPADEDecoderLayer(d3, nsc, spade_hidden)

        # up-sampling: tconv1 (1/8 -> 1/4), tconv3 (1/4 -> 1/2), tconv2 (1/2 -> 1)
        self.tconv1 = up(d0, d0)
        self.tconv3 = up(d1, d1)
        self.tconv2 = up(d2, d2)

        # 1x1 fusion convolutions of [og, syn, sem] per scale, and the classifier
        cat_w = [2 * v + s for v, s in zip(vgg_widths, sem_w)]
        self.conv7 = nn.Conv2d(cat_w[3], fuse_w[3], kernel_size=1)
        self.conv8 = nn.Conv2d(cat_w[2], fuse_w[2], kernel_size=1)
        self.conv9 = nn.Conv2d(cat_w[1], fuse_w[1], kernel_size=1)
        self.conv10 = nn.Conv2d(cat_w[0], fuse_w[0], kernel_size=1)
        self.conv11 = nn.Conv2d(d3, num_outputs, kernel_size=1)

    def encode(self, original: torch.Tensor, synthesis: torch.Tensor, semantic: torch.Tensor,
               prior: torch.Tensor) -> List[torch.Tensor]:
        """
        Compute the four skip tensors ``[corr_s, gated_s]`` (scales 1, 1/2, 1/4, 1/8).

        :param original: (B, 3, H, W) ImageNet-normalised image.
        :param synthesis: (B, 3, H, W) ImageNet-normalised re-synthesis.
        :param semantic: (B, num_semantic_classes, H, W) one-hot map.
        :param prior: (B, 3, H, W) concat of entropy, perceptual difference and distance.
        :return: list of (B, 1 + fusion width, H / 2**s, W / 2**s) tensors.
        """
        enc_og = self.vgg_encoder(original)
        enc_syn = self.vgg_encoder(synthesis)
        enc_sem = self.semantic_encoder(semantic)
        enc_prior = self.prior_encoder(prior)
        fusers = (self.conv10, self.conv9, self.conv8, self.conv7)
        skips = []
        for s in range(4):
            fused = fusers[s](torch.cat((enc_og[s], enc_syn[s], enc_sem[s]), dim=1))
            fused = fused * enc_prior[s]
            corr = pointwise_correlation(enc_og[s], enc_syn[s])
            skips.append(torch.cat((corr, fused), dim=1))
        return skips

    def forward(self, original: torch.Tensor, synthesis: torch.Tensor, semantic: torch.Tensor,
                entropy: torch.Tensor, perceptual: torch.Tensor,
                distance: torch.Tensor) -> torch.Tensor:
        """
        Predict dissimilarity logits.

        :param original: (B, 3, H, W) ImageNet-normalised image; H, W divisible by 8.
        :param synthesis: (B, 3, H, W) ImageNet-normalised re-synthesised image.
        :param semantic: (B, num_semantic_classes, H, W) one-hot float map (ignore = all zero).
        :param entropy: (B, 1, H, W) softmax entropy in [0, 1].
        :param perceptual: (B, 1, H, W) VGG perceptual difference in [0, 1].
        :param distance: (B, 1, H, W) softmax distance in [0, 1].
        :return: (B, 2, H, W) logits; P(anomaly) = softmax over dim 1, channel 1.
        """
        prior = torch.cat((entropy, perceptual, distance), dim=1)
        skip1, skip2, skip3, skip4 = self.encode(original, synthesis, semantic, prior)

        x = self.conv2(self.conv1(skip4), semantic)
        x = self.tconv1(x)
        x = self.conv13(self.conv12(torch.cat((x, skip3), dim=1)), semantic)
        x = self.tconv3(x)
        x = self.conv4(self.conv3(torch.cat((x, skip2), dim=1)), semantic)
        x = self.tconv2(x)
        x = self.conv6(self.conv5(torch.cat((x, skip1), dim=1)), semantic)
        return self.conv11(x)


def dissim_prior(num_semantic_classes: int = 19) -> DissimNetPrior:
    """
    Build the full-size SynBoost ``DissimNetPrior`` (official state_dict layout).

    :param num_semantic_classes: channels of the one-hot semantic map.
    :return: the network.
    """
    return DissimNetPrior(num_semantic_classes=num_semantic_classes)


def dissim_prior_tiny(num_semantic_classes: int = 19,
                      upsampling: str = 'transposed', width: int = 1) -> DissimNetPrior:
    """
    Build a small ``DissimNetPrior`` with the same key names (tests, demo bundles).

    :param num_semantic_classes: channels of the one-hot semantic map.
    :param upsampling: decoder up-sampling (see :class:`DissimNetPrior`).
    :param width: channel multiplier (1: 50 k parameters, the tests'; 4: 0.62 M, the demo's).
    :return: the network.
    """
    k = int(width)
    return DissimNetPrior(num_semantic_classes=num_semantic_classes,
                          vgg_widths=(4 * k, 8 * k, 8 * k, 16 * k), semantic_base_width=2 * k,
                          prior_base_width=4 * k, spade_hidden=8 * k,
                          decoder_widths=(8 * k, 8 * k, 8 * k, 4 * k), upsampling=upsampling)
