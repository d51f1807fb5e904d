# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Read and write checkpoint files with checks: never ``weights_only=False``."""
import os
import os.path as osp
from typing import Dict, Optional

import torch

from ..utils.safe_load import register_checkpoint_safe_globals


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


def load_state_dict_file(path: str, key: Optional[str] = 'state_dict') -> Dict[str, torch.Tensor]:
    """Load a ``.pth`` under ``weights_only=True`` and return its tensors.

    Accepts a bare state dict or a dict holding one under ``key`` (mmengine's ``state_dict``,
    or ``model`` / ``model_state_dict`` as other trainers write). Raises :class:`CheckpointError`
    naming the file for a missing, truncated or tampered file, a file whose unpickling would run
    code, and non-finite (NaN/Inf) tensors.
    """
    if not osp.isfile(path):
        raise CheckpointError(f'{path}: no such checkpoint file')
    register_checkpoint_safe_globals()
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # torch raises many types here (UnpicklingError, OSError, ...)
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f'{path}: not a loadable checkpoint (truncated, tampered, or it holds objects other '
            f'than tensors that would run code on load): {type(e).__name__}: '
            f'{" ".join(first[-3:])[:500]}') from e
    if isinstance(obj, dict):
        for k in (key, 'model', 'model_state_dict'):
            if k and isinstance(obj.get(k), dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f'{path}: expected a state dict of tensors, got {type(obj).__name__}')
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f'{path}: entries that are not tensors: {bad[:10]}')
    check_finite(obj, path)
    return obj


def check_finite(state_dict: Dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` listing every tensor with NaN or Inf values."""
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f'{source}: non-finite (NaN/Inf) values in {len(bad)} tensor(s): '
                              f'{bad[:10]}')


def save_checkpoint(state_dict: Dict[str, torch.Tensor], path: str, meta: Optional[dict] = None):
    """Write ``{'state_dict': ..., 'meta': ...}`` atomically (temp file, then rename)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    torch.save({'state_dict': state_dict, 'meta': dict(meta or {})}, tmp)
    os.replace(tmp, path)
    return path
