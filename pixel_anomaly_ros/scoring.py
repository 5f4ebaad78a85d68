# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Anomaly scoring functions with the official SynBoost and PEBAL conventions.

Every function is pure torch, works on batches, keeps the channel dimension
((B, 1, H, W) maps) and exports to ONNX. Higher scores always mean "more anomalous".
"""

import math
from typing import Sequence, Tuple

import torch
from torch.nn import functional as F

#: Cityscapes label id of each of the 19 train ids (cityscapesScripts ``labels.py``).
TRAIN_ID_TO_LABEL_ID = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
NUM_CITYSCAPES_CLASSES = 19
IGNORE_ID = 255


def _per_image_min(x: torch.Tensor) -> torch.Tensor:
    return x.amin(dim=(1, 2, 3), keepdim=True)


#: Smallest denominator of the per-image normalisations: 2**-14, the smallest normal half-precision
#: number, so that it survives fp16 (TensorRT fp16 layers, CUDA autocast). 1e-12 rounded to 0 in
#: fp16 and turned a flat map into 0 / 0 = NaN; real maps span far more than 6e-5.
NORMALISE_EPS = 2.0 ** -14


def _per_image_max(x: torch.Tensor) -> torch.Tensor:
    return x.amax(dim=(1, 2, 3), keepdim=True)


def normalise_like_synboost(x: torch.Tensor) -> torch.Tensor:
    """
    Normalise a map per image as SynBoost's inference code does: ``(x - min) / max``.

    The official code divides by the maximum, not by ``max - min``; this is kept for parity.

    :param x: (B, 1, H, W) non-negative map.
    :return: (B, 1, H, W) map, 0 at the minimum.
    """
    return (x - _per_image_min(x)) / _per_image_max(x).clamp_min(NORMALISE_EPS)


def min_max_normalise(x: torch.Tensor) -> torch.Tensor:
    """
    Normalise a map per image to [0, 1] with ``(x - min) / (max - min)``.

    :param x: (B, 1, H, W) map.
    :return: (B, 1, H, W) map in [0, 1].
    """
    low = _per_image_min(x)
    return (x - low) / (_per_image_max(x) - low).clamp_min(NORMALISE_EPS)


def _shifted_exp(logits: torch.Tensor):
    """
    Return ``logits - max``, its exponential and the per-pixel sum of the exponential.

    Softmax quantities are built from these channel reductions and element-wise ops rather
    than ``softmax``/``log_softmax``/``topk`` over dim 1: the same values, but ONNX Runtime
    runs softmax over a non-last axis about 15x slower on full-resolution maps.
    """
    shifted = logits - logits.amax(dim=1, keepdim=True)
    exp = shifted.exp()
    return shifted, exp, exp.sum(dim=1, keepdim=True)


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """
    Shannon entropy of the softmax over classes, in nats.

    Uses ``H = log S - sum(e * z) / S`` with ``z = logits - max``, ``e = exp(z)``, ``S = sum e``.

    :param logits: (B, C, H, W) class logits.
    :return: (B, 1, H, W) entropy in [0, ln C].
    """
    shifted, exp, total = _shifted_exp(logits)
    return total.log() - (exp * shifted).sum(dim=1, keepdim=True) / total


def uncertainty_maps(logits: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Compute the arg-max and SynBoost's two uncertainty maps from one softmax pass.

    The entropy is normalised like the official code; the softmax distance is
    ``1 - normalise(p1 - p2)`` of the top two classes (high where they are close).

    :param logits: (B, C, H, W) class logits.
    :return: arg-max (B, 1, H, W) int64, entropy and distance (B, 1, H, W) in [0, 1].
    """
    shifted, exp, total = _shifted_exp(logits)
    entropy = total.log() - (exp * shifted).sum(dim=1, keepdim=True) / total
    winner = logits.argmax(dim=1, keepdim=True)
    channels = torch.arange(logits.shape[1], device=logits.device).view(1, -1, 1, 1)
    runner_up = shifted.masked_fill(channels == winner, float('-inf'))
    # p1 - p2 = (exp(0) - exp(z2)) / S; a tie gives exactly 0, as topk does.
    margin = (1.0 - runner_up.amax(dim=1, keepdim=True).exp()) / total
    return winner, normalise_like_synboost(entropy), 1.0 - normalise_like_synboost(margin)


def entropy_map(logits: torch.Tensor) -> torch.Tensor:
    """
    Compute SynBoost's uncertainty map, the entropy normalised like the official code.

    :param logits: (B, C, H, W) class logits.
    :return: (B, 1, H, W) map in [0, 1].
    """
    return normalise_like_synboost(softmax_entropy(logits))


def distance_map(logits: torch.Tensor) -> torch.Tensor:
    """
    Compute SynBoost's softmax distance, ``1 - normalise(p1 - p2)`` of the top two classes.

    :param logits: (B, C, H, W) class logits.
    :return: (B, 1, H, W) map in [0, 1]; high where the top two classes are close.
    """
    return uncertainty_maps(logits)[2]


def free_energy(logits: torch.Tensor, num_inlier: int = NUM_CITYSCAPES_CLASSES) -> torch.Tensor:
    """
    Free energy ``-logsumexp`` over the inlier logits (temperature 1), PEBAL's anomaly score.

    Extra channels beyond ``num_inlier`` (PEBAL's abstention class) are ignored.

    :param logits: (B, C, H, W) logits with C >= num_inlier.
    :param num_inlier: number of inlier classes.
    :return: (B, 1, H, W) energy; higher means more anomalous.
    """
    return -torch.logsumexp(logits[:, :num_inlier], dim=1, keepdim=True)


def gaussian_kernel(size: int = 7, sigma: float = 1.0) -> torch.Tensor:
    """
    Return the normalised 2-D Gaussian kernel torchvision's ``GaussianBlur`` uses.

    :param size: odd kernel size.
    :param sigma: standard deviation in pixels.
    :return: (1, 1, size, size) float32 kernel summing to 1.
    """
    half = (size - 1) / 2
    x = torch.linspace(-half, half, size)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g)[None, None]


def gaussian_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """
    Blur single-channel maps with reflect padding (PEBAL's 7x7, sigma 1 smoothing).

    :param x: (B, 1, H, W) map.
    :param kernel: (1, 1, k, k) kernel from :func:`gaussian_kernel`.
    :return: (B, 1, H, W) blurred map.
    """
    pad = kernel.shape[-1] // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode='reflect'), kernel.to(x.dtype))


def max_logit_score(logits: torch.Tensor, num_inlier: int = NUM_CITYSCAPES_CLASSES
                    ) -> torch.Tensor:
    """
    Max-logit baseline: the negated largest inlier logit.

    :param logits: (B, C, H, W) logits.
    :param num_inlier: number of inlier classes.
    :return: (B, 1, H, W) score; higher means more anomalous.
    """
    return -logits[:, :num_inlier].amax(dim=1, keepdim=True)


def max_softmax_score(logits: torch.Tensor, num_inlier: int = NUM_CITYSCAPES_CLASSES
                      ) -> torch.Tensor:
    """
    Maximum-softmax-probability baseline: ``1 - max_c p_c`` over the inlier classes.

    :param logits: (B, C, H, W) logits.
    :param num_inlier: number of inlier classes.
    :return: (B, 1, H, W) score in [0, 1); higher means more anomalous.
    """
    return 1.0 - 1.0 / _shifted_exp(logits[:, :num_inlier])[2]


def normalised_entropy_score(logits: torch.Tensor,
                             num_inlier: int = NUM_CITYSCAPES_CLASSES) -> torch.Tensor:
    """
    Entropy baseline, divided by ``ln C`` so that it lies in [0, 1] for every image.

    :param logits: (B, C, H, W) logits.
    :param num_inlier: number of inlier classes.
    :return: (B, 1, H, W) score in [0, 1].
    """
    return softmax_entropy(logits[:, :num_inlier]) / math.log(num_inlier)


def train_ids(logits: torch.Tensor, num_inlier: int = NUM_CITYSCAPES_CLASSES) -> torch.Tensor:
    """
    Arg-max over the inlier classes as a uint8 train-id map.

    :param logits: (B, C, H, W) logits.
    :param num_inlier: number of inlier classes.
    :return: (B, 1, H, W) uint8 train ids.
    """
    return ids_as_uint8(logits[:, :num_inlier].argmax(dim=1, keepdim=True))


def ids_as_uint8(ids: torch.Tensor) -> torch.Tensor:
    """
    Cast an integer id map to uint8 through float32.

    TensorRT casts to and from uint8 only from floating point types, so the exported graphs
    must never cast int64 (arg-max) to uint8 directly; ids below 256 are exact in float32.

    :param ids: (B, 1, H, W) integer ids in 0..255.
    :return: (B, 1, H, W) uint8 ids.
    """
    return ids.to(torch.float32).to(torch.uint8)


def one_hot_train_ids(ids: torch.Tensor, num_classes: int = NUM_CITYSCAPES_CLASSES
                      ) -> torch.Tensor:
    """
    One-hot encode a train-id map; ignore ids (>= num_classes, e.g. 255) give all-zero pixels.

    :param ids: (B, 1, H, W) integer train ids.
    :param num_classes: number of classes.
    :return: (B, num_classes, H, W) float32.
    """
    classes = torch.arange(num_classes, device=ids.device).view(1, -1, 1, 1)
    return (ids.to(torch.int64) == classes).to(torch.float32)


def train_ids_to_label_ids(ids: torch.Tensor) -> torch.Tensor:
    """
    Map train ids to Cityscapes label ids (255 and other unknown ids map to 0, "unlabeled").

    :param ids: (B, 1, H, W) integer train ids.
    :return: (B, 1, H, W) int64 label ids.
    """
    lut = torch.zeros(256, dtype=torch.int64, device=ids.device)
    lut[:len(TRAIN_ID_TO_LABEL_ID)] = torch.tensor(TRAIN_ID_TO_LABEL_ID, device=ids.device)
    return lut[ids.to(torch.int64)]


def ensemble(maps: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """
    Weighted sum of anomaly maps (SynBoost's ensemble; official weights 0.75, 0.25, 0, 0).

    :param maps: N maps of shape (B, 1, H, W): P(anomaly), entropy, perceptual, distance.
    :param weights: (N,) weights, a tensor so that they can change at run time.
    :return: (B, 1, H, W) ensemble score.
    """
    stacked = torch.cat(list(maps), dim=1)
    return (stacked * weights.to(stacked.dtype).view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
