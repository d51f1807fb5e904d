# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The two network geometries the FCN components support.

``'caffe'``  The authors' release: conv1_1 padding 100, fc6 7x7 without padding, ceil-mode pooling,
             transposed convolutions without padding and crops at fixed offsets (5, 9 for the skips;
             19 / 27 / 31 for the final 32s / 16s / 8s outputs). Any input size from 1 px works and
             the logits have exactly the input's size.
``'same'``   Pad-free: every layer keeps ``size / stride`` exactly (conv1_1 padding 1, fc6 padding
             3, transposed convs with padding ``stride / 2``), as in the MindSpore tutorial's FCN8s
             and in mmseg's own backbones. Inputs must be multiples of the output stride (32 for VGG),
             which mmseg's ``SegDataPreProcessor(size_divisor=32)`` arranges for batches.
"""
GEOMETRIES = ('caffe', 'same')


def check_geometry(geometry: str, owner: str) -> str:
    if geometry not in GEOMETRIES:
        raise ValueError(f'{owner}: unknown geometry={geometry!r}; expected one of {GEOMETRIES}')
    return geometry
