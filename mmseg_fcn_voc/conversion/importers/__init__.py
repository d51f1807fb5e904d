# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Published weights -> mmseg checkpoints: the authors' FCNs in torchfcn naming (:mod:`.torchfcn`)
and VGG-16 ImageNet weights (:mod:`.vgg16`), on the shared checks of :mod:`.common`."""
from .vgg16 import convert_vgg16

__all__ = ["convert_vgg16"]
