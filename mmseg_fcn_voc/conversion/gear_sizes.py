# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Static gears: a few fixed input sizes, one static model each, for runtimes that take no dynamic
shapes (Ascend's ATC and the 310's offline models).

An image runs on the smallest gear that holds its network input (the preprocessed image padded to
the config's size divisor; :func:`fcn_voc_runtime.geared_model.pick_gear`): the input is padded further
at the bottom and right with the preprocessor's pad value, as mmseg pads, and the logits are
cropped back. Padding is not free of
effects: pixels near the bottom and right edges see the padding in their receptive field, so the
exporters measure the agreement of the geared model with native-size inference on real images.

Why one static model per gear and not one ATC ``--dynamic_image_size`` model: ATC refuses gears
for graphs that compute shapes at run time, and the FCN graphs exported for any size do (their
crops and output sizes follow the input's shape); a static export has constant crops.
"""
from typing import List, Sequence, Tuple, Union

Size = Tuple[int, int]

#: Every PASCAL VOC 2012 image fits in 500 x 500; most are 500 x 375 or 375 x 500.
VOC_GEARS: Tuple[Size, ...] = ((375, 500), (500, 375), (500, 500))


def parse_gears(text: str) -> Union[str, List[Size]]:
    """``'voc'`` or ``'HxW[,HxW...]'`` (the ``--gears`` argument) -> ``'voc'`` or sizes.

    Raises:
        ValueError: a malformed size (argparse reports it as a usage error).
    """
    if text.strip().lower() == 'voc':
        return 'voc'
    sizes = []
    for part in text.split(','):
        try:
            h, w = (int(v) for v in part.lower().split('x'))
        except ValueError:
            raise ValueError(f'gear {part!r}: expected HxW, e.g. 375x500') from None
        if h < 1 or w < 1:
            raise ValueError(f'gear {part!r}: sizes must be positive')
        sizes.append((h, w))
    if len(set(sizes)) != len(sizes):
        raise ValueError(f'gears {text!r}: a size is repeated')
    return sizes


def resolve_gears(gears: Union[str, Sequence[Size]], size_divisor: int) -> List[Size]:
    """The gear sizes, smallest area first: ``'voc'`` is :data:`VOC_GEARS` rounded up to
    multiples of ``size_divisor`` (the 'same' geometry's 32); given sizes are taken as they are
    (the exporter refuses one the network cannot take)."""
    if gears == 'voc':
        d = max(size_divisor, 1)
        gears = [(-(-h // d) * d, -(-w // d) * d) for h, w in VOC_GEARS]
    return sorted({tuple(g) for g in gears}, key=lambda g: (g[0] * g[1], g))
