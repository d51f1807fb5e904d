# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The bilinear upsampling kernel of FCN: the one implementation every module uses."""
import math
from typing import Optional

import torch
from torch import nn


def bilinear_kernel_1d(kernel_size: int, dtype=torch.float32) -> torch.Tensor:
    """1-D bilinear interpolation factor of length ``kernel_size``.

    ``f = ceil(k / 2)``, ``c = f - 1`` for odd ``k`` else ``f - 0.5``, ``w[i] = 1 - |i - c| / f``.
    For ``k = 4`` this is ``[0.25, 0.75, 0.75, 0.25]``.
    """
    if kernel_size < 1:
        raise ValueError(f'kernel_size must be >= 1, got {kernel_size}')
    factor = math.ceil(kernel_size / 2)
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    idx = torch.arange(kernel_size, dtype=torch.float64)
    return (1 - (idx - center).abs() / factor).to(dtype)


def bilinear_kernel(kernel_size: int, dtype=torch.float32) -> torch.Tensor:
    """2-D bilinear kernel of shape (k, k): the outer product of :func:`bilinear_kernel_1d`."""
    k1 = bilinear_kernel_1d(kernel_size, torch.float64)
    return torch.outer(k1, k1).to(dtype)


@torch.no_grad()
def fill_bilinear_(deconv: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """Fill a transposed convolution with the bilinear kernel, in place.

    Follows Caffe's ``bilinear`` filler as FCN uses it: one kernel per channel on the diagonal
    ``weight[m, m]`` and zero elsewhere (for a grouped/depthwise layer, ``weight[m, 0]``), bias zero.
    Weight layout: ``(in_channels, out_channels // groups, kh, kw)``.
    """
    weight = deconv.weight
    kh, kw = weight.shape[-2:]
    if kh != kw:
        raise ValueError(f'bilinear kernels are square, got {kh}x{kw}')
    in_ch, out_per_group = weight.shape[:2]
    groups = deconv.groups
    if groups == 1 and in_ch != out_per_group:
        raise ValueError('a bilinear ConvTranspose2d (groups=1) needs in_channels == out_channels, '
                         f'got {in_ch} -> {out_per_group}')
    if groups > 1 and out_per_group != 1:
        raise ValueError('a grouped bilinear ConvTranspose2d must be depthwise '
                         f'(out_channels == groups), got {out_per_group * groups} outputs for '
                         f'{groups} groups')
    kernel = bilinear_kernel(kh, weight.dtype).to(weight.device)
    weight.zero_()
    channels = torch.arange(in_ch, device=weight.device)
    weight[channels, channels if groups == 1 else 0] = kernel
    if deconv.bias is not None:
        deconv.bias.zero_()
    return deconv


class BilinearConvTranspose2d(nn.ConvTranspose2d):
    """A ``ConvTranspose2d`` that starts (and, if ``learnable=False``, stays) bilinear.

    Upsampling by ``stride`` uses ``kernel_size = 2 * stride``. With ``padding=0`` (the Caffe
    geometry) an ``(N, C, H, W)`` input becomes ``(N, C, (H - 1) * s + 2s, ...)``, aligned so that
    the crops of FCN apply; with ``padding = s // 2`` it is exactly ``(N, C, H * s, W * s)``.

    Args:
        channels (int): Input and output channels.
        stride (int): Upsampling factor ``s``.
        kernel_size (int, optional): Defaults to ``2 * stride``.
        padding (int): Implicit padding removed from each output border. Defaults to 0.
        learnable (bool): If False (Caffe's FCN) the weight has ``requires_grad=False``.
            Defaults to False.
        depthwise (bool): One kernel per channel (``groups=channels``) instead of a full
            ``channels x channels`` weight that is zero off the diagonal. Both compute the same
            upsampling; FCN's score upsamplers use the full form, which is what its checkpoints
            hold. Defaults to False.
        bias (bool): Defaults to False (FCN's deconvolutions have no bias).
        init (str): ``'bilinear'`` (default) or ``'xavier'`` (the MindSpore tutorial's FCN8s).

    ``init_weights()`` re-applies the chosen init; mmengine's ``BaseModule.init_weights`` reaches it
    through the parent and it is not a ``ConvModule``, so mmcv never re-initialises it with Kaiming.
    """

    def __init__(self,
                 channels: int,
                 stride: int,
                 kernel_size: Optional[int] = None,
                 padding: int = 0,
                 learnable: bool = False,
                 depthwise: bool = False,
                 bias: bool = False,
                 init: str = 'bilinear'):
        if stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        if init not in ('bilinear', 'xavier'):
            raise ValueError(f"init must be 'bilinear' or 'xavier', got {init!r}")
        kernel_size = 2 * stride if kernel_size is None else kernel_size
        super().__init__(
            channels,
            channels,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=channels if depthwise else 1,
            bias=bias)
        self.init = init
        self.learnable = learnable
        self.init_weights()
        self.weight.requires_grad_(learnable)
        if self.bias is not None:
            self.bias.requires_grad_(learnable)

    @torch.no_grad()
    def init_weights(self) -> None:
        if self.init == 'bilinear':
            fill_bilinear_(self)
        else:
            nn.init.xavier_uniform_(self.weight)
            if self.bias is not None:
                self.bias.zero_()

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, init={self.init}, learnable={self.learnable}'
