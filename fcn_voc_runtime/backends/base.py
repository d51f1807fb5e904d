# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The contract every deployment backend implements (one module per backend beside this one).

A backend module defines a class that satisfies :class:`DeployedModel` and a function
``load(deploy: DeployFolder, device_target: str, device_id: int = 0) -> DeployedModel``;
:func:`~fcn_voc_runtime.backends.load_model` imports the module only when it is chosen, so a host
needs only its own backend.
"""
from typing import List, Optional, Protocol, Tuple, runtime_checkable

import numpy as np

from ..choices import DEVICE_TARGETS  # noqa: F401  (the targets a backend may be asked for)


@runtime_checkable
class DeployedModel(Protocol):
    """A converted FCN, loaded and ready.

    Attributes:
        backend: ``'mindspore'`` or ``'onnxruntime'``.
        device: the device the model actually runs on (one of :data:`DEVICE_TARGETS`), read back
            from the backend after loading, not the one that was asked for.
        precision: the arithmetic the backend was asked to use (``'float32'`` on CPU).
        notes: lines for the user about the set-up (e.g. a faster MindSpore for this CPU).
    """

    backend: str
    device: str
    precision: str
    notes: List[str]

    def __call__(self, x: np.ndarray, valid: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """(1, 3, H, W) float32 network input (or, where ``takes_uint8`` is set, the (1, H, W, 3)
        uint8 pixels an AIPP model normalises itself) -> (1, K, H, W) float32 logits, or the
        (1, H, W) class map of a network exported with its argmax. ``valid``: the (h, w) of the
        image inside the padded input (an AIPP model resets the padding from it)."""
        ...
