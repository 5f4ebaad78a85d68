# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
SPADE semantic image synthesis generator (Park et al., CVPR 2019), Cityscapes configuration.

State-dict compatible with ``SPADEGenerator`` of the official NVlabs/SPADE repository
(``models/networks/generator.py``) built with the Cityscapes options (``label_nc=35`` +
instance edge = 36 input channels, ``ngf=64``, ``num_upsampling_layers='more'``,
``use_vae=False``, ``norm_G='spectralspadesyncbatch3x3'``), i.e.
``checkpoints/cityscapes_pretrained/latest_net_G.pth``. This is the synthesis network of
SynBoost's "Light" variant.

Spectral norm is reproduced by :class:`SpectralNormConv2d` (torch's ``weight_orig`` /
``weight_u`` / ``weight_v`` keys, eval-mode behaviour: no power iteration).
:func:`fold_spectral_norm` turns it into plain convolutions (keys ``conv_0.weight``);
``SPADEGenerator(spectral_norm=False)`` builds that folded layout directly. The synchronized
BatchNorm of the official code is a plain ``nn.BatchNorm2d(affine=False)`` here (identical
state_dict and eval behaviour: running statistics, eps 1e-5).
"""

import math
from typing import Tuple, Union

import torch
from torch import nn
import torch.nn.functional as F

_NUM_UP_LAYERS = {'normal': 5, 'more': 6, 'most': 7}
_LRELU_SLOPE = 0.2
_SN_EPS = 1e-12

IntPair = Union[int, Tuple[int, int]]


def resize_nearest_floor(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """
    Resize with PyTorch's ``'nearest'`` (output pixel ``i`` samples input ``floor(i * H / h)``).

    A reduction by whole factors is then a strided slice: the same values without the copy the
    interpolation makes (19 per generator pass; a quarter of the demo generator's time), and one
    ONNX Slice instead of a Resize.

    :param x: (B, C, H, W) tensor.
    :param size: (height, width).
    :return: the resized tensor (``x`` itself at its own size, a view for whole factors).
    """
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return x
    if height % size[0] == 0 and width % size[1] == 0:
        return x[..., ::height // size[0], ::width // size[1]]
    return F.interpolate(x, size=size, mode='nearest')


def _pair(value: IntPair) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class SpectralNormConv2d(nn.Module):
    """
    Conv2d with torch's spectral-norm parametrisation, evaluated as in eval mode.

    Parameters/buffers carry the names that ``torch.nn.utils.spectral_norm(nn.Conv2d(...))``
    produces: ``bias`` (optional), ``weight_orig`` (parameter), ``weight_u`` ([out]) and
    ``weight_v`` ([in / groups * kh * kw]) (buffers). The effective weight is always
    ``weight_orig / sigma`` with ``sigma = u . (W_mat v)`` from the STORED ``u`` and ``v`` (no
    power iteration, also in training mode): this module is meant for inference with trained
    weights. Legacy (pre torch 1.0) state_dicts that store ``weight`` instead of ``weight_v`` are
    upgraded on load exactly like torch does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1,
                 groups: int = 1, bias: bool = True) -> None:
        """
        Create the layer (same arguments as ``nn.Conv2d``, zero padding only).

        :param in_channels: input channels.
        :param out_channels: output channels.
        :param kernel_size: kernel size.
        :param stride: stride.
        :param padding: zero padding.
        :param dilation: dilation.
        :param groups: groups.
        :param bias: whether the convolution has a bias.
        """
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        fan = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        # Registration order (bias, weight_orig, weight_u, weight_v) follows torch's spectral_norm.
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.weight_orig = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.register_buffer('weight_u', torch.empty(out_channels))
        self.register_buffer('weight_v', torch.empty(fan))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like ``nn.Conv2d`` and set ``u``/``v`` by a few power iterations."""
        nn.init.kaiming_uniform_(self.weight_orig, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight_orig[0].numel()
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)
        with torch.no_grad():
            w_mat = self.weight_orig.reshape(self.out_channels, -1)
            u = F.normalize(torch.randn_like(self.weight_u), dim=0, eps=_SN_EPS)
            v = F.normalize(torch.randn_like(self.weight_v), dim=0, eps=_SN_EPS)
            for _ in range(3):
                v = F.normalize(torch.mv(w_mat.t(), u), dim=0, eps=_SN_EPS)
                u = F.normalize(torch.mv(w_mat, v), dim=0, eps=_SN_EPS)
            self.weight_u.copy_(u)
            self.weight_v.copy_(v)

    def sigma(self) -> torch.Tensor:
        """
        Return the spectral-norm scale used in eval mode.

        :return: scalar tensor ``u . (W_mat v)`` from the stored vectors.
        """
        w_mat = self.weight_orig.reshape(self.out_channels, -1)
        return torch.dot(self.weight_u, torch.mv(w_mat, self.weight_v))

    def effective_weight(self) -> torch.Tensor:
        """
        Return the normalised convolution weight.

        :return: ``weight_orig / sigma`` with the shape of ``weight_orig``.
        """
        return self.weight_orig / self.sigma()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Convolve with the spectrally normalised weight.

        :param x: (B, in_channels, H, W) tensor.
        :return: (B, out_channels, H', W') tensor.
        """
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)

    def to_conv2d(self) -> nn.Conv2d:
        """
        Return an equivalent plain ``nn.Conv2d`` holding the folded weight.

        :return: new ``nn.Conv2d`` on the same device/dtype (keys ``weight`` and ``bias``).
        """
        w = self.weight_orig
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                         stride=self.stride, padding=self.padding, dilation=self.dilation,
                         groups=self.groups, bias=self.bias is not None,
                         device=w.device, dtype=w.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.effective_weight())
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        conv.train(self.training)
        return conv

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # Same upgrade as torch's SpectralNormLoadStateDictPreHook for pre-1.0 checkpoints,
        # which store the computed ``weight`` and no ``weight_v``.
        orig_key, u_key, w_key = prefix + 'weight_orig', prefix + 'weight_u', prefix + 'weight'
        if w_key in state_dict and orig_key in state_dict and u_key in state_dict:
            with torch.no_grad():
                weight_orig = state_dict[orig_key]
                sigma = (weight_orig / state_dict.pop(w_key)).mean()
                w_mat = weight_orig.reshape(weight_orig.shape[0], -1)
                u = state_dict[u_key]
                v = torch.linalg.multi_dot(
                    [w_mat.t().mm(w_mat).pinverse(), w_mat.t(), u.unsqueeze(1)]).squeeze(1)
                state_dict[prefix + 'weight_v'] = v * (sigma / torch.dot(u, torch.mv(w_mat, v)))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        """Describe the layer like ``nn.Conv2d``."""
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, padding={self.padding}, bias={self.bias is not None}')


def fold_spectral_norm(module: nn.Module) -> nn.Module:
    """
    Replace every :class:`SpectralNormConv2d` in ``module`` by its folded ``nn.Conv2d``.

    Works in place; afterwards the keys ``*.weight_orig/_u/_v`` become ``*.weight``.

    :param module: any module (possibly itself a :class:`SpectralNormConv2d`).
    :return: ``module`` (or the new conv when ``module`` itself was a SpectralNormConv2d).
    """
    if isinstance(module, SpectralNormConv2d):
        return module.to_conv2d()
    for name, child in list(module.named_children()):
        if isinstance(child, SpectralNormConv2d):
            setattr(module, name, child.to_conv2d())
        else:
            fold_spectral_norm(child)
    return module


class SPADEBatchNorm(nn.Module):
    """Spatially-adaptive normalisation: param-free BatchNorm modulated by the semantic map."""

    def __init__(self, norm_channels: int, label_channels: int, hidden_channels: int = 128,
                 kernel_size: int = 3) -> None:
        """
        Create the layer (official config ``spadesyncbatch3x3``).

        :param norm_channels: channels of the normalised activation.
        :param label_channels: channels of the semantic input (36 for Cityscapes).
        :param hidden_channels: width of the shared embedding (128, hard-coded officially).
        :param kernel_size: kernel size of the three convolutions.
        """
        super().__init__()
        pad = kernel_size // 2
        self.param_free_norm = nn.BatchNorm2d(norm_channels, affine=False)
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(label_channels, hidden_channels, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden_channels, norm_channels, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden_channels, norm_channels, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        """
        Normalise ``x`` and modulate it.

        :param x: (B, C, h, w) activation.
        :param segmap: (B, label_channels, H, W) semantic input, resized (nearest) to (h, w).
        :return: (B, C, h, w) ``BN(x) * (1 + gamma) + beta``.
        """
        normalized = self.param_free_norm(x)
        segmap = resize_nearest_floor(segmap, x.shape[2:])
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


def _conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool,
          spectral_norm: bool) -> nn.Module:
    if spectral_norm:
        return SpectralNormConv2d(in_channels, out_channels, kernel_size,
                                  padding=kernel_size // 2, bias=bias)
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class SPADEResnetBlock(nn.Module):
    """Residual block (SPADE, LReLU, conv) x 2; learned SPADE + 1x1 shortcut if fin != fout."""

    def __init__(self, in_channels: int, out_channels: int, label_channels: int,
                 hidden_channels: int = 128, spectral_norm: bool = True) -> None:
        """
        Create the block.

        :param in_channels: input channels (fin).
        :param out_channels: output channels (fout).
        :param label_channels: channels of the semantic input.
        :param hidden_channels: hidden width of the SPADE layers.
        :param spectral_norm: wrap the convs in :class:`SpectralNormConv2d` (official layout) or
            use plain ``nn.Conv2d`` (folded layout).
        """
        super().__init__()
        self.learned_shortcut = in_channels != out_channels
        middle = min(in_channels, out_channels)
        self.conv_0 = _conv(in_channels, middle, 3, True, spectral_norm)
        self.conv_1 = _conv(middle, out_channels, 3, True, spectral_norm)
        if self.learned_shortcut:
            self.conv_s = _conv(in_channels, out_channels, 1, False, spectral_norm)
        self.norm_0 = SPADEBatchNorm(in_channels, label_channels, hidden_channels)
        self.norm_1 = SPADEBatchNorm(middle, label_channels, hidden_channels)
        if self.learned_shortcut:
            self.norm_s = SPADEBatchNorm(in_channels, label_channels, hidden_channels)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """
        Apply the block.

        :param x: (B, fin, h, w) activation.
        :param seg: (B, label_channels, H, W) semantic input.
        :return: (B, fout, h, w) activation.
        """
        if self.learned_shortcut:
            x_s = self.conv_s(self.norm_s(x, seg))
        else:
            x_s = x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), _LRELU_SLOPE))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), _LRELU_SLOPE))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """
    NVlabs SPADE generator without VAE (the segmap itself, downsampled, is the latent input).

    The latent grid is derived from the input size: (H / 2**n_up, W / 2**n_up) with n_up = 5, 6, 7
    for 'normal', 'more', 'most'; the official code fixes it from ``crop_size``/``aspect_ratio``
    (4x8 for Cityscapes), which is the same for a 256x512 input. H and W must be multiples of
    2**n_up (64 for Cityscapes).
    """

    def __init__(self, semantic_channels: int = 36, base_channels: int = 64,
                 hidden_channels: int = 128, num_upsampling_layers: str = 'more',
                 spectral_norm: bool = True) -> None:
        """
        Create the generator.

        :param semantic_channels: input channels (35 label ids + 1 instance edge = 36).
        :param base_channels: ``ngf`` (64).
        :param hidden_channels: SPADE hidden width (128).
        :param num_upsampling_layers: 'normal', 'more' (Cityscapes) or 'most'.
        :param spectral_norm: official layout (``weight_orig/_u/_v``) or folded (``weight``).
        """
        super().__init__()
        if num_upsampling_layers not in _NUM_UP_LAYERS:
            raise ValueError(f'unknown num_upsampling_layers {num_upsampling_layers!r}')
        self.num_upsampling_layers = num_upsampling_layers
        self.num_up = _NUM_UP_LAYERS[num_upsampling_layers]
        nf = base_channels

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(fin, fout, semantic_channels, hidden_channels, spectral_norm)

        self.fc = nn.Conv2d(semantic_channels, 16 * nf, 3, padding=1)
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if num_upsampling_layers == 'most':
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode='nearest')

    def forward(self, segmap: torch.Tensor) -> torch.Tensor:
        """
        Synthesise an image from a semantic input.

        :param segmap: (B, semantic_channels, H, W) float one-hot + edge map
            (see :func:`label_map_to_spade_input`); H, W multiples of 2**n_up.
        :return: (B, 3, H, W) RGB image in [-1, 1] (tanh; ``(x + 1) / 2`` gives [0, 1]).
        """
        h, w = segmap.shape[-2:]
        factor = 2 ** self.num_up
        static = isinstance(h, int) and not torch.jit.is_tracing() \
            and not torch.compiler.is_compiling()
        if static and (h % factor or w % factor):
            raise ValueError(f'input size {h}x{w} must be a multiple of {factor}')
        x = resize_nearest_floor(segmap, (h // factor, w // factor))
        x = self.fc(x)
        x = self.head_0(x, segmap)
        x = self._up(x)
        x = self.G_middle_0(x, segmap)
        if self.num_upsampling_layers in ('more', 'most'):
            x = self._up(x)
        x = self.G_middle_1(x, segmap)
        for blk in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = blk(self._up(x), segmap)
        if self.num_upsampling_layers == 'most':
            x = self.up_4(self._up(x), segmap)
        x = self.conv_img(F.leaky_relu(x, _LRELU_SLOPE))
        return torch.tanh(x)


def label_map_to_spade_input(label_ids: torch.Tensor, num_labels: int = 35) -> torch.Tensor:
    """
    Build SPADE's semantic input from a Cityscapes label-id map.

    One-hot over ids 0..num_labels-1 (any other value, e.g. 255, gives an all-zero pixel) plus the
    instance-edge channel of ``pix2pix_model.get_edges`` computed from the same map (SynBoost Light
    passes the label map as instance map): a pixel is 1 when any 4-neighbour has a different id,
    on both sides of each boundary. ONNX-exportable (comparisons, slicing, concatenation).

    :param label_ids: (B, 1, H, W) (or (B, H, W)) integer label ids.
    :param num_labels: number of label channels (35).
    :return: (B, num_labels + 1, H, W) float32.
    """
    if label_ids.dim() == 3:
        label_ids = label_ids.unsqueeze(1)
    ids = torch.arange(num_labels, device=label_ids.device).view(1, num_labels, 1, 1)
    t = label_ids.long()
    one_hot = (t == ids).to(torch.float32)
    dx = (t[:, :, :, 1:] != t[:, :, :, :-1]).to(torch.float32)
    dy = (t[:, :, 1:, :] != t[:, :, :-1, :]).to(torch.float32)
    zx = torch.zeros_like(dx[:, :, :, :1])
    zy = torch.zeros_like(dy[:, :, :1, :])
    edge = (torch.cat([zx, dx], dim=3) + torch.cat([dx, zx], dim=3)
            + torch.cat([zy, dy], dim=2) + torch.cat([dy, zy], dim=2))
    edge = (edge > 0).to(torch.float32)
    return torch.cat([one_hot, edge], dim=1)


def spade_cityscapes(spectral_norm: bool = True) -> SPADEGenerator:
    """
    Build the NVlabs SPADE Cityscapes generator (36 -> RGB, ngf 64, 'more', 4x8 grid at 256x512).

    :param spectral_norm: True: official checkpoint layout; False: folded layout.
    :return: the generator.
    """
    return SPADEGenerator(36, 64, 128, 'more', spectral_norm)


def spade_tiny(spectral_norm: bool = True, ngf: int = 8) -> SPADEGenerator:
    """
    Build a small SPADE generator (36 inputs, hidden 16, 'more'; tests and demo bundles).

    :param spectral_norm: True: official checkpoint layout; False: folded layout.
    :param ngf: base width (8: 1.58 M parameters, 6: 1.01 M, 4: 0.57 M).
    :return: the generator.
    """
    return SPADEGenerator(36, int(ngf), 16, 'more', spectral_norm)
