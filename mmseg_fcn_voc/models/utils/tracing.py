# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Whether the model is being traced symbolically (``torch.fx``), where shapes are not numbers."""
from torch.fx import _symbolic_trace


def is_symbolic_tracing() -> bool:
    """True while ``torch.fx`` traces the model symbolically (the converters' graph step,
    :mod:`mmseg_fcn_voc.conversion.graph`): tensor shapes are then proxies, so the shape checks
    that raise helpful errors on real inputs are skipped (the converters check every shape by
    running the network)."""
    check = getattr(_symbolic_trace, 'is_fx_symbolic_tracing', None) or \
        _symbolic_trace.is_fx_tracing  # torch < 2.7
    return check()
