# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Build an mmseg checkpoint from tensors stored under another layout's names.

Shared by the MindSpore and the torchfcn importers: map every tensor of the config's model through
:mod:`.names`, refuse any missing, unexpected or mis-shaped tensor (listing them), load the result
into the model strictly, write it, and read the file back to prove it holds exactly those tensors.
"""
from typing import Dict, List, Optional

import numpy as np
import torch

from ..checkpoint import (
    CheckpointError,
    check_state_dict,
    inference_state_dict,
    load_state_dict_file,
    save_checkpoint,
)
from ..network.layouts import compare_keys, format_keys, key_mismatch

ArrayDict = Dict[str, np.ndarray]


def layout_mismatch_error(source: str, config: str, layout: str, missing: List[str],
                          unexpected: List[str]) -> CheckpointError:
    """The refusal for a source whose names do not fit the config's model."""
    return CheckpointError(f'{source}: does not match the architecture of {config} ({layout!r} '
                           f'names): {key_mismatch(missing, unexpected)}')


def state_dict_from_layout(expected: Dict[str, torch.Tensor], mapping: Dict[str, str],
                           dropped: List[str], tensors: Dict[str, torch.Tensor], source: str,
                           config: str, layout: str) -> Dict[str, torch.Tensor]:
    """The mmseg state dict for ``expected`` (the model's) from ``tensors`` named by ``mapping``.

    Args:
        expected: the model's state dict (keys, shapes and dtypes to produce).
        mapping: ``{mmseg key: source name}`` for every stored tensor.
        dropped: mmseg keys the layout does not store; they keep the model's values
            (``num_batches_tracked``).
        tensors: the source's tensors by their names.

    Raises:
        CheckpointError: missing or unexpected source names, or wrong shapes.
    """
    missing, unexpected = compare_keys(mapping.values(), tensors)
    if missing or unexpected:
        raise layout_mismatch_error(source, config, layout, missing, unexpected)
    state = {}
    for key, name in mapping.items():
        value = tensors[name]
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(f'{source}: {name} has shape {tuple(value.shape)}, but {config} '
                                  f'needs {tuple(expected[key].shape)} for {key}')
        state[key] = value.to(expected[key].dtype).contiguous()
    for key in dropped:
        state[key] = expected[key].clone()
    return state


def write_checked(model: torch.nn.Module, state: Dict[str, torch.Tensor], out: str, config: str,
                  meta: Optional[dict] = None) -> None:
    """Load ``state`` into ``model`` strictly, write ``out`` and read it back exactly.

    ``state`` must hold every inference tensor of the model (training-only heads excepted)."""
    check_state_dict(inference_state_dict(model), state, out, config)
    model.load_state_dict({**model.state_dict(), **state}, strict=True)
    save_checkpoint(state, out, meta)
    back = load_state_dict_file(out)
    differ = [k for k, v in state.items() if k not in back or not torch.equal(back[k], v)]
    if differ or set(back) != set(state):
        raise CheckpointError(f'{out}: the written checkpoint differs from the converted tensors: '
                              f'{format_keys(differ)}')
