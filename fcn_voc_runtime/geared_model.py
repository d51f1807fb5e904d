# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A deploy folder of static gears (``to_onnx.py --gears``) as one model: each input runs on the
smallest gear that holds it, padded at the bottom and right with the preprocessor's pad value,
and the logits are cropped back to the input's size."""
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fcn_voc_core.errors import InputError

Size = Tuple[int, int]


def pick_gear(gears: Sequence[Size], height: int, width: int) -> Optional[Size]:
    """The smallest-area gear that holds a ``height`` x ``width`` network input, or None."""
    fitting = [tuple(g) for g in gears if g[0] >= height and g[1] >= width]
    return min(fitting, key=lambda g: (g[0] * g[1], g)) if fitting else None


class GearedModel:
    """``model(x, valid)``: (1, 3, h, w) float32 (or an AIPP model's (1, h, w, 3) uint8) ->
    (1, K, h, w) logits (or class map) through the gear :func:`pick_gear` chooses (a
    :class:`~.backends.base.DeployedModel`).

    Args:
        deploy: the folder's :class:`~.deploy.DeployFolder` (``deploy.gears``: ``[(size, file)]``).
        load: ``load(gear_folder) -> DeployedModel`` for one gear's model file.
    """

    def __init__(self, deploy, load: Callable):
        self.deploy = deploy
        self.gears: List[Size] = [tuple(size) for size, _ in deploy.gears]
        self.models: Dict[Size, object] = {}
        for size, path in deploy.gears:
            self.models[tuple(size)] = load(replace(deploy, model_file=path,
                                                    input_shape=[1, 3, *size], gears=[]))
        first = self.models[self.gears[0]]
        self.backend, self.device, self.precision = first.backend, first.device, first.precision
        self.notes = list(first.notes) + [
            f'static gears {", ".join(f"{h}x{w}" for h, w in self.gears)}: each image runs on '
            'the smallest that holds it']
        self.pad_value = deploy.pad_value
        self.takes_uint8 = getattr(first, 'takes_uint8', False)

    def __call__(self, x: np.ndarray, valid=None) -> np.ndarray:
        nhwc = x.dtype == np.uint8  # the pixels of an AIPP model, (1, H, W, 3), padded with 0
        h, w = x.shape[1:3] if nhwc else x.shape[-2:]
        gear = pick_gear(self.gears, h, w)
        if gear is None:
            raise InputError(f'a {h}x{w} network input is larger than every gear '
                             f'({", ".join(f"{a}x{b}" for a, b in self.gears)})')
        if gear != (h, w):
            pad = ((0, gear[0] - h), (0, gear[1] - w))
            x = np.pad(x, ((0, 0), *pad, (0, 0))) if nhwc else np.pad(
                x, ((0, 0), (0, 0), *pad), constant_values=self.pad_value)
        return self.models[gear](np.ascontiguousarray(x), valid or (h, w))[..., :h, :w]
