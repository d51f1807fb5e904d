# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""An mmseg segmentor's inference network as a plain torch module: what is traced, exported and
compared against."""
from typing import Optional, Tuple

import torch
from mmseg.models.utils import resize
from torch import nn

from ...models.decode_heads.fcn_skip_head import FCNSkipHead


class SegmentorNetwork(nn.Module):
    """``forward(x) -> logits``: (N, 3, H, W) normalised input -> (N, K, H, W) logits.

    Exactly what ``EncoderDecoder.encode_decode`` computes for a batch whose (padded) shape is the
    input's: backbone, neck, decode head, then the head's own way to the input size: the FCN heads
    crop (``FCNSkipHead.forward(feats, (H, W))``), every other mmseg head is resized as
    ``BaseDecodeHead.predict_by_feat`` does (bilinear, the head's ``align_corners``).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x, mode='tensor')  # backbone -> neck -> decode_head.forward
        head = getattr(self.model, 'decode_head', None)
        if head is None or isinstance(head, FCNSkipHead):  # already at the input size
            return logits
        return resize(logits, size=x.shape[2:], mode='bilinear', align_corners=head.align_corners,
                      warning=False)


@torch.no_grad()
def fcn_logits(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) normalised inputs -> (N, K, H, W) logits, as the converted networks compute
    (:class:`SegmentorNetwork`)."""
    return SegmentorNetwork(model).eval()(inputs)


def input_size_problem(model: nn.Module, size: Tuple[int, int]) -> Optional[str]:
    """Why ``size`` cannot be an input of ``model`` (None if it can): the 'same' geometry needs
    multiples of 32."""
    head = getattr(model, 'decode_head', None)
    if min(size) < 1:
        return f'input size {size[0]}x{size[1]} is empty'
    if getattr(head, 'geometry', 'caffe') == 'same' and (size[0] % 32 or size[1] % 32):
        return (f"input size {size[0]}x{size[1]}: the pad-free ('same') geometry needs height and "
                'width that are multiples of 32')
    return None
