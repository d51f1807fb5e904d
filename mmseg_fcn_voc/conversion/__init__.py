# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Weight conversion, torch side: the one description of a network (:mod:`.network`), checked
checkpoint I/O (:mod:`.checkpoint`), the export pipeline (:mod:`.pipeline`) and its checks
(:mod:`.checks`).

Importing this package imports neither MindSpore nor ONNX: those live in the :mod:`.mindspore` and
:mod:`.onnx` subpackages (one per backend), the only modules importing them. The published-weight
importers are in :mod:`.importers` (and :mod:`.mindspore.importer`).
"""
from .checkpoint import (
    CheckpointError,
    build_and_load,
    build_model,
    load_state_dict_file,
    save_checkpoint,
)
from .network.layouts import (
    LAYOUTS,
    VGG16_CONV_NAMES,
    KeyMapError,
    layout_key,
    layout_key_map,
    vgg16_torchvision_names,
)
from .network.references import tutorial_mismatches
from .network.trace import UnsupportedModelError, trace_network

__all__ = [
    'CheckpointError', 'load_state_dict_file', 'save_checkpoint', 'build_model', 'build_and_load',
    'VGG16_CONV_NAMES', 'vgg16_torchvision_names', 'LAYOUTS', 'KeyMapError', 'layout_key',
    'layout_key_map', 'UnsupportedModelError', 'trace_network', 'tutorial_mismatches'
]
