# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Weight conversion, torch side: specs, name maps, checked model I/O, parity, the export skeleton.

Importing this package imports neither MindSpore nor ONNX: those live in the :mod:`.mindspore` and
:mod:`.onnx` subpackages, the only modules importing them. The published-weight importers are in
:mod:`.importers`.
"""
from .describe import UnsupportedModelError, describe_fcn
from .model_io import (
                       CheckpointError,
                       build_and_load,
                       build_model,
                       load_state_dict_file,
                       save_checkpoint,
)
from .names import (
                       LAYOUTS,
                       VGG16_CONV_NAMES,
                       KeyMapError,
                       layout_key,
                       layout_key_map,
                       vgg16_torchvision_names,
)
from .references import tutorial_mismatches

__all__ = [
    'CheckpointError', 'load_state_dict_file', 'save_checkpoint', 'build_model', 'build_and_load',
    'VGG16_CONV_NAMES', 'vgg16_torchvision_names', 'LAYOUTS', 'KeyMapError', 'layout_key',
    'layout_key_map', 'UnsupportedModelError', 'describe_fcn', 'tutorial_mismatches'
]
