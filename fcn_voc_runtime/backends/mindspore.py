# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore: the MINDIR as an ``nn.GraphCell`` on CPU, GPU or Ascend."""
from typing import List, Optional, Tuple

import numpy as np

from fcn_voc_core.dependencies import require
from fcn_voc_core.errors import InputError
from fcn_voc_core.mindspore_cpu import avx2_cap_hint, configure_cpu

from ..deploy import DeployFolder


def ascend_precision_mode(deploy: DeployFolder) -> Tuple[Optional[str], str]:
    """The precision mode this runtime sets on Ascend (``mindspore.device_context.ascend.
    op_precision.precision_mode``) and what it means, from deploy.json's ``precision``.

    A folder converted with ``--precision-images`` was planned (and measured) for ``force_fp16``:
    that mode is set, whatever the SoC's default. MindSpore takes precision modes per graph or per
    operator type, not per node, so a plan's keep-float32 layers cannot be applied here: the note
    says so (ATC's ``keep_dtype.cfg`` and the MindSpore Lite config apply them). Without a plan,
    nothing is set: MindSpore's default for the SoC applies (None).
    """
    plan = deploy.raw.get('precision') or {}
    planned = plan.get('planned_for') if isinstance(plan, dict) else None
    if not planned:
        return None, ('Ascend default (no precision plan in deploy.json: MindSpore picks '
                      'allow_fp32_to_fp16, or must_keep_origin_dtype on 910B)')
    keep = list(plan.get('keep_fp32') or [])
    if not keep:
        return 'force_fp16', 'force_fp16 (as planned and measured: precision.json)'
    return 'force_fp16', (f'force_fp16; the plan keeps {len(keep)} layer(s) in float32, which '
                          'MindSpore cannot apply per layer to a MINDIR (ATC keep_dtype.cfg or '
                          'the MindSpore Lite config do): measured agreement of force_fp16 alone '
                          'in precision.json')


class MindSporeModel:
    """``model(x)``: (1, 3, H, W) float32 -> (1, K, H, W) float32 logits (a
    :class:`~.base.DeployedModel`)."""

    backend = 'mindspore'

    def __init__(self, deploy: DeployFolder, device_target: str = 'CPU', device_id: int = 0):
        ms = require('mindspore', '--backend mindspore')
        from mindspore import nn

        self.ms = ms
        self.notes: List[str] = []
        if device_target == 'CPU':
            hint = avx2_cap_hint(configure_cpu())  # before the first kernel
            if hint:
                self.notes.append(hint)
        try:
            if device_target == 'CPU':
                ms.set_context(device_target=device_target)
            else:
                ms.set_context(device_target=device_target, device_id=device_id)
        except (RuntimeError, ValueError) as e:  # a build or host without that device
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f'{deploy.model_file}: asked to run on {device_target}, but mindspore '
                             f'{ms.__version__} cannot: {reason[:300]}') from e
        self.device = ms.get_context('device_target')
        self.precision = 'float32' if self.device == 'CPU' else f'{self.device} default'
        if self.device == 'Ascend':
            mode, self.precision = ascend_precision_mode(deploy)
            if mode is not None:
                from mindspore.device_context.ascend.op_precision import precision_mode
                precision_mode(mode)
        try:
            self.graph = nn.GraphCell(ms.load(deploy.model_file))
        except (RuntimeError, ValueError, TypeError) as e:
            raise InputError(f'{deploy.model_file}: not a loadable MINDIR: {e}') from e
        if self.device == 'CPU' and None in deploy.input_shape[2:]:
            # A dynamic MINDIR compiles once for every input size: without the dynamic inputs
            # declared, MindSpore compiles it again for each new image shape (about 0.1 s per
            # shape on the ResNet-50 network; VOC images come in many sizes).
            self.graph.set_inputs(ms.Tensor(shape=list(deploy.input_shape), dtype=ms.float32))

    def __call__(self, x: np.ndarray, valid=None) -> np.ndarray:
        return self.graph(self.ms.Tensor(np.ascontiguousarray(x, np.float32))).asnumpy()


def load(deploy: DeployFolder, device_target: str, device_id: int = 0) -> MindSporeModel:
    if not deploy.model_file.endswith('.mindir'):
        raise InputError(f'{deploy.model_file}: the MindSpore runtime runs a MINDIR')
    return MindSporeModel(deploy, device_target, device_id)
