# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Layer names of the FCN/VGG-16 family in every framework and release: kept in one place."""
from typing import Dict

from ..models.backbones.fcn_vgg import VGG16_STAGES

#: Caffe/torchfcn names of the 13 VGG-16 convolutions, in order: conv1_1 ... conv5_3.
VGG16_CONV_NAMES = tuple(f'conv{s}_{j}' for s, (n, _) in enumerate(VGG16_STAGES, start=1)
                         for j in range(1, n + 1))


def vgg16_torchvision_names() -> Dict[str, str]:
    """torchvision ``vgg16`` layer prefixes -> Caffe names (``features.0`` -> ``conv1_1``, ...).

    ``features`` interleaves conv, ReLU and pooling (``nn.Sequential`` indices 0, 2, 5, 7, ...);
    ``classifier.0`` / ``classifier.3`` are fc6 / fc7 as ``Linear`` layers; ``classifier.6`` (the
    1000-way ImageNet classifier) has no FCN counterpart.
    """
    names, idx = {}, 0
    conv = iter(VGG16_CONV_NAMES)
    for num_convs, _ in VGG16_STAGES:
        for _ in range(num_convs):
            names[f'features.{idx}'] = next(conv)
            idx += 2  # conv, ReLU
        idx += 1  # pool
    names['classifier.0'] = 'fc6'
    names['classifier.3'] = 'fc7'
    return names


def fcnvgg_key(layer: str, param: str) -> str:
    """Key of ``FCNVGG``'s state dict for a Caffe layer name: ``conv1_1.conv.weight``."""
    return f'{layer}.conv.{param}'
