# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A backbone's output tuple that remembers the size of the image it was computed from."""
from typing import Iterable, Optional, Sequence, Tuple

from torch import Tensor


class FeatureMaps(tuple):
    """The maps of ``FCNVGG.forward`` (a tuple, as mmseg expects), plus ``input_size``.

    With the Caffe geometry the maps are larger than ``input / stride`` (conv1_1 pads by 100) and
    ceil-mode pooling maps up to 8 input sizes onto the same map sizes, so a head cannot recover the
    input size from the maps. ``EncoderDecoder(..., mode='tensor')`` calls ``decode_head(feats)``
    without the batch's metas; the FCN heads read ``feats.input_size`` there to crop the logits to
    exactly the input's height and width.

    Args:
        maps: the feature maps.
        input_size: (H, W) of the network input.
    """

    input_size: Tuple[int, int]

    def __new__(cls, maps: Iterable[Tensor], input_size: Sequence[int]) -> 'FeatureMaps':
        obj = super().__new__(cls, maps)
        obj.input_size = (input_size[0], input_size[1])
        return obj

    def __getnewargs__(self):  # copy/pickle
        return tuple(self), self.input_size


def input_size_of(feats) -> Optional[Tuple[int, int]]:
    """``feats.input_size`` when ``feats`` are :class:`FeatureMaps`, else None."""
    return getattr(feats, 'input_size', None)
