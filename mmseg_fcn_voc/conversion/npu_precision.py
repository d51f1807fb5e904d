# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The Ascend NPU's arithmetic, emulated on the CPU around a torch model.

No NPU is needed: :func:`npu_emulation` makes a model compute, for the duration of a ``with``
block, as ATC and MindSpore run it on the NPU under a precision mode:

* **cube operations** (``Conv2d``, ``ConvTranspose2d``, ``Linear``: the matrix unit) take inputs and
  weights (and biases) rounded to float16, accumulate in float32, and round their outputs to
  float16, in every mode but ``fp32``;
* **vector operations** (batch norm, ReLU, pooling, the rest) stay float32 under
  ``allow_fp32_to_fp16`` (ATC's choice for operators with a float32 vector kernel, MindSpore's
  default on Ascend SoCs other than 910B) and round their outputs to float16 under ``force_fp16``
  (ATC's default, ``--precision_mode_v2=fp16``, and MindSpore Lite's ``enforce_fp16``); the
  functional operations between modules (the FCN head's crops and skip sums) are rounded once, at
  the output of the module that contains them;
* every module named in ``keep_fp32`` (torch module names, e.g. ``decode_head.score_fr``) computes
  in float32 (what ATC's ``--keep_dtype`` does for its node).

Rounding is to the nearest float16, ties to even, in **saturation mode**: a value beyond the
float16 range becomes +-65504, not infinity (ATC's default overflow handling on Ascend 310/310P and
910A; MindSpore switches 910B/910C to INF/NaN mode, where such a value becomes infinite and spreads).
:class:`ActivationStats` records, per module, the largest absolute output before rounding and how
many values overflowed float16.
"""
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, Optional

import torch
from torch import nn

#: The largest finite float16.
FP16_MAX = 65504.0
#: The precision modes emulated (``fp32``: no emulation, the reference).
MODES = ('fp32', 'force_fp16', 'allow_fp32_to_fp16')
#: The modules that run on the cube (matrix) unit.
CUBE_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def to_fp16(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to the nearest float16 (ties to even), saturated at +-65504, as float32."""
    return x.clamp(-FP16_MAX, FP16_MAX).to(torch.float16).to(torch.float32)


@dataclass
class LayerStats:
    """What one module produced, over every forward it ran."""
    kind: str  # 'cube' or 'vector'
    max_abs: float = 0.0
    overflows: int = 0
    values: int = 0


@dataclass
class ActivationStats:
    """``layers``: ``{module name: LayerStats}`` of the modules the emulation rounds."""
    layers: Dict[str, LayerStats] = field(default_factory=dict)

    def record(self, name: str, kind: str, out: torch.Tensor) -> None:
        s = self.layers.setdefault(name, LayerStats(kind))
        finite = out.detach()
        s.max_abs = max(s.max_abs, float(finite.abs().max()) if finite.numel() else 0.0)
        s.overflows += int((finite.abs() > FP16_MAX).sum())
        s.values += finite.numel()

    def as_dict(self) -> Dict[str, dict]:
        return {name: {'kind': s.kind, 'max_abs': s.max_abs, 'overflows': s.overflows}
                for name, s in self.layers.items()}


def cube_layers(model: nn.Module) -> Dict[str, nn.Module]:
    """``{name: module}`` of the cube operations of ``model``, in execution-definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, CUBE_TYPES)}


def _rounded_output(name: str, kind: str, stats: Optional[ActivationStats]):
    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            return output
        if stats is not None:
            stats.record(name, kind, output)
        return to_fp16(output)
    return hook


def _rounded_inputs(module, inputs):
    return tuple(to_fp16(x) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
                 for x in inputs)


@contextmanager
def npu_emulation(model: nn.Module, mode: str, keep_fp32: Iterable[str] = (),
                  stats: Optional[ActivationStats] = None) -> Iterator[nn.Module]:
    """Make ``model`` compute as the NPU does under ``mode`` inside the block (see the module).

    Args:
        model: a torch model; its parameters are rounded in place for the block and restored
            exactly afterwards.
        mode: one of :data:`MODES`.
        keep_fp32: module names computed in float32 (a name keeps its whole subtree).
        stats: filled with each rounded module's largest output and float16 overflows.

    Raises:
        ValueError: an unknown mode, or a ``keep_fp32`` name that is not a module of ``model``.
    """
    if mode not in MODES:
        raise ValueError(f'unknown precision mode {mode!r}; expected one of {MODES}')
    names = dict(model.named_modules())
    keep = set(keep_fp32)
    unknown = sorted(keep - set(names))
    if unknown:
        raise ValueError(f'keep_fp32 names modules the model does not have: {unknown}')
    if mode == 'fp32':
        yield model
        return

    def kept(name: str) -> bool:
        return any(name == k or name.startswith(k + '.') for k in keep if k)

    handles, saved = [], []
    try:
        for name, module in names.items():
            if kept(name):
                continue
            if isinstance(module, CUBE_TYPES):
                for p in module.parameters(recurse=False):
                    saved.append((p, p.data))
                    p.data = to_fp16(p.data)
                handles.append(module.register_forward_pre_hook(_rounded_inputs))
                handles.append(module.register_forward_hook(_rounded_output(name, 'cube', stats)))
            elif mode == 'force_fp16' and name:  # not the model's own output
                # every other module's output: vector layers, and the functional steps (crops,
                # skip sums) of the modules that hold them
                handles.append(module.register_forward_hook(_rounded_output(name, 'vector',
                                                                            stats)))
        yield model
    finally:
        for h in handles:
            h.remove()
        for p, data in saved:
            p.data = data
