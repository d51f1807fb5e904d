# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Upsample backbone levels with bilinear-initialised transposed convolutions."""
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import BilinearConvTranspose2d, is_symbolic_tracing


@MODELS.register_module()
class BilinearDeconvNeck(BaseModule):
    """Bring backbone levels to finer strides with FCN's bilinear transposed convolutions.

    Each input ``i`` (N, C_i, H_i, W_i) becomes (N, C_i, H_i * s_i, W_i * s_i) with
    ``s_i = scale_factors[i]``: a transposed conv of kernel ``2 s``, stride ``s``, padding ``s / 2``,
    one bilinear kernel per channel (depthwise), fixed or learnable. ``s = 1`` passes the level
    through unchanged. The outputs keep the order of the inputs, so any mmseg head can consume them
    by ``in_index``; e.g. ResNet's strides (4, 8, 16, 32) with ``scale_factors=(1, 2, 4, 8)`` all
    arrive at stride 4 for ``FCNHead(input_transform='resize_concat')``.

    Args:
        in_channels (Sequence[int]): Channels of each input level.
        scale_factors (Sequence[int]): Upsampling factor per level (powers of two or 1).
        learnable (bool): Train the kernels (they start bilinear). Defaults to False.
        depthwise (bool): One kernel per channel (default). False uses a full C x C weight that is
            zero off the diagonal, as FCN's score upsamplers do; it costs C^2 k^2 parameters.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 scale_factors: Sequence[int],
                 learnable: bool = False,
                 depthwise: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        in_channels, scale_factors = list(in_channels), list(scale_factors)
        if len(in_channels) != len(scale_factors):
            raise ValueError(f'BilinearDeconvNeck: in_channels={in_channels} and scale_factors='
                             f'{scale_factors} need one entry per input level')
        for s in scale_factors:
            if not isinstance(s, int) or s < 1 or (s > 1 and s % 2):
                raise ValueError(f'BilinearDeconvNeck: scale_factors={scale_factors} must be 1 '
                                 'or even integers')
        self.in_channels = in_channels
        self.scale_factors = scale_factors
        self.upsamplers = nn.ModuleList([
            nn.Identity() if s == 1 else BilinearConvTranspose2d(
                c, s, padding=s // 2, learnable=learnable, depthwise=depthwise)
            for c, s in zip(in_channels, scale_factors)
        ])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Upsample each level: ``(N, C_i, H_i, W_i) -> (N, C_i, H_i s_i, W_i s_i)``."""
        if is_symbolic_tracing():
            return tuple(up(x) for up, x in zip(self.upsamplers, inputs))
        if len(inputs) != len(self.upsamplers):
            raise ValueError(f'BilinearDeconvNeck was built for {len(self.upsamplers)} inputs '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        for i, (x, c) in enumerate(zip(inputs, self.in_channels)):
            if x.shape[1] != c:
                raise ValueError(f'BilinearDeconvNeck: in_channels[{i}]={c} but input {i} has '
                                 f'{x.shape[1]} channels')
        return tuple(up(x) for up, x in zip(self.upsamplers, inputs))
