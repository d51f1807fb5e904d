# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What a network computes, described once: its traced graph (:mod:`.trace`), the arguments of its
layers (:mod:`.layer_specs`), its parameter names in every layout (:mod:`.layouts`) and the checks
against the published FCN networks (:mod:`.references`), the last two functions over the trace."""
from .segmentor import SegmentorNetwork, fcn_logits, input_size_problem
from .trace import TracedNetwork, UnsupportedModelError, trace_network

__all__ = ['SegmentorNetwork', 'fcn_logits', 'input_size_problem', 'TracedNetwork',
           'UnsupportedModelError', 'trace_network']
