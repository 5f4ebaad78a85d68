# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The four trainers: ICNet segmentation, SPADE synthesis, SynBoost dissimilarity, PEBAL.

Each reads a Cityscapes-layout root, trains one component of a bundle and writes the bundle
(``cfg.out``), starting from ``cfg.init``, an existing ``cfg.out`` or the preset. Simplifications
against the official recipes are listed in each docstring.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from pixel_anomaly_ros import scoring
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.bundle_writer import check_bundle_target
from pixel_anomaly_ros.networks.spade import label_map_to_spade_input
from pixel_anomaly_ros.stages.graphs import (imagenet_normaliser, InputNormaliser,
                                             resize_nearest_exact, SegmentationGraph)
from pixel_anomaly_ros.training import losses
from pixel_anomaly_ros.training.data import (anomaly_mix, anomaly_mix_edit, CityscapesTrainSet,
                                             IGNORE_INDEX, OUTLIER_INDEX, sample_batch,
                                             synboost_corrupt, to_tensors)
from pixel_anomaly_ros.training.loop import (build_from, open_bundle, preset_at_size,
                                             save_bundle, seed_everything, synthesis_scale,
                                             train_loop, TrainConfig)
import torch
from torch import nn
from torch.nn import functional as F

_IMAGENET = imagenet_normaliser()
#: ICNet cascade label guidance: weights of the 1/4, 1/8 and 1/16 outputs (ICNet paper).
ICNET_AUX_WEIGHTS = (1.0, 0.4, 0.4)


def _dataset(cfg: TrainConfig, spec) -> CityscapesTrainSet:
    return CityscapesTrainSet(cfg.data, 'train', crop=cfg.crop, size=spec.input_size)


def _normaliser(spec) -> InputNormaliser:
    return InputNormaliser(spec.mean, spec.std, bgr=spec.channel_order == 'bgr')


def check_synthesis_crop(generator: nn.Module, crop, scale: int) -> None:
    """
    Refuse a crop the SPADE generator cannot take once downscaled to the synthesis scale.

    :param generator: the SPADE generator (``num_up`` upsamplings).
    :param crop: (height, width) of the training crops.
    :param scale: :func:`synthesis_scale` of the bundle.
    :raises ValueError: with the crop sizes that work.
    """
    factor = scale * 2 ** int(getattr(generator, 'num_up', 0))
    if crop[0] % factor or crop[1] % factor:
        raise ValueError(
            f'--crop {crop[1]}x{crop[0]} does not fit: the synthesis runs at 1/{scale} of the '
            f'input and the generator needs multiples of {factor // scale} there, so both crop '
            f'sides must be multiples of {factor} (e.g. --crop {4 * factor}x{2 * factor})')


def _downscale(batch: Dict[str, torch.Tensor], scale: int) -> Dict[str, torch.Tensor]:
    """Nearest-downscale every tensor of a batch as the pipeline resizes to synthesis size."""
    out = {}
    for key, value in batch.items():
        x = value if value.dim() == 4 else value.unsqueeze(1)
        size = (x.shape[-2] // scale, x.shape[-1] // scale)
        x = resize_nearest_exact(x.float(), size)
        out[key] = x if value.dim() == 4 else x.squeeze(1).to(value.dtype)
    return out


def _labels_at(target: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """
    Sample labels where ``align_corners=True`` upsampling puts a grid's pixels.

    :param target: (B, H, W) labels.
    :param size: the grid's (height, width).
    :return: (B, height, width) labels; pixel ``i`` takes row ``round(i (H - 1) / (h - 1))``.
    """
    rows = torch.linspace(0, target.shape[-2] - 1, size[0]).round().long()
    cols = torch.linspace(0, target.shape[-1] - 1, size[1]).round().long()
    return target[:, rows[:, None], cols]


def _cascade_outputs(network: nn.Module, x: torch.Tensor,
                     target: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """
    Pair each training output of a segmentation network with its target.

    The main output is upsampled (bilinear, corners aligned) to the target, as at run time.
    ICNet's two auxiliary outputs (about 1/8 and 1/16 of the input) meet the labels sampled at
    their own pixels instead (:func:`_labels_at`, the same correspondence), as ICNet's cascade
    label guidance: upsampling them to the crop first made the loss cost about as much as the
    network itself (models/README.md).

    :param network: the segmentation network (``forward_pyramid`` for ICNet).
    :param x: normalised (B, 3, H, W) images.
    :param target: (B, H, W) train ids.
    :return: ``[(logits, target), ...]``, the main output first.
    """
    if hasattr(network, 'forward_pyramid'):
        main, *auxiliary = network.forward_pyramid(x)[1:]
    else:
        main, auxiliary = network(x), []
    pairs = [(F.interpolate(main, size=target.shape[-2:], mode='bilinear', align_corners=True),
              target)]
    return pairs + [(logits, _labels_at(target, logits.shape[-2:])) for logits in auxiliary]


#: Outlier-exposure losses of ``train segmentation``: ``loss(logits, train_ids)``.
SEGMENTATION_OUTLIER_LOSSES = {
    'entropy': losses.uniform_outlier_loss,
    'energy': lambda logits, target: losses.energy_hinge_loss(
        losses.free_energy(logits, logits.shape[1]), target),
}


def train_segmentation(cfg: TrainConfig) -> Dict[str, object]:
    """
    Train the segmentation network (ICNet) with cross-entropy (ignore 255) and poly LR.

    ICNet's cascade label guidance is kept (1/4, 1/8, 1/16 outputs, weights 1, 0.4, 0.4; the
    first upsampled to the crop, the others against the labels at their size,
    :func:`_cascade_outputs`); SGD momentum 0.9, weight decay 1e-4, lr 0.01 (``--lr``) or Adam
    (``extra['optimizer'] = 'adam'``, lr 1e-3). ``extra['class_weights'] = 'enet'`` weighs
    each class by ENet's ``1 / ln(1.02 + p)`` of its pixel share ``p`` in
    ``extra['weight_samples']`` (default 64) training crops, so thin and rare classes (poles,
    lights, riders) are not drowned by road and sky; default ``'none'``.

    Outlier exposure: with ``extra['mix_prob']`` > 0 each whole frame gets an AnomalyMix
    object with that probability before its crop; cross-entropy leaves its pixels out and the
    loss adds ``extra['outlier_weight']`` (default 1) times the outlier loss
    ``extra['outlier_loss']`` of :data:`SEGMENTATION_OUTLIER_LOSSES` (same cascade weights):
    ``'entropy'`` (default; entropy maximisation, Chan et al. 2021) pushes the prediction on
    the object towards uniform, so the entropy prior that SynBoost's dissimilarity network
    reads marks unknown objects; ``'energy'`` is PEBAL's squared energy hinge on every pixel.
    Default ``mix_prob`` 0: plain segmentation, data unchanged.

    :param cfg: training options.
    :return: run summary with the bundle path under ``'bundle'``.
    """
    seed_everything(cfg.seed)
    spec, states = open_bundle(cfg)
    networks = build_from(spec, states)
    net = networks['segmentation'].train()
    norm = _normaliser(spec)
    data = _dataset(cfg, spec)
    if cfg.extra.get('optimizer', 'sgd') == 'adam':
        lr = cfg.lr or 1e-3
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        lr = cfg.lr or 0.01
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    class_weights = _segmentation_class_weights(cfg, data, spec.num_classes)
    mix_prob = float(cfg.extra.get('mix_prob', 0.0))
    mix = anomaly_mix_edit(mix_prob) if mix_prob > 0 else None
    outlier_weight = float(cfg.extra.get('outlier_weight', 1.0))
    outlier_loss = _segmentation_outlier_loss(str(cfg.extra.get('outlier_loss', 'entropy')))

    def step(_: int, rng: np.random.Generator) -> Dict[str, torch.Tensor]:
        batch = to_tensors(sample_batch(data, cfg.batch_size, rng, before_crop=mix))
        pairs = _cascade_outputs(net, norm(batch['image']), batch['train_ids'])
        weights = ICNET_AUX_WEIGHTS if len(pairs) == 3 else (1.0,)
        ce = sum(w * F.cross_entropy(o, t.masked_fill(t == OUTLIER_INDEX, IGNORE_INDEX),
                                     weight=class_weights, ignore_index=IGNORE_INDEX)
                 for w, (o, t) in zip(weights, pairs))
        if mix is None:
            return {'loss': ce}
        outlier = sum(w * outlier_loss(o, t) for w, (o, t) in zip(weights, pairs))
        return {'loss': ce + outlier_weight * outlier, 'ce': ce, 'outlier': outlier}

    summary = train_loop(cfg, 'segmentation', {'segmentation': net}, opt, step, lr)
    if class_weights is not None:
        summary['class_weights'] = [round(float(w), 6) for w in class_weights]
    summary['bundle'] = str(save_bundle(cfg, spec, networks, 'segmentation', summary))
    return summary


def _segmentation_outlier_loss(name: str):
    if name not in SEGMENTATION_OUTLIER_LOSSES:
        raise ValueError(f'unknown outlier loss {name!r}; choose '
                         f'{" or ".join(SEGMENTATION_OUTLIER_LOSSES)}')
    return SEGMENTATION_OUTLIER_LOSSES[name]


def _segmentation_class_weights(cfg: TrainConfig, data: CityscapesTrainSet,
                                num_classes: int) -> Optional[torch.Tensor]:
    kind = str(cfg.extra.get('class_weights', 'none'))
    if kind == 'none':
        return None
    if kind != 'enet':
        raise ValueError(f'unknown class weights {kind!r}; choose none or enet')
    probe = sample_batch(data, int(cfg.extra.get('weight_samples', 64)),
                         np.random.default_rng([cfg.seed, 1 << 30]))
    return _enet_weights(np.concatenate([s['train_ids'].ravel() for s in probe]), num_classes)


def _enet_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Return ENet weights of labels 0 .. num_classes - 1 (others left out), counts + 1."""
    labels = np.asarray(labels).ravel()
    hist = np.bincount(labels[labels < num_classes], minlength=num_classes)
    return losses.synboost_class_weights(torch.from_numpy(hist) + 1.0)


def train_synthesis(cfg: TrainConfig) -> Dict[str, object]:
    """
    Train the SPADE generator to re-synthesise images from Cityscapes label ids.

    The crops are nearest-downscaled by :func:`synthesis_scale`, so the generator learns at the
    scale the pipeline runs it. Simplification: L1 + perceptual loss only (the bundle's frozen
    VGG19-difference network on ImageNet-normalised images, weight
    ``extra['perceptual_weight']``, default 1), no GAN, no VAE encoder and no discriminator
    feature matching (official SPADE: hinge GAN with a
    multi-scale PatchGAN, feature matching and VGG losses). Adam lr 2e-4, betas (0.5, 0.999).

    :param cfg: training options (a ``synboost_light`` preset or bundle).
    :return: run summary with the bundle path under ``'bundle'``.
    """
    seed_everything(cfg.seed)
    spec, states = open_bundle(cfg, variant='synboost_light', trainer='synthesis')
    networks = build_from(spec, states)
    gen = networks['synthesis'].train()
    vgg = networks['perceptual'].eval().requires_grad_(False)
    weight = float(cfg.extra.get('perceptual_weight', 1.0))
    data = _dataset(cfg, spec)
    lr = cfg.lr or 2e-4
    opt = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
    scale = synthesis_scale(spec)
    check_synthesis_crop(gen, cfg.crop, scale)

    def step(_: int, rng: np.random.Generator) -> Dict[str, torch.Tensor]:
        batch = to_tensors(sample_batch(data, cfg.batch_size, rng))
        batch = _downscale({k: batch[k] for k in ('image', 'label_ids')}, scale)
        fake = (gen(label_map_to_spade_input(batch['label_ids'].unsqueeze(1))) + 1.0) * 127.5
        real = batch['image']
        l1 = F.l1_loss(fake, real) / 127.5
        perceptual = vgg(_IMAGENET(real), _IMAGENET(fake)).mean()
        return {'loss': l1 + weight * perceptual, 'l1': l1, 'perceptual': perceptual}

    summary = train_loop(cfg, 'synthesis', {'synthesis': gen}, opt, step, lr,
                         schedule='constant')
    summary['bundle'] = str(save_bundle(cfg, spec, networks, 'synthesis', summary))
    return summary


class _DissimilarityInputs:
    """Frozen segmentation + synthesis + perceptual networks producing the dissimilarity input."""

    def __init__(self, spec, networks: Dict[str, nn.Module]):
        # The segmentation stage exactly as the pipeline runs it (entropy, distance, ids).
        self.seg = SegmentationGraph(networks['segmentation'].eval().requires_grad_(False),
                                     _normaliser(spec), spec.num_classes,
                                     coarse_scores=spec.coarse_scores,
                                     coarse_resize=spec.coarse_resize)
        self.gen = networks['synthesis'].eval().requires_grad_(False)
        self.vgg = networks['perceptual'].eval().requires_grad_(False)
        self.num_classes = spec.num_classes
        self.scale = synthesis_scale(spec)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, label_ids: torch.Tensor, train_ids: torch.Tensor,
                 swapped: Optional[torch.Tensor] = None) -> tuple:
        ids, entropy, distance = self.seg(image)
        if swapped is not None:
            # Predicted semantics, as at run time, with the swapped instances pasted in.
            predicted = ids.squeeze(1).long()
            label_ids = torch.where(swapped, label_ids, scoring.train_ids_to_label_ids(
                predicted.unsqueeze(1)).squeeze(1))
            train_ids = torch.where(swapped, train_ids, predicted)
        # The pipeline runs the next stages at the synthesis size: so does training.
        small = _downscale({'image': image, 'label_ids': label_ids, 'train_ids': train_ids,
                            'entropy': entropy, 'distance': distance}, self.scale)
        image, label_ids, train_ids = small['image'], small['label_ids'], small['train_ids']
        entropy, distance = small['entropy'], small['distance']
        synthesis = (self.gen(label_map_to_spade_input(label_ids.unsqueeze(1))) + 1.0) * 127.5
        original, resynthesis = _IMAGENET(image), _IMAGENET(synthesis)
        perceptual = scoring.min_max_normalise(self.vgg(original, resynthesis))
        semantic = scoring.one_hot_train_ids(train_ids.unsqueeze(1), self.num_classes)
        return original, resynthesis, semantic, entropy, perceptual, distance


def train_dissimilarity(cfg: TrainConfig) -> Dict[str, object]:
    """
    Train SynBoost's dissimilarity network on generated unknown examples.

    Per sample: :func:`synboost_corrupt` alters the label map (instance class swaps, void
    as anomaly unless ``extra['void']`` says ``ignore``/``inlier``), the bundle's generator
    re-synthesises the altered map, the frozen segmentation network gives the entropy and
    distance priors of the real image. The altered map is the ground truth
    (``extra['semantic'] = 'ground-truth'``, default) or, with ``'predicted'``, the frozen
    network's prediction with the swapped instances pasted in: the network then sees the
    segmentation errors it meets at run time, as inliers unless they are void. Loss: weighted
    CE (ignore 255) with class weights ``1 / ln(1.02 + p)`` estimated on
    ``extra['weight_samples']`` (default 8) generated samples. With probability
    ``extra['mix_prob']`` (default 0, as SynBoost) a sample also gets an AnomalyMix object
    (:func:`anomaly_mix`) that is anomalous in the target but absent from the label map, so
    the network also learns what a foreign object looks like next to its re-synthesis (the
    swaps alone never show it one). Adam lr 1e-4, betas (0.5, 0.999), constant LR (official:
    ReduceLROnPlateau on a validation loss, not done here). Everything after the segmentation
    pass runs at the synthesis scale (:func:`synthesis_scale`), as in the pipeline.

    :param cfg: training options (a ``synboost_light`` bundle with trained segmentation and
        synthesis, via ``--init`` or ``--out``).
    :return: run summary with the bundle path and the class weights.
    """
    seed_everything(cfg.seed)
    spec, states = open_bundle(cfg, variant='synboost_light', trainer='dissimilarity')
    networks = build_from(spec, states)
    inputs = _DissimilarityInputs(spec, networks)
    check_synthesis_crop(inputs.gen, cfg.crop, inputs.scale)
    net = networks['dissimilarity'].train()
    data = _dataset(cfg, spec)
    void = str(cfg.extra.get('void', 'anomaly'))
    predicted = cfg.extra.get('semantic', 'ground-truth') == 'predicted'
    mix_prob = float(cfg.extra.get('mix_prob', 0.0))

    def corrupted(rng: np.random.Generator, count: int) -> Dict[str, torch.Tensor]:
        samples = sample_batch(data, count, rng)
        for s in samples:
            original = s['label_ids']
            s['label_ids'], s['train_ids'], s['target'] = synboost_corrupt(
                original, s['instance_ids'], rng, void=void)
            s['swapped'] = s['label_ids'] != original
            if mix_prob and rng.random() < mix_prob:
                # The label map does not know the object: its re-synthesis differs there. The
                # crops are whole frames, so the object has the frame's perspective (measured:
                # pasting before the crop, as train_pebal does, did no better; models/README).
                s['image'], _, pasted = anomaly_mix(s['image'], s['train_ids'], rng)
                s['target'][pasted] = 1
        return to_tensors(samples)

    probe = corrupted(np.random.default_rng([cfg.seed, 1 << 30]),
                      int(cfg.extra.get('weight_samples', 8)))['target']
    class_weights = _enet_weights(probe.numpy(), 2)
    lr = cfg.lr or 1e-4
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))

    def step(_: int, rng: np.random.Generator) -> Dict[str, torch.Tensor]:
        batch = corrupted(rng, cfg.batch_size)
        swapped = batch['swapped'].bool() if predicted else None
        logits = net(*inputs(batch['image'], batch['label_ids'], batch['train_ids'], swapped))
        target = _downscale({'target': batch['target']}, inputs.scale)['target']
        return {'loss': losses.dissimilarity_loss(logits, target, class_weights)}

    summary = train_loop(cfg, 'dissimilarity', {'dissimilarity': net}, opt, step, lr,
                         schedule='constant')
    summary['class_weights'] = [round(float(w), 6) for w in class_weights]
    summary['bundle'] = str(save_bundle(cfg, spec, networks, 'dissimilarity', summary))
    return summary


#: The blocks ``train pebal --block`` can fine-tune.
PEBAL_BLOCKS = ('decoder', 'classifier', 'all')


def final_block(network: nn.Module, block: str = 'decoder') -> nn.Module:
    """
    Return the final block PEBAL fine-tunes.

    PEBAL fine-tunes DeepWV3+'s ``final`` block: two 3x3 convolutions with BatchNorm over the
    fused ASPP and skip features, then the 1x1 classifier. ICNet's counterpart is its
    ``head``: the cascade feature fusions of the three branches and the 1x1 ``conv_cls``.

    :param network: an ICNet (``head``) or DeepWV3+ (``final`` / ``branch1.final``).
    :param block: ``'decoder'`` (the block above), ``'classifier'`` (its last 1x1
        convolution alone) or ``'all'`` (the whole network).
    :return: the module.
    :raises ValueError: if the network has no such block or ``block`` is unknown.
    """
    if block not in PEBAL_BLOCKS:
        raise ValueError(f'unknown block {block!r}; choose one of {", ".join(PEBAL_BLOCKS)}')
    if block == 'all':
        return network
    modules = dict(network.named_modules())
    names = {'decoder': ('branch1.final', 'final', 'head'),
             'classifier': ('head.conv_cls', 'branch1.final.6', 'final.6')}[block]
    for name in names:
        if name in modules:
            return modules[name]
    raise ValueError(f'no final {block} block in {type(network).__name__}')


def transfer_weights(target: nn.Module, source: Dict[str, torch.Tensor],
                     generator: torch.Generator) -> int:
    """
    Copy a 19-class state into a 20-output network (PEBAL's ``extra_channel`` restore).

    Equal shapes are copied; a tensor with one more output row keeps the source rows and
    initialises the new (abstention) row Kaiming-normal.

    :param target: the network to fill.
    :param source: the source state_dict.
    :param generator: RNG for the new rows.
    :return: number of tensors copied or extended.
    """
    state = target.state_dict()
    count = 0
    for key, value in state.items():
        src = source.get(key)
        if src is None:
            continue
        if src.shape == value.shape:
            state[key] = src.clone()
        elif src.shape[1:] == value.shape[1:] and src.shape[0] + 1 == value.shape[0]:
            fan_in = max(1, int(np.prod(value.shape[1:])))
            new = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
            new[:src.shape[0]] = src
            state[key] = new
        else:
            continue
        count += 1
    target.load_state_dict(state)
    return count


def train_pebal(cfg: TrainConfig) -> Dict[str, object]:
    """
    Fine-tune a block of the segmentation network with PEBAL's losses and AnomalyMix.

    Starts from ``cfg.init`` (a bundle whose segmentation network has the same keys, 19 or 20
    outputs) or, without one, an existing PEBAL bundle at ``cfg.out``; only the
    :func:`final_block` that ``extra['block']`` names is trained (default ``decoder``; ``all``
    is the whole network), the network stays in train mode (as PEBAL, so BatchNorm
    statistics update). Each whole frame gets an AnomalyMix object with probability
    ``extra['mix_prob']`` (default 0.5; PEBAL mixes about 9 % of the images, with COCO objects)
    before it is cropped, so the object has the size it would have in the camera frame. Loss
    :func:`losses.pebal_loss` plus ``extra['inlier_ce_weight']`` (default 0, PEBAL as
    published) times :func:`losses.inlier_cross_entropy`, which keeps the segmentation of a
    network fine-tuned whole; Adam lr 1e-5 (``--lr``), poly 0.9.

    :param cfg: training options (preset ``pebal_icnet_tiny`` by default for this trainer).
    :return: run summary with the bundle path under ``'bundle'``.
    """
    seed_everything(cfg.seed)
    preset = cfg.preset if cfg.preset.startswith('pebal') else 'pebal_icnet_tiny'
    check_bundle_target(cfg.out, overwrite=True)
    if not cfg.init and (Path(cfg.out) / 'bundle.yaml').is_file():
        spec, states = open_bundle(TrainConfig(data=cfg.data, out=cfg.out))
        networks = build_from(spec, states)
    else:  # --init wins over an existing --out, as in every trainer
        spec = preset_at_size(preset, cfg.input_size)
        networks = build_from(spec, None)
        if cfg.init:
            weights = load_bundle(cfg.init).component_state_dicts()['segmentation']
            transfer_weights(networks['segmentation'], weights,
                             torch.Generator().manual_seed(cfg.seed))
    net = networks['segmentation'].train()
    net.requires_grad_(False)
    head = final_block(net, str(cfg.extra.get('block', 'decoder'))).requires_grad_(True)
    norm = _normaliser(spec)
    data = _dataset(cfg, spec)
    mix_prob = float(cfg.extra.get('mix_prob', 0.5))
    ce_weight = float(cfg.extra.get('inlier_ce_weight', 0.0))
    num_inlier = spec.num_classes
    lr = cfg.lr or 1e-5
    opt = torch.optim.Adam(head.parameters(), lr=lr)

    mix = anomaly_mix_edit(mix_prob)

    def step(_: int, rng: np.random.Generator) -> Dict[str, torch.Tensor]:
        samples = sample_batch(data, cfg.batch_size, rng, before_crop=mix)
        batch = to_tensors([{'image': s['image'], 'train_ids': s['train_ids']}
                            for s in samples])
        logits = net(norm(batch['image']))
        logits = F.interpolate(logits, size=batch['train_ids'].shape[-2:], mode='bilinear',
                               align_corners=True)
        parts = losses.pebal_loss(logits, batch['train_ids'], num_inlier)
        if ce_weight > 0:
            parts['ce'] = losses.inlier_cross_entropy(logits, batch['train_ids'], num_inlier)
            parts['loss'] = parts['loss'] + ce_weight * parts['ce']
        return parts

    summary = train_loop(cfg, 'pebal', {'segmentation': net}, opt, step, lr)
    summary['trained_block'] = type(head).__name__
    summary['bundle'] = str(save_bundle(cfg, spec, networks, 'pebal', summary))
    return summary
