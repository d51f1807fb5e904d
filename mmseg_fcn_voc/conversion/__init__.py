# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Weight conversion: name maps between frameworks/releases and checked checkpoint I/O.

Importing this package does not import MindSpore; the MindSpore modules (``mindspore_*``,
``to_mindspore``, ``from_mindspore``) import it when used.
"""
from .architecture import UnsupportedModelError, describe_fcn, tutorial_mismatches
from .checkpoint_io import CheckpointError, load_state_dict_file, save_checkpoint
from .names import (LAYOUTS, VGG16_CONV_NAMES, KeyMapError, layout_key, layout_key_map,
                    vgg16_torchvision_names)
from .vgg16 import convert_vgg16

#: What the converter CLIs report as "cannot convert" (exit status 2) rather than crash on: every
#: error of this package is a ValueError (CheckpointError, UnsupportedModelError, KeyMapError, the
#: data readers' VOCFormatError); missing files are OSErrors.
CONVERSION_ERRORS = (ValueError, OSError)

__all__ = [
    'CheckpointError', 'load_state_dict_file', 'save_checkpoint', 'VGG16_CONV_NAMES',
    'vgg16_torchvision_names', 'convert_vgg16', 'LAYOUTS', 'KeyMapError', 'layout_key',
    'layout_key_map', 'UnsupportedModelError', 'describe_fcn', 'tutorial_mismatches',
    'CONVERSION_ERRORS'
]
