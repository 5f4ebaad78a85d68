# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Build a model bundle from official checkpoint files (``pixel-anomaly convert``).

Every file is loaded strictly into our key-compatible network; spectral norm is folded once
here, so bundles hold plain convolution weights. A wrong file is refused with a message that
names it, the expected format and the first mismatching keys.
"""

from datetime import datetime, timezone
from pathlib import Path
import sys
from typing import Dict, Optional, Tuple

from pixel_anomaly_ros.bundle import Bundle, sha256_file
from pixel_anomaly_ros.bundle_writer import write_bundle
from pixel_anomaly_ros.checkpoints import has_prefix, load_strict, read_state_dict, select_prefix
from pixel_anomaly_ros.networks import create_network
from pixel_anomaly_ros.networks.spade import fold_spectral_norm
from pixel_anomaly_ros.presets import preset_spec
from torch import nn

#: What each Light component's checkpoint is, for messages.
LIGHT_SOURCES = {
    'segmentation': 'a Fast_Seg ICNet(19) checkpoint (state_dict of libs/models/ICNet.py)',
    'synthesis': 'an NVlabs SPADE Cityscapes generator (latest_net_G.pth, 36 input channels)',
    'perceptual': 'a torchvision VGG19 state_dict (vgg19-dcbb9e9d.pth, features.* keys)',
    'dissimilarity': 'a SynBoost DissimNetPrior checkpoint '
                     '(best_net_baseline_void_prior_spadedecoder_mult_3.pth)',
}


def convert_synboost_light(out_dir, segmentation, synthesis, perceptual, dissimilarity,
                           name: Optional[str] = None, preset: str = 'light',
                           input_size: Optional[Tuple[int, int]] = None,
                           trust_pickle: bool = False, overwrite: bool = False,
                           uint8_round_trips: bool = True) -> Bundle:
    """
    Convert the four official checkpoints of SynBoost Light into a bundle.

    The official pipeline stores the re-synthesis, entropy, distance and perceptual difference
    as 8-bit images before the dissimilarity network reads them; ``uint8_round_trips`` (on by
    default here) reproduces that inside the graphs.

    :param out_dir: bundle directory to create.
    :param segmentation: Fast_Seg ICNet checkpoint.
    :param synthesis: NVlabs SPADE Cityscapes ``latest_net_G.pth``.
    :param perceptual: torchvision VGG19 ImageNet state_dict.
    :param dissimilarity: SynBoost dissimilarity checkpoint.
    :param name: bundle name (default: the directory name).
    :param preset: architecture preset (``light``, or ``light_tiny`` for tests).
    :param input_size: (height, width) the segmentation runs at (default: the preset's).
    :param trust_pickle: allow full unpickling of files the safe loader refuses.
    :param overwrite: replace an existing bundle directory.
    :param uint8_round_trips: truncate the dissimilarity inputs to 8 bits as the official code.
    :return: the written bundle.
    """
    files = {'segmentation': segmentation, 'synthesis': synthesis,
             'perceptual': perceptual, 'dissimilarity': dissimilarity}
    spec = preset_spec(preset)
    spec.uint8_round_trips = uint8_round_trips
    networks = load_light_networks(spec, files, trust_pickle)
    return _write(spec, networks, files, out_dir, name, input_size, overwrite)


def load_light_networks(spec, files: Dict[str, object], trust_pickle: bool = False
                        ) -> Dict[str, nn.Module]:
    """
    Load official SynBoost Light checkpoints strictly into the preset's networks.

    :param spec: the preset spec (its builders).
    :param files: ``{component: checkpoint file}`` for some or all of :data:`LIGHT_SOURCES`.
    :param trust_pickle: allow full unpickling of files the safe loader refuses.
    :return: ``{component: network}``, spectral norm folded.
    """
    networks = {}
    for component, path in files.items():
        builder = spec.networks[component].builder
        state = read_state_dict(path, trust_pickle)
        if component == 'perceptual':
            state = select_prefix(state, 'features.')
        kwargs = {'spectral_norm': True} if component == 'synthesis' else {}
        network = create_network(builder, **kwargs)
        load_strict(network, state, path, LIGHT_SOURCES[component])
        if component == 'synthesis':
            fold_spectral_norm(network)
        networks[component] = network
    return networks


def convert_pebal(out_dir, checkpoint, name: Optional[str] = None, tiny: bool = False,
                  input_size: Optional[Tuple[int, int]] = None, trust_pickle: bool = False,
                  overwrite: bool = False) -> Bundle:
    """
    Convert an energy-scoring segmentation checkpoint into a PEBAL bundle.

    The family is recognised from the keys: PEBAL ``best_ad_ckpt.pth`` (``branch1.*``, 20
    outputs), NVIDIA ``cityscapes_best.pth`` (19 outputs: the un-fine-tuned energy baseline),
    or an ICNet with 20 (PEBAL head) or 19 outputs.

    :param out_dir: bundle directory to create.
    :param checkpoint: the checkpoint file.
    :param name: bundle name (default: the directory name).
    :param tiny: use the tiny architectures (tests).
    :param input_size: (height, width) the network runs at (default: the preset's).
    :param trust_pickle: allow full unpickling of files the safe loader refuses.
    :param overwrite: replace an existing bundle directory.
    :return: the written bundle.
    """
    state = read_state_dict(checkpoint, trust_pickle)
    suffix = '_tiny' if tiny else ''
    if has_prefix(state, 'branch1.'):
        preset, builder, what = 'pebal', 'pebal_wrn38', 'PEBAL best_ad_ckpt.pth (branch1.*)'
    elif has_prefix(state, 'head.conv_cls.'):
        classes = state['head.conv_cls.weight'].shape[0]
        preset, what = 'pebal_icnet', f'an ICNet checkpoint with {classes} outputs'
        builder = 'icnet_pebal' if classes == 20 else 'icnet_r50'
    else:
        preset, builder = 'pebal', 'deepwv3plus'
        what = "NVIDIA DeepWV3Plus cityscapes_best.pth (module.* under 'state_dict')"
    spec = preset_spec(preset + suffix)
    spec.networks['segmentation'].builder = builder + suffix
    if builder in ('deepwv3plus', 'icnet_r50'):
        spec.description = (f'Free-energy baseline of an un-fine-tuned {builder} (19 outputs, '
                            f'no abstention class).')
    network = create_network(builder + suffix)
    load_strict(network, state, checkpoint, what)
    return _write(spec, {'segmentation': network}, {'segmentation': checkpoint}, out_dir,
                  name, input_size, overwrite)


def _write(spec, networks: Dict[str, nn.Module], files: Dict[str, object], out_dir,
           name: Optional[str], input_size: Optional[Tuple[int, int]],
           overwrite: bool, extra_files: Optional[Dict[str, Path]] = None) -> Bundle:
    out_dir = Path(out_dir)
    spec.name = name or out_dir.name
    if input_size is not None:
        spec.input_size = tuple(input_size)
    spec.provenance = {
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'command': ' '.join(sys.argv),
        'sources': [{'component': c, 'file': Path(p).name, 'sha256': sha256_file(p)}
                    for c, p in files.items()],
    }
    return write_bundle(spec, {c: n.state_dict() for c, n in networks.items()}, out_dir,
                        overwrite=overwrite, files=extra_files)
