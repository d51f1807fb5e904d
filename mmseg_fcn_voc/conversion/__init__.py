# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Weight conversion: name maps between frameworks/releases and checked checkpoint I/O."""
from .checkpoint_io import CheckpointError, load_state_dict_file, save_checkpoint
from .names import VGG16_CONV_NAMES, vgg16_torchvision_names
from .vgg16 import convert_vgg16

__all__ = [
    'CheckpointError', 'load_state_dict_file', 'save_checkpoint', 'VGG16_CONV_NAMES',
    'vgg16_torchvision_names', 'convert_vgg16'
]
