# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore: the MINDIR as an ``nn.GraphCell`` on CPU, GPU or Ascend."""
from typing import List

import numpy as np

from fcn_voc_core.errors import InputError
from fcn_voc_core.mindspore_cpu import avx2_cap_hint, configure_cpu

from ..deploy import DeploySpec


class MindSporeModel:
    """``model(x)``: (1, 3, H, W) float32 -> (1, K, H, W) float32 logits (a
    :class:`~.base.DeployedModel`)."""

    backend = 'mindspore'

    def __init__(self, spec: DeploySpec, device_target: str = 'CPU', device_id: int = 0):
        import mindspore as ms
        from mindspore import nn

        self.ms = ms
        self.notes: List[str] = []
        if device_target == 'CPU':
            hint = avx2_cap_hint(configure_cpu())  # before the first kernel
            if hint:
                self.notes.append(hint)
        if device_target == 'CPU':
            ms.set_context(device_target=device_target)
        else:
            ms.set_context(device_target=device_target, device_id=device_id)
        self.device = ms.get_context('device_target')
        # MindSpore picks the NPU's precision by SoC when none is set (allow_fp32_to_fp16, or
        # must_keep_origin_dtype on 910B); this runtime sets none
        self.precision = 'float32' if self.device == 'CPU' else f'{self.device} default'
        try:
            self.graph = nn.GraphCell(ms.load(spec.model_file))
        except (RuntimeError, ValueError, TypeError) as e:
            raise InputError(f'{spec.model_file}: not a loadable MINDIR: {e}') from e

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.graph(self.ms.Tensor(np.ascontiguousarray(x, np.float32))).asnumpy()


def load(spec: DeploySpec, device_target: str, device_id: int = 0) -> MindSporeModel:
    if not spec.model_file.endswith('.mindir'):
        raise InputError(f'{spec.model_file}: the MindSpore runtime runs a MINDIR')
    return MindSporeModel(spec, device_target, device_id)
