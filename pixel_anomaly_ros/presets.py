# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Architecture presets: the bundle specs of the networks this package knows how to run.

A preset fixes the networks, sizes and input normalisation of a bundle; ``convert`` fills it
with official weights, ``bench`` and the tests fill it with random ones.
"""

from typing import Dict

from pixel_anomaly_ros.bundle import BundleSpec, IMAGENET_MEAN, IMAGENET_STD, NetworkSpec

#: Fast_Seg's ICNet default pre-processing: BGR, caffe mean subtraction, no scaling.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
UNIT_STD = (1.0, 1.0, 1.0)
#: ICNet width of the v3 presets: the widest that, with SPADE ngf 6 and the dissimilarity
#: network at width 4, keeps the Light bundle with its ONNX graphs under 25 MB.
V3_ICNET_WIDTH = 4


def _light(name: str, tiny: bool) -> BundleSpec:
    suffix = '_tiny' if tiny else ''
    return BundleSpec(
        name=name, variant='synboost_light',
        networks={
            'segmentation': NetworkSpec('icnet_tiny' if tiny else 'icnet_r50'),
            'synthesis': NetworkSpec('spade_tiny' if tiny else 'spade_cityscapes',
                                     {'spectral_norm': False}),
            'perceptual': NetworkSpec('vgg19_difference' + suffix),
            'dissimilarity': NetworkSpec('dissim_prior' + suffix),
        },
        input_size=(128, 256) if tiny else (1024, 2048),
        synthesis_size=(64, 128) if tiny else (256, 512),
        channel_order='bgr', mean=CAFFE_BGR_MEAN, std=UNIT_STD,
        description='SynBoost Light: ICNet segmentation, SPADE re-synthesis, VGG19 perceptual '
                    'difference, DissimNetPrior.')


def _pebal(name: str, tiny: bool, icnet: bool) -> BundleSpec:
    if icnet:
        builder = 'icnet_pebal_tiny' if tiny else 'icnet_pebal'
        mean, std, order = CAFFE_BGR_MEAN, UNIT_STD, 'bgr'
        text = 'PEBAL energy head on ICNet (19 inlier + 1 abstention outputs), real-time variant.'
    else:
        builder = 'pebal_wrn38_tiny' if tiny else 'pebal_wrn38'
        mean, std, order = IMAGENET_MEAN, IMAGENET_STD, 'rgb'
        text = 'PEBAL: DeepLabV3+ WideResNet38 with an abstention class; free-energy score.'
    return BundleSpec(
        name=name, variant='pebal', networks={'segmentation': NetworkSpec(builder)},
        input_size=(128, 256) if tiny else (1024, 2048),
        channel_order=order, mean=mean, std=std,
        # PEBAL's training margins: inlier energy pushed below -12, outliers above -6.
        score_lo=-12.0, score_hi=-6.0, threshold=0.5,
        description=text)


def _light_tiny_v2() -> BundleSpec:
    """Light at demo size without lattice artefacts and with a wider ICNet (issue 15)."""
    spec = _light('synboost_light_tiny_v2', tiny=True)
    spec.networks['segmentation'] = NetworkSpec('icnet_tiny',
                                                {'align_corners': False, 'width': 2})
    spec.networks['dissimilarity'] = NetworkSpec('dissim_prior_tiny', {'upsampling': 'resize'})
    spec.coarse_scores = True
    return spec


def _pebal_icnet_tiny_v2() -> BundleSpec:
    """PEBAL on the ICNet of :func:`_light_tiny_v2` (same keys and shapes, 20 outputs)."""
    spec = _pebal('pebal_icnet_tiny_v2', tiny=True, icnet=True)
    spec.networks['segmentation'] = NetworkSpec('icnet_pebal_tiny',
                                                {'align_corners': False, 'width': 2})
    spec.coarse_scores = True
    return spec


def _light_tiny_v3() -> BundleSpec:
    """:func:`_light_tiny_v2` with a 4x ICNet, a 4x dissimilarity network, a narrower SPADE."""
    spec = _light_tiny_v2()
    spec.name = 'synboost_light_tiny_v3'
    spec.networks['segmentation'].args['width'] = V3_ICNET_WIDTH
    spec.networks['synthesis'].args['ngf'] = 6
    spec.networks['dissimilarity'].args['width'] = 4
    return spec


def _pebal_icnet_tiny_v3() -> BundleSpec:
    """PEBAL on the ICNet of :func:`_light_tiny_v3`, its energy resized with ``smooth``."""
    spec = _pebal_icnet_tiny_v2()
    spec.name = 'pebal_icnet_tiny_v3'
    spec.networks['segmentation'].args['width'] = V3_ICNET_WIDTH
    spec.coarse_resize = 'smooth'
    return spec


PRESETS = {
    'light': lambda: _light('synboost_light', tiny=False),
    'light_tiny': lambda: _light('synboost_light_tiny', tiny=True),
    'pebal': lambda: _pebal('pebal_wrn38', tiny=False, icnet=False),
    'pebal_tiny': lambda: _pebal('pebal_wrn38_tiny', tiny=True, icnet=False),
    'pebal_icnet': lambda: _pebal('pebal_icnet', tiny=False, icnet=True),
    'pebal_icnet_tiny': lambda: _pebal('pebal_icnet_tiny', tiny=True, icnet=True),
    # issue 15: half-pixel resizes, scores from the coarse logits, resize-convolution
    # decoder, 2x wider ICNet
    'light_tiny_v2': _light_tiny_v2,
    'pebal_icnet_tiny_v2': _pebal_icnet_tiny_v2,
    # issue 15, capacity: 4x ICNet, 4x dissimilarity network, SPADE ngf 6 (bundle <= 25 MB)
    'light_tiny_v3': _light_tiny_v3,
    'pebal_icnet_tiny_v3': _pebal_icnet_tiny_v3,
}


def preset_spec(name: str) -> BundleSpec:
    """
    Return a fresh bundle spec for a named architecture preset.

    :param name: one of :data:`PRESETS`.
    :return: a new :class:`BundleSpec` (safe to modify).
    :raises ValueError: for an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f'unknown preset {name!r}; choose one of {sorted(PRESETS)}')
    return PRESETS[name]()


def list_presets() -> Dict[str, str]:
    """Return ``{preset: description}``."""
    return {name: make().description for name, make in PRESETS.items()}
