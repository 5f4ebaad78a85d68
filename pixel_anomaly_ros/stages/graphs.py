# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Stage graphs: the ``nn.Module`` of each pipeline stage, exactly as it is exported to ONNX.

The cut follows DESIGN §3. Images enter as float32 RGB in 0..255, (1, 3, H, W); input
normalisation, uncertainty maps, one-hot and edge maps, the perceptual difference, the energy,
the Gaussian blur and the ensemble all happen inside the graphs so that every backend (torch,
ONNX Runtime, TensorRT) computes the same thing from the same inputs.
"""

from typing import Dict, Sequence, Tuple

from pixel_anomaly_ros import scoring
from pixel_anomaly_ros.bundle import BundleError, BundleSpec, IMAGENET_MEAN, IMAGENET_STD
from pixel_anomaly_ros.coarse_resize import COARSE_RESIZES
from pixel_anomaly_ros.networks import create_network
from pixel_anomaly_ros.networks.spade import label_map_to_spade_input
import torch
from torch import nn
from torch.nn import functional as F


class InputNormaliser(nn.Module):
    """RGB 0..255 image -> the network's channel order and normalisation (constants as buffers)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], bgr: bool):
        """
        Set the normalisation.

        :param mean: per-channel mean in 0..255 units, in the network's channel order.
        :param std: per-channel standard deviation in 0..255 units.
        :param bgr: reverse the channels (the network expects BGR).
        """
        super().__init__()
        self.bgr = bgr
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """
        Normalise.

        :param image: (B, 3, H, W) float RGB in 0..255.
        :return: (B, 3, H, W) normalised network input.
        """
        if self.bgr:
            image = image.flip(1)
        return (image - self.mean) / self.std


def imagenet_normaliser() -> InputNormaliser:
    """
    Normalise RGB 0..255 with ImageNet statistics, as SynBoost does for both dissimilarity images.

    :return: the normaliser (the VGG perceptual network and the dissimilarity encoder expect it).
    """
    return InputNormaliser(IMAGENET_MEAN, IMAGENET_STD, bgr=False)


def resize_nearest_exact(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """
    Resize with nearest-neighbour sampling at pixel centres (PIL's NEAREST, the official code's).

    The numpy side uses the same convention (:func:`pixel_anomaly_ros.resizing.resize_nearest`).

    A reduction by whole factors is a strided slice: output pixel ``i`` samples input pixel
    ``floor((i + 0.5) * s) = i * s + s // 2``. It is the same result as the interpolation, and
    exports as one ONNX Slice instead of two int64 index grids of the output's size per call.

    :param x: (B, C, H, W) tensor.
    :param size: (height, width).
    :return: the resized tensor (``x`` itself when the size already matches).
    """
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return x
    if height % size[0] == 0 and width % size[1] == 0:
        step_y, step_x = height // size[0], width // size[1]
        return x[..., step_y // 2::step_y, step_x // 2::step_x]
    return F.interpolate(x, size=size, mode='nearest-exact')


def baseline_scores(logits: torch.Tensor, num_classes: int) -> Tuple[torch.Tensor, ...]:
    """
    Compute the four baseline anomaly scores of a segmentation network's logits.

    :param logits: (B, C >= num_classes, H, W) logits; only the inlier classes are used.
    :param num_classes: number of inlier classes.
    :return: max softmax, max logit, normalised entropy and free energy, each (B, 1, H, W),
        higher = more anomalous, in the order of :data:`.graph_io.BASELINE_OUTPUTS`.
    """
    return (scoring.max_softmax_score(logits, num_classes),
            scoring.max_logit_score(logits, num_classes),
            scoring.normalised_entropy_score(logits, num_classes),
            scoring.free_energy(logits, num_classes))


class CoarseLogits:
    """
    Scores from the logits before their final up-sampling (bundles with ``coarse_scores``).

    Entropy, softmax distance and energy are nonlinear: taken on bilinearly up-sampled logits
    they vary with the position inside each up-sampling cell, the same on every frame, and the
    mean score shows a lattice. Taken on the coarse logits and then resized (``coarse_resize``:
    bilinearly with the network's own resize convention, or :func:`.coarse_resize.resize_smooth`,
    which also leaves out what remains of the coarse grid) they have none.
    """

    def __init__(self, network: nn.Module, resize: str = 'bilinear'):
        """
        Check the network can give its coarse logits.

        :param network: a network with ``forward_coarse(x) -> (full, coarse)`` (ICNet).
        :param resize: a key of :data:`.coarse_resize.COARSE_RESIZES`.
        :raises BundleError: if it has none, or the resize is unknown.
        """
        if not callable(getattr(network, 'forward_coarse', None)):
            raise BundleError(f'coarse_scores: {type(network).__name__} does not expose the '
                              'logits before its final up-sampling (forward_coarse); remove '
                              '"coarse_scores" from bundle.yaml')
        if resize not in COARSE_RESIZES:
            raise BundleError(f'coarse_resize: {resize!r} is not one of '
                              f'{", ".join(COARSE_RESIZES)}')
        self.align_corners = bool(getattr(network, 'align_corners', False))
        self._resize = COARSE_RESIZES[resize]

    def resize(self, *maps: torch.Tensor, size: Tuple[int, int]) -> Tuple[torch.Tensor, ...]:
        """
        Resize coarse maps to the full logits' size.

        :param maps: (B, 1, h, w) maps.
        :param size: (H, W).
        :return: the maps at (H, W).
        """
        return tuple(self._resize(m, tuple(size), self.align_corners) for m in maps)


class SegmentationGraph(nn.Module):
    """SynBoost Light stage 1: image -> train ids, entropy and softmax-distance maps."""

    def __init__(self, network: nn.Module, normaliser: InputNormaliser, num_classes: int = 19,
                 baselines: bool = False, coarse_scores: bool = False,
                 coarse_resize: str = 'bilinear'):
        """
        Wrap a segmentation network.

        :param network: maps a normalised (B, 3, H, W) image to (B, C, H, W) logits.
        :param normaliser: the bundle's input normalisation.
        :param num_classes: number of inlier classes.
        :param baselines: evaluation only: also return the :func:`baseline_scores` (never set
            for export).
        :param coarse_scores: take entropy and distance on the network's coarse logits and
            resize them (:class:`CoarseLogits`); the train ids stay those of the full logits.
        :param coarse_resize: how they are resized (``bundle.yaml`` ``coarse_resize``).
        """
        super().__init__()
        self.network = network
        self.normaliser = normaliser
        self.num_classes = num_classes
        self.baselines = baselines
        self.coarse = CoarseLogits(network, coarse_resize) if coarse_scores else None

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """
        Segment.

        :param image: (1, 3, H, W) float RGB 0..255.
        :return: train_ids (1, 1, H, W) uint8, entropy and distance (1, 1, H, W) in [0, 1];
            with ``baselines``, then the four baseline maps (1, 1, H, W).
        """
        x = self.normaliser(image)
        if self.coarse is None:
            logits = self.network(x)[:, :self.num_classes]
            winner, entropy, distance = scoring.uncertainty_maps(logits)
        else:
            logits, coarse = (t[:, :self.num_classes] for t in self.network.forward_coarse(x))
            _, entropy, distance = scoring.uncertainty_maps(coarse)
            entropy, distance = self.coarse.resize(entropy, distance, size=logits.shape[-2:])
            winner = logits.argmax(dim=1, keepdim=True)
        if self.baselines:
            return (scoring.ids_as_uint8(winner), entropy, distance,
                    *baseline_scores(logits, self.num_classes))
        return scoring.ids_as_uint8(winner), entropy, distance


class SynthesisGraph(nn.Module):
    """SynBoost Light stage 2: train ids -> SPADE re-synthesis of the image."""

    def __init__(self, generator: nn.Module, size: Tuple[int, int]):
        """
        Wrap a SPADE generator.

        :param generator: maps (B, 36, h, w) one-hot label ids + edge map to a tanh image.
        :param size: synthesis (height, width).
        """
        super().__init__()
        self.generator = generator
        self.size = tuple(size)

    def forward(self, train_ids: torch.Tensor) -> torch.Tensor:
        """
        Re-synthesise.

        :param train_ids: (1, 1, H, W) uint8 train ids at segmentation resolution.
        :return: (1, 3, h, w) float image in [0, 1] at synthesis resolution.
        """
        ids = resize_nearest_exact(train_ids.to(torch.float32), self.size)
        label_ids = scoring.train_ids_to_label_ids(ids.to(torch.int64))
        image = self.generator(label_map_to_spade_input(label_ids))
        return (image + 1.0) * 0.5


def uint8_round_trip(x: torch.Tensor) -> torch.Tensor:
    """
    Truncate a [0, 1] map to 8 bits as the official SynBoost code does between its stages.

    ``(x * 255).astype(np.uint8)`` (or a PIL image of it) read back as ``/ 255``: clipped to
    [0, 1] first (SPADE's ``tensor2im`` clips; the other maps lie in [0, 1] already).

    :param x: map or image in [0, 1].
    :return: ``floor(clip(x, 0, 1) * 255) / 255``, multiples of 1/255.
    """
    return torch.floor(x.clamp(0.0, 1.0) * 255.0) / 255.0


class DissimilarityGraph(nn.Module):
    """SynBoost Light stage 3: perceptual difference, dissimilarity network and ensemble."""

    def __init__(self, dissimilarity: nn.Module, perceptual: nn.Module, size: Tuple[int, int],
                 num_classes: int = 19, uint8_round_trips: bool = False):
        """
        Wrap the dissimilarity and VGG perceptual-difference networks.

        :param dissimilarity: DissimNetPrior-like network returning (B, 2, h, w) logits.
        :param perceptual: VGG19 difference returning an un-normalised (B, 1, h, w) map.
        :param size: dissimilarity (height, width), the synthesis size.
        :param num_classes: number of semantic classes of the one-hot input.
        :param uint8_round_trips: truncate the re-synthesis, entropy, distance and perceptual
            difference to 8 bits (:func:`uint8_round_trip`) before the dissimilarity network
            and the ensemble read them, as the official pipeline does (it stores them as uint8
            images); bundles converted from the official checkpoints set it.
        """
        super().__init__()
        self.dissimilarity = dissimilarity
        self.perceptual = perceptual
        self.size = tuple(size)
        self.num_classes = num_classes
        self.uint8_round_trips = uint8_round_trips
        self.imagenet = imagenet_normaliser()

    def forward(self, image: torch.Tensor, synthesis: torch.Tensor, train_ids: torch.Tensor,
                entropy: torch.Tensor, distance: torch.Tensor, weights: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Score.

        :param image: (1, 3, H, W) float RGB 0..255 (the segmentation input).
        :param synthesis: (1, 3, h, w) re-synthesis in [0, 1].
        :param train_ids: (1, 1, H, W) uint8 train ids.
        :param entropy: (1, 1, H, W) entropy map in [0, 1].
        :param distance: (1, 1, H, W) softmax-distance map in [0, 1].
        :param weights: (4,) ensemble weights for P(anomaly), entropy, perceptual, distance.
        :return: score, P(anomaly) and perceptual difference, each (1, 1, h, w).
        """
        if self.uint8_round_trips:
            synthesis = uint8_round_trip(synthesis)
            entropy, distance = uint8_round_trip(entropy), uint8_round_trip(distance)
        original = self.imagenet(resize_nearest_exact(image, self.size))
        resynthesis = self.imagenet(synthesis * 255.0)
        ids = resize_nearest_exact(train_ids.to(torch.float32), self.size)
        semantic = scoring.one_hot_train_ids(ids, self.num_classes)
        entropy = resize_nearest_exact(entropy, self.size)
        distance = resize_nearest_exact(distance, self.size)
        perceptual = scoring.min_max_normalise(self.perceptual(original, resynthesis))
        if self.uint8_round_trips:
            perceptual = uint8_round_trip(perceptual)
        logits = self.dissimilarity(original, resynthesis, semantic, entropy, perceptual,
                                    distance)
        p_anomaly = F.softmax(logits, dim=1)[:, 1:2]
        score = scoring.ensemble((p_anomaly, entropy, perceptual, distance), weights)
        return score, p_anomaly, perceptual


class EnergyGraph(nn.Module):
    """PEBAL, one graph: image -> Gaussian-smoothed free energy and train ids."""

    def __init__(self, network: nn.Module, normaliser: InputNormaliser, num_classes: int = 19,
                 blur_size: int = 7, blur_sigma: float = 1.0, baselines: bool = False,
                 coarse_scores: bool = False, coarse_resize: str = 'bilinear'):
        """
        Wrap a segmentation network with (optionally) an abstention output.

        :param network: maps a normalised image to (B, C >= num_classes, H, W) logits.
        :param normaliser: the bundle's input normalisation.
        :param num_classes: number of inlier classes (extra channels are ignored).
        :param blur_size: Gaussian kernel size (official 7).
        :param blur_sigma: Gaussian sigma (official 1).
        :param baselines: evaluation only: also return the :func:`baseline_scores` of the
            inlier logits (never set for export).
        :param coarse_scores: take the energy on the network's coarse logits and resize it
            before the blur (:class:`CoarseLogits`).
        :param coarse_resize: how it is resized (``bundle.yaml`` ``coarse_resize``).
        """
        super().__init__()
        self.network = network
        self.normaliser = normaliser
        self.num_classes = num_classes
        self.baselines = baselines
        self.coarse = CoarseLogits(network, coarse_resize) if coarse_scores else None
        self.register_buffer('kernel', scoring.gaussian_kernel(blur_size, blur_sigma))

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """
        Score.

        :param image: (1, 3, H, W) float RGB 0..255.
        :return: energy score (1, 1, H, W) (higher = more anomalous), train ids (1, 1, H, W);
            with ``baselines``, then the four baseline maps (1, 1, H, W).
        """
        x = self.normaliser(image)
        if self.coarse is None:
            logits = self.network(x)
            energy = scoring.free_energy(logits, self.num_classes)
        else:
            logits, coarse = self.network.forward_coarse(x)
            energy, = self.coarse.resize(scoring.free_energy(coarse, self.num_classes),
                                         size=logits.shape[-2:])
        energy = scoring.gaussian_blur(energy, self.kernel)
        if self.baselines:
            return (energy, scoring.train_ids(logits, self.num_classes),
                    *baseline_scores(logits, self.num_classes))
        return energy, scoring.train_ids(logits, self.num_classes)


def build_networks(spec: BundleSpec, state_dicts: Dict[str, dict] = None,
                   where: str = 'bundle') -> Dict[str, nn.Module]:
    """
    Build the bundle's networks and load their weights strictly.

    :param spec: the bundle spec.
    :param state_dicts: ``{component: state_dict}``; ``None`` keeps random initialisation.
    :param where: name used in error messages (the weights file).
    :return: ``{component: network}`` in eval mode on the CPU.
    :raises BundleError: if a network's builder refuses its args, or the weights do not fit.
    """
    networks = {}
    for component, net_spec in spec.networks.items():
        try:
            network = create_network(net_spec.builder, **net_spec.args)
        except (TypeError, ValueError) as exc:
            raise BundleError(f'networks.{component}: {net_spec.builder} with args '
                              f'{net_spec.args} cannot be built: {exc}') from exc
        if state_dicts is not None:
            try:
                network.load_state_dict(state_dicts[component], strict=True)
            except (RuntimeError, KeyError) as exc:
                raise BundleError(f'{where}: weights of {component!r} do not fit network '
                                  f'{net_spec.builder!r}: ' + _misfit(network, state_dicts,
                                                                      component)) from exc
        networks[component] = network.eval()
    return networks


def _misfit(network: nn.Module, state_dicts: Dict[str, dict], component: str) -> str:
    """Say in one short line how a state_dict misses a network's keys (first five of each)."""
    if component not in state_dicts:
        return 'the weights file has no such component'
    expected, given = network.state_dict(), state_dicts[component]
    parts = []
    for what, keys in (('missing', [k for k in expected if k not in given]),
                       ('unexpected', [k for k in given if k not in expected]),
                       ('of another shape', [k for k in expected if k in given
                                             and tuple(given[k].shape) != tuple(
                                                 expected[k].shape)])):
        if keys:
            shown = ', '.join(keys[:5]) + (', ...' if len(keys) > 5 else '')
            parts.append(f'{len(keys)} keys {what} ({shown})')
    return '; '.join(parts) or 'the keys match but loading failed'


def build_stage_graphs(spec: BundleSpec, networks: Dict[str, nn.Module],
                       baselines: bool = False) -> Dict[str, nn.Module]:
    """
    Assemble the stage graphs of a bundle from its networks.

    :param spec: the bundle spec.
    :param networks: ``{component: network}`` from :func:`build_networks`.
    :param baselines: evaluation only: the stage in :data:`.graph_io.BASELINE_STAGES` also
        returns the :data:`.graph_io.BASELINE_OUTPUTS`; leave it off for export and deployment.
    :return: ``{stage: graph}`` in eval mode, in run order; a stage built around a user's ONNX
        model has no torch graph and is left out
        (:mod:`pixel_anomaly_ros.stages.external_graph`).
    """
    normaliser = InputNormaliser(spec.mean, spec.std, bgr=spec.channel_order == 'bgr')
    graphs = {}
    if spec.variant == 'pebal':
        graphs['energy'] = EnergyGraph(networks['segmentation'], normaliser, spec.num_classes,
                                       baselines=baselines, coarse_scores=spec.coarse_scores,
                                       coarse_resize=spec.coarse_resize)
    elif spec.variant == 'synboost_light':
        if spec.external is None:  # else the segmentation stage is the user's ONNX model
            graphs['segmentation'] = SegmentationGraph(
                networks['segmentation'], normaliser, spec.num_classes, baselines=baselines,
                coarse_scores=spec.coarse_scores, coarse_resize=spec.coarse_resize)
        graphs['synthesis'] = SynthesisGraph(networks['synthesis'], spec.synthesis_size)
        graphs['dissimilarity'] = DissimilarityGraph(
            networks['dissimilarity'], networks['perceptual'], spec.synthesis_size,
            spec.num_classes, uint8_round_trips=spec.uint8_round_trips)
    return {name: graph.eval() for name, graph in graphs.items()}
