# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training losses of SynBoost and PEBAL, written from the papers and the official code.

SynBoost (giandbt/synboost, ``image_dissimilarity``): two-class cross-entropy with ignore index
255 and ENet class weights ``w_c = 1 / ln(1.02 + p_c)`` (``util/trainer_util.py``).

PEBAL (tianyu0207/PEBAL, ``code/losses.py``), with the free energy ``E = -logsumexp`` of the 19
inlier logits (T = 1), outlier label 254 and void 255:

* energy hinge: ``mean(relu(E_in - m_in)^2)`` without outlier pixels, otherwise
  ``0.5 (mean(relu(E_in - m_in)^2) + mean(relu(m_out - E_out)^2))``; m_in = -12, m_out = -6;
* sparsity (only with outlier pixels): ``5e-4 * ||E_out||_2``;
* smoothness (always):
  ``3e-6 * 0.5 * (sum (E[i+1, j] - E[i, j])^2 + sum (E[i, j+1] - E[i, j])^2)``;
* PAL / Gambler loss over the 20 channels (19 inlier + abstention ``a``), reward
  ``r = blur(logsumexp(inlier logits)^2)``: ``-mean(log(p_y + a / r))`` over inlier pixels,
  plus for outlier pixels ``-0.1 * mean over pixels and classes of log(max(p_c + a / r, 1e-7))``;
* total: ``L = PAL + 0.1 * (hinge + sparsity + smoothness)``.
"""

from typing import Dict, Optional

from pixel_anomaly_ros import scoring
import torch
from torch.nn import functional as F

IGNORE_INDEX = 255
#: PEBAL's label value of outlier-exposure (pasted) pixels.
OUTLIER_INDEX = 254
M_IN = -12.0
M_OUT = -6.0
SMOOTHNESS_WEIGHT = 3e-6
SPARSITY_WEIGHT = 5e-4
ENERGY_WEIGHT = 0.1
OOD_REGULARISATION = 0.1
ENET_C = 1.02


def synboost_class_weights(label_histogram: torch.Tensor, c: float = ENET_C) -> torch.Tensor:
    """
    Compute ENet/SynBoost class weights ``1 / ln(c + p)`` from a label histogram.

    :param label_histogram: (K,) pixel counts per class (void excluded).
    :param c: the ENet constant (1.02 in SynBoost).
    :return: (K,) float32 weights.
    """
    hist = torch.as_tensor(label_histogram, dtype=torch.float64)
    p = hist / hist.sum().clamp_min(1.0)
    return (1.0 / torch.log(c + p)).to(torch.float32)


def dissimilarity_loss(logits: torch.Tensor, target: torch.Tensor,
                       class_weights: Optional[torch.Tensor] = None,
                       ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """
    Compute SynBoost's weighted cross-entropy of the dissimilarity logits.

    :param logits: (B, 2, H, W) logits.
    :param target: (B, H, W) integer labels, 0 inlier, 1 anomaly, ``ignore_index`` ignored.
    :param class_weights: (2,) class weights (:func:`synboost_class_weights`).
    :param ignore_index: label value that does not count.
    :return: scalar loss (weighted mean, as ``nn.CrossEntropyLoss``).
    """
    weight = None if class_weights is None else class_weights.to(logits)
    return F.cross_entropy(logits, target.long(), weight=weight, ignore_index=ignore_index)


def free_energy(logits: torch.Tensor, num_inlier: int = 19) -> torch.Tensor:
    """
    Compute the free energy ``E = -logsumexp(inlier logits)`` per pixel.

    :param logits: (B, C, H, W) logits, the first ``num_inlier`` channels are the inliers.
    :param num_inlier: number of inlier classes.
    :return: (B, H, W) energy (low for confident inliers).
    """
    return -torch.logsumexp(logits[:, :num_inlier], dim=1)


def energy_hinge_loss(energy: torch.Tensor, target: torch.Tensor, m_in: float = M_IN,
                      m_out: float = M_OUT, outlier_index: int = OUTLIER_INDEX,
                      ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """
    Compute PEBAL's squared energy hinge (inliers below ``m_in``, outliers above ``m_out``).

    :param energy: (B, H, W) free energy.
    :param target: (B, H, W) train ids, ``outlier_index`` for outliers, ``ignore_index`` void.
    :param m_in: inlier margin (-12).
    :param m_out: outlier margin (-6).
    :param outlier_index: label of outlier pixels.
    :param ignore_index: label of void pixels.
    :return: scalar loss; without outlier pixels only the inlier term (not halved).
    """
    inlier = (target != outlier_index) & (target != ignore_index)
    outlier = target == outlier_index
    loss_in = _masked_mean(F.relu(energy - m_in).pow(2), inlier)
    if not bool(outlier.any()):
        return loss_in
    loss_out = F.relu(m_out - energy[outlier]).pow(2).mean()
    return 0.5 * (loss_in + loss_out)


def sparsity_loss(energy: torch.Tensor, target: torch.Tensor,
                  outlier_index: int = OUTLIER_INDEX,
                  weight: float = SPARSITY_WEIGHT) -> torch.Tensor:
    """
    Compute PEBAL's sparsity regulariser ``weight * ||E_out||_2`` on outlier energies.

    :param energy: (B, H, W) free energy.
    :param target: (B, H, W) labels.
    :param outlier_index: label of outlier pixels.
    :param weight: lambda_2 (5e-4).
    :return: scalar loss (0 without outlier pixels).
    """
    outlier = target == outlier_index
    if not bool(outlier.any()):
        return energy.sum() * 0.0
    return weight * torch.linalg.vector_norm(energy[outlier])


def smoothness_loss(energy: torch.Tensor, weight: float = SMOOTHNESS_WEIGHT) -> torch.Tensor:
    """
    Compute PEBAL's smoothness regulariser on the energy map's neighbour differences.

    ``weight * 0.5 * (sum of squared vertical + horizontal differences)``; the official code
    replicates the last row/column, which adds zero differences.

    :param energy: (B, H, W) free energy.
    :param weight: lambda_1 (3e-6).
    :return: scalar loss (a sum over the batch, as in PEBAL).
    """
    dy = energy[:, 1:, :] - energy[:, :-1, :]
    dx = energy[:, :, 1:] - energy[:, :, :-1]
    return weight * 0.5 * (dy.pow(2).sum() + dx.pow(2).sum())


def pal_loss(logits: torch.Tensor, target: torch.Tensor, num_inlier: int = 19,
             outlier_index: int = OUTLIER_INDEX, ignore_index: int = IGNORE_INDEX,
             ood_reg: float = OOD_REGULARISATION, blur: bool = True) -> torch.Tensor:
    """
    Compute PEBAL's pixel-wise abstention (Gambler) loss.

    ``p = softmax`` over all ``num_inlier + 1`` channels, ``a`` the abstention probability,
    reward ``r = blur7x7(logsumexp(inlier logits)^2)``. Inlier pixels (neither void nor
    outlier): ``-mean(log(p_y + a / r))``; outlier pixels add
    ``-ood_reg * mean_{pixels, classes}(log(max(p_c + a / r, 1e-7)))``.

    :param logits: (B, num_inlier + 1, H, W) logits, the last channel is the abstention class.
    :param target: (B, H, W) train ids, ``outlier_index`` outliers, ``ignore_index`` void.
    :param num_inlier: number of inlier classes.
    :param outlier_index: label of outlier pixels.
    :param ignore_index: label of void pixels.
    :param ood_reg: weight of the outlier term (0.1).
    :param blur: smooth the reward with PEBAL's 7x7, sigma 1 Gaussian.
    :return: scalar loss.
    """
    prob = F.softmax(logits, dim=1)
    reward = torch.logsumexp(logits[:, :num_inlier], dim=1, keepdim=True).pow(2)
    if blur:
        reward = scoring.gaussian_blur(reward, scoring.gaussian_kernel(7, 1.0).to(reward))
    abstain = prob[:, num_inlier:num_inlier + 1] / reward  # (B, 1, H, W)
    inlier = (target != outlier_index) & (target != ignore_index)
    safe = torch.where(inlier, target.long(), torch.zeros_like(target.long()))
    p_y = prob[:, :num_inlier].gather(1, safe.unsqueeze(1))
    in_term = _masked_mean(torch.log(p_y + abstain)[:, 0], inlier)
    outlier = target == outlier_index
    if not bool(outlier.any()):
        return -in_term
    out_all = torch.log(torch.clamp(prob[:, :num_inlier] + abstain, min=1e-7))
    out_term = ood_reg * out_all.permute(0, 2, 3, 1)[outlier].mean()
    return -(in_term + out_term)


def pebal_loss(logits: torch.Tensor, target: torch.Tensor, num_inlier: int = 19,
               energy_weight: float = ENERGY_WEIGHT) -> Dict[str, torch.Tensor]:
    """
    Compute PEBAL's full loss ``PAL + 0.1 * (hinge + sparsity + smoothness)``.

    :param logits: (B, num_inlier + 1, H, W) logits at label resolution.
    :param target: (B, H, W) train ids with 254 outliers and 255 void.
    :param num_inlier: number of inlier classes.
    :param energy_weight: weight of the energy terms (0.1).
    :return: ``{'loss', 'pal', 'hinge', 'sparsity', 'smoothness'}`` scalars.
    """
    energy = free_energy(logits, num_inlier)
    parts = {'pal': pal_loss(logits, target, num_inlier),
             'hinge': energy_hinge_loss(energy, target),
             'sparsity': sparsity_loss(energy, target),
             'smoothness': smoothness_loss(energy)}
    parts['loss'] = parts['pal'] + energy_weight * (
        parts['hinge'] + parts['sparsity'] + parts['smoothness'])
    return parts


def inlier_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                         num_inlier: int = 19) -> torch.Tensor:
    """
    Compute the plain cross-entropy over the inlier classes of a PEBAL network.

    Softmax over the first ``num_inlier`` logits only (the abstention logit takes no part),
    outlier (254) and void (255) pixels left out. Not in PEBAL's loss: ``train pebal
    --inlier-ce-weight`` adds it so that a network fine-tuned whole keeps its segmentation.

    :param logits: (B, num_inlier + 1, H, W) logits at label resolution.
    :param target: (B, H, W) train ids with 254 outliers and 255 void.
    :param num_inlier: number of inlier classes.
    :return: scalar loss (0 without inlier pixels).
    """
    inlier = (target != OUTLIER_INDEX) & (target != IGNORE_INDEX)
    per_pixel = F.cross_entropy(logits[:, :num_inlier], torch.where(inlier, target, 0).long(),
                                reduction='none')
    return _masked_mean(per_pixel, inlier)


def uniform_outlier_loss(logits: torch.Tensor, target: torch.Tensor,
                         outlier_index: int = OUTLIER_INDEX) -> torch.Tensor:
    """
    Compute the outlier-exposure loss of entropy maximisation on pasted pixels.

    Cross-entropy against the uniform distribution over the classes,
    ``-mean_c log softmax(logits)_c``, averaged over the outlier pixels (Chan et al., "Entropy
    Maximization and Meta Classification for Out-of-Distribution Detection in Semantic
    Segmentation", ICCV 2021): its minimum, ``ln C``, is reached where the prediction is
    uniform, so the segmentation's entropy becomes high on objects it has never seen.

    :param logits: (B, C, H, W) logits at label resolution.
    :param target: (B, H, W) train ids, ``outlier_index`` for pasted pixels.
    :param outlier_index: label of outlier pixels.
    :return: scalar loss (0 without outlier pixels).
    """
    return _masked_mean(-F.log_softmax(logits, dim=1).mean(dim=1), target == outlier_index)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if not bool(mask.any()):
        return values.sum() * 0.0
    return values[mask].mean()
