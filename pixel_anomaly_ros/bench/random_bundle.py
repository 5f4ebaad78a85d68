# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bundles of an architecture preset with random weights whose scores are not saturated.

``bench --preset`` and the tests run such bundles. Random networks give raw scores far from a
preset's trained calibration (a random PEBAL's free energy is about ``-log(19)`` everywhere,
outside the trained ``[-12, -6]`` range), so with the preset's range every calibrated score
would be 1.0 and comparisons between backends or precisions would compare constants. Here the
weights are scaled so that activations keep unit variance through the networks, and the score
range and threshold are measured on the bundle's own raw scores.
"""

from typing import Callable, Iterable, List, Sequence, Tuple

import cv2
import numpy as np
from pixel_anomaly_ros.bundle import Bundle, BundleSpec
from pixel_anomaly_ros.bundle_writer import write_bundle
from pixel_anomaly_ros.pipelines import PIPELINES
from pixel_anomaly_ros.presets import preset_spec
from pixel_anomaly_ros.runtime.torch_executor import TorchExecutor
from pixel_anomaly_ros.stages.graphs import build_networks, build_stage_graphs
import torch
from torch import nn

#: Raw-score percentiles (over every pixel of the calibration images) mapped to 0 and 1.
SCORE_PERCENTILES = (1.0, 99.0)
#: Raw-score percentile the threshold is set at: the median, so that masks hold both values.
THRESHOLD_PERCENTILE = 50.0
#: Spec attributes that a caller's ``spec_changes`` keep instead of the measured values.
CALIBRATED = ('score_lo', 'score_hi', 'threshold')


def write_random_bundle(preset: str, out_dir, seed: int = 0, *, calibration_images: int = 2,
                        overwrite: bool = False, **spec_changes) -> Bundle:
    """
    Write a bundle of a preset architecture with random weights and a measured score range.

    The networks are built with their default initialisation, every BatchNorm gets random
    running statistics and affine parameters (so strict loading is exercised on values that
    differ from the defaults), and the weights are rescaled so that each layer's output has
    unit variance on a random image (LSUV-style, one pass). The torch pipeline then runs on
    seeded random images: ``score_lo``/``score_hi`` become the raw score's
    :data:`SCORE_PERCENTILES` and the threshold the calibrated value of its
    :data:`THRESHOLD_PERCENTILE`.

    :param preset: architecture preset name, e.g. ``light_tiny`` (see
        :data:`pixel_anomaly_ros.presets.PRESETS`).
    :param out_dir: bundle directory to create.
    :param seed: seed of the weights and of the calibration images.
    :param calibration_images: number of random images the score range is measured on (half
        pixel noise, half smooth colour fields); each costs one pipeline run.
    :param overwrite: replace an existing directory.
    :param spec_changes: attributes of the spec to override (e.g. ``input_size=(64, 128)``);
        applied before the measurement. ``score_lo``, ``score_hi`` and ``threshold`` given
        here are kept instead of the measured values.
    :return: the written bundle.
    :raises ValueError: for an unknown preset or spec attribute, or fewer than one image.
    :raises RuntimeError: if the random network's raw score is constant.
    """
    if calibration_images < 1:
        raise ValueError(f'calibration_images must be at least 1, got {calibration_images}')
    spec = preset_spec(preset)
    for key, value in spec_changes.items():
        if key not in BundleSpec.__dataclass_fields__:
            raise ValueError(f'{key!r} is not a bundle spec attribute; use one of '
                             f'{sorted(BundleSpec.__dataclass_fields__)}')
        setattr(spec, key, value)
    spec.validate()
    images = random_images(tuple(spec.input_size), calibration_images + 1, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        networks = build_networks(spec, None)
        for network in networks.values():
            randomise_batchnorm(network)
    pipeline = PIPELINES[spec.variant](spec, TorchExecutor(build_stage_graphs(spec, networks)))
    scale_to_unit_variance(networks.values(), lambda: pipeline(images[0]))
    raw = np.concatenate([pipeline(image, return_maps=True).maps['raw_score'].ravel()
                          for image in images[1:]])
    measured = score_range(raw)
    for key, value in zip(CALIBRATED, measured):
        if key not in spec_changes:
            setattr(spec, key, value)
    spec.provenance = {
        'source': f'random weights (pixel_anomaly_ros.bench.random_bundle, preset {preset}, '
                  f'seed {seed}); not a trained model',
        'score_range': f'raw score percentiles {SCORE_PERCENTILES[0]:g} / '
                       f'{SCORE_PERCENTILES[1]:g}, threshold at percentile '
                       f'{THRESHOLD_PERCENTILE:g}, of {calibration_images} random images'}
    return write_bundle(spec, {c: n.state_dict() for c, n in networks.items()}, out_dir,
                        overwrite=overwrite)


def score_range(raw: np.ndarray) -> Tuple[float, float, float]:
    """
    Measure the calibration of a raw score: its range and an operating threshold.

    :param raw: raw scores (any shape).
    :return: ``(score_lo, score_hi, threshold)``: the :data:`SCORE_PERCENTILES` of ``raw``
        and the calibrated value of its :data:`THRESHOLD_PERCENTILE`.
    :raises RuntimeError: if the percentiles coincide (a constant score cannot be calibrated).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if not np.isfinite(raw).all():
        raise RuntimeError('the random network gives non-finite raw scores')
    lo, hi, at = np.percentile(raw, [*SCORE_PERCENTILES, THRESHOLD_PERCENTILE])
    if not hi > lo:
        raise RuntimeError(f'the random network gives a constant raw score ({lo:g}); its '
                           f'score range cannot be calibrated')
    return float(lo), float(hi), float(np.clip((at - lo) / (hi - lo), 0.0, 1.0))


def random_images(size: Sequence[int], count: int, seed: int = 0) -> List[np.ndarray]:
    """
    Return seeded random RGB images: pixel noise and smooth colour fields, alternating.

    :param size: (height, width).
    :param count: number of images.
    :param seed: numpy seed.
    :return: ``count`` (H, W, 3) uint8 images.
    """
    h, w = size
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        if i % 2 == 0:
            images.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        else:
            coarse = rng.integers(0, 256, (max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
            images.append(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR))
    return images


def randomise_batchnorm(network: nn.Module) -> None:
    """
    Give every BatchNorm random running statistics and affine parameters, in place.

    :param network: the network (torch's global generator draws the values).
    """
    with torch.no_grad():
        for m in network.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                if m.affine:
                    m.weight.uniform_(0.8, 1.2)
                    m.bias.uniform_(-0.1, 0.1)


def scale_to_unit_variance(networks: Iterable[nn.Module], run: Callable[[], object]) -> None:
    """
    Rescale every convolution and linear layer so that its output has unit variance.

    While ``run`` executes, the first output of each layer is divided by its standard
    deviation, and so are the layer's weight and bias, in data-flow order, so that the next
    layers already see the rescaled input (one-pass layer-sequential unit-variance
    initialisation, after Mishkin and Matas, "All you need is a good init", ICLR 2016).
    A layer called again (shared weights) keeps its first scale.

    :param networks: the networks whose layers are rescaled in place.
    :param run: runs the networks once (e.g. a pipeline on a random image).
    """
    layers = [m for network in networks for m in network.modules()
              if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
              and isinstance(getattr(m, 'weight', None), nn.Parameter)]
    done = set()

    def rescale(module: nn.Module, args, output: torch.Tensor):
        if module in done:
            return None
        done.add(module)
        std = float(output.detach().float().std())
        if not np.isfinite(std) or std < 1e-12:
            return None
        with torch.no_grad():
            module.weight.div_(std)
            if module.bias is not None:
                module.bias.div_(std)
        return output / std

    handles = [m.register_forward_hook(rescale) for m in layers]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
