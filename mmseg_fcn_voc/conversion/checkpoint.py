# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Checked checkpoint I/O and model building for the converters, importers and tools.

* :func:`load_state_dict_file` reads a ``.pth`` under ``weights_only=True`` (never turned off),
  verifies its declared sha256 (sidecar or ``publish_model``-style name) and the CRC-32 of every
  member of torch's zip container, and refuses non-finite tensors;
* :func:`save_checkpoint` writes atomically, with a ``.sha256`` sidecar;
* :func:`build_model` is ``mmseg.apis.init_model`` (no weights); :func:`build_and_load` adds a
  strict load, refusing any key or shape difference.
"""
import os.path as osp
import zipfile
from typing import Dict, Mapping, Optional

import torch
from torch import nn

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import atomic_output, verify_sha256, write_sha256_sidecar

from ..utils.safe_load import register_checkpoint_safe_globals
from .network.layouts import compare_keys, format_keys, key_mismatch

#: State-dict prefixes that are not part of the inference network (training-only heads).
TRAINING_ONLY_PREFIXES = ('auxiliary_head.', )


class CheckpointError(InputError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------
def check_container(path: str) -> None:
    """Check the CRC-32 of every member of a torch (zip) checkpoint.

    torch does not verify them, so bytes flipped inside tensor data would load silently. A file in
    torch's legacy (non-zip) format has no checksums and is left to the unpickler.

    Raises:
        CheckpointError: naming the file and the damaged member.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as e:
        raise CheckpointError(f'{path}: damaged checkpoint container: {e}') from e
    if bad is not None:
        raise CheckpointError(f'{path}: member {bad!r} fails its CRC-32 check: the file was '
                              'corrupted or modified after it was written')


def verify_checkpoint_file(path: str) -> None:
    """The checks that need no unpickling: the file exists, matches the sha256 it declares (sidecar
    or ``publish_model``-style name), and every zip member passes its CRC-32.

    Raises:
        CheckpointError: naming the file.
    """
    if not osp.isfile(path):
        raise CheckpointError(f'{path}: no such checkpoint file')
    try:
        verify_sha256(path)
    except InputError as e:
        raise CheckpointError(str(e)) from e
    check_container(path)


def load_state_dict_file(path: str, key: Optional[str] = 'state_dict') -> Dict[str, torch.Tensor]:
    """Load a ``.pth`` under ``weights_only=True`` and return its tensors.

    Accepts a bare state dict or a dict holding one under ``key`` (mmengine's ``state_dict``,
    or ``model`` / ``model_state_dict`` as other trainers write); a ``module.`` prefix (DDP) is
    removed. Raises :class:`CheckpointError` naming the file for: a missing file; a sha256 mismatch
    with the hash it declares; a zip member failing its CRC-32; a truncated or tampered file; a file
    whose unpickling would run code; non-tensor entries; non-finite (NaN/Inf) tensors.
    """
    verify_checkpoint_file(path)
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
    return strip_module_prefix(obj)


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix that ``DistributedDataParallel`` adds to every key."""
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()}


def check_finite(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` listing every tensor with NaN or Inf values."""
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f'{source}: non-finite (NaN/Inf) values in {len(bad)} tensor(s): '
                              f'{bad[:10]}')


def save_checkpoint(state_dict: Dict[str, torch.Tensor], path: str,
                    meta: Optional[dict] = None) -> str:
    """Write ``{'state_dict': ..., 'meta': ...}`` atomically, then its ``.sha256`` sidecar."""
    with atomic_output(path) as tmp:
        torch.save({'state_dict': state_dict, 'meta': dict(meta or {})}, tmp)
    write_sha256_sidecar(path)
    return path


# --------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------
def build_model(config: str, cfg_options: Optional[dict] = None) -> nn.Module:
    """The config's model on the CPU in eval mode, without weights: ``mmseg.apis.init_model``.

    ``init_model`` drops the backbone's pretrained ``init_cfg`` and imports the config's
    ``custom_imports`` (this plugin); the converters always load a full checkpoint afterwards.
    """
    from mmseg.apis import init_model

    if not osp.isfile(config):
        raise InputError(f'{config}: no such config file')
    return init_model(config, None, device='cpu', cfg_options=cfg_options)


def random_checkpoint(config: str, path: str, seed: int = 0) -> str:
    """A checkpoint of the config's model with its initial (random, seeded) weights at ``path``,
    for the benchmarks: speed figures, never accuracy ones."""
    torch.manual_seed(seed)
    return save_checkpoint(build_model(config).state_dict(), path)


def inference_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The model's state dict without training-only entries (auxiliary heads)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(TRAINING_ONLY_PREFIXES)}


def check_state_dict(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor],
                     source: str, target: str) -> None:
    """Raise :class:`CheckpointError` unless ``found`` has exactly ``expected``'s keys and shapes.

    The message names ``source`` (the file) and ``target`` (the config) and lists the missing and
    unexpected keys, so a checkpoint of another architecture (an FCN-16s file for an FCN-8s config)
    is refused with the layers that differ.
    """
    missing, unexpected = compare_keys(expected, found)
    if missing or unexpected:
        raise CheckpointError(f'{source}: does not match the architecture of {target}: '
                              f'{key_mismatch(missing, unexpected)}')
    wrong = [f'{k} {tuple(found[k].shape)} (expected {tuple(v.shape)})'
             for k, v in expected.items() if tuple(found[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f'{source}: tensors with the wrong shape for {target}: '
                              f'{format_keys(wrong)}')


def load_checkpoint_strict(model: nn.Module, checkpoint: str, config: str = 'the config') -> None:
    """Load ``checkpoint`` into ``model``, refusing any key or shape difference.

    Training-only entries (``auxiliary_head.*``) may be present or not; everything else must match
    the model exactly. Raises :class:`CheckpointError` naming the file (see
    :func:`load_state_dict_file` for missing, tampered, NaN files).
    """
    state = load_state_dict_file(checkpoint)
    found = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    check_state_dict(inference_state_dict(model), found, checkpoint, config)
    model.load_state_dict({**model.state_dict(), **found}, strict=True)
    model.eval()


def build_and_load(config: str, checkpoint: str) -> nn.Module:
    """The model of ``config`` with ``checkpoint`` loaded strictly, in eval mode."""
    model = build_model(config)
    load_checkpoint_strict(model, checkpoint, config)
    return model
