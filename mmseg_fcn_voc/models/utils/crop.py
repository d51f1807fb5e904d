# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Crop-and-align of FCN: the one place where feature maps are brought to a reference size."""
from typing import Sequence, Tuple, Union

import torch

from .tracing import is_symbolic_tracing

Size = Union[Tuple[int, int], Sequence[int], torch.Size]


def crop_to(x: torch.Tensor, size: Size, offset: int = 0, what: str = 'feature map') -> torch.Tensor:
    """Crop ``x`` of shape (N, C, H, W) to ``size = (h, w)`` starting at ``(offset, offset)``.

    This is Caffe's ``Crop`` layer as FCN uses it: ``x[..., o:o + h, o:o + w]``. No interpolation
    is ever applied: if ``x`` is too small for the crop, a ``ValueError`` says by how much, since a
    silent resize would hide an off-by-one in the network geometry.

    Returns:
        Tensor: (N, C, h, w).
    """
    # No int(): while tracing (ONNX export with dynamic axes) the sizes are traced values and the
    # crop must stay a function of the input's shape.
    h, w = size[0], size[1]
    if is_symbolic_tracing():  # a graph for every input size: always the slice
        return x[..., offset:offset + h, offset:offset + w]
    H, W = x.shape[-2:]
    if offset < 0 or offset + h > H or offset + w > W:
        raise ValueError(
            f'cannot crop {what} of size {H}x{W} to {h}x{w} at offset {offset}: the input is '
            f'{max(offset + h - H, offset + w - W, 0)} px too small. With the pad-free (\'same\') '
            'geometry the input height and width must be multiples of the output stride (pad the '
            'batch, e.g. SegDataPreProcessor(size_divisor=32)).')
    if offset == 0 and h == H and w == W:
        return x
    return x[..., offset:offset + h, offset:offset + w]
