# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore: the MINDIR as an ``nn.GraphCell`` (CPU, GPU or Ascend)."""
import numpy as np

from ..deploy import DeploySpec
from ..errors import InputError


class MindSporeModel:
    """``model(x)``: (1, 3, H, W) float32 -> (1, K, H, W) float32 logits."""

    def __init__(self, spec: DeploySpec, device_target: str = 'CPU'):
        import mindspore as ms
        from mindspore import nn

        self.ms = ms
        ms.set_context(device_target=device_target)
        runtime = getattr(ms, 'runtime', None)
        if runtime is not None and hasattr(runtime, 'launch_blocking'):
            runtime.launch_blocking()  # no busy-waiting launch thread (PyNative)
        try:
            self.graph = nn.GraphCell(ms.load(spec.model_file))
        except (RuntimeError, ValueError, TypeError) as e:
            raise InputError(f'{spec.model_file}: not a loadable MINDIR: {e}') from e

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.graph(self.ms.Tensor(np.ascontiguousarray(x, np.float32))).asnumpy()


def load(spec: DeploySpec, device_target: str) -> MindSporeModel:
    if not spec.model_file.endswith('.mindir'):
        raise InputError(f'{spec.model_file}: the MindSpore runtime runs a MINDIR')
    return MindSporeModel(spec, device_target)
