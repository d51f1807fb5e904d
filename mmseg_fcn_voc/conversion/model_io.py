# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Build an mmseg model from a config and load a checkpoint into it strictly, for the converters."""
from typing import Dict, Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from .checkpoint_io import CheckpointError, load_state_dict_file
from .names import compare_keys, format_keys, key_mismatch

#: State-dict prefixes that are not part of the inference network (training-only heads).
TRAINING_ONLY_PREFIXES = ('auxiliary_head.', )


def build_model_from_config(config: str, cfg_options: Optional[dict] = None) -> nn.Module:
    """``MODELS.build(cfg.model)`` in eval mode, with no pretrained backbone loaded.

    The backbone's ``init_cfg`` (a pretrained file) is dropped: the converters always load a full
    checkpoint afterwards.
    """
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import mmseg_fcn_voc  # noqa: F401  (registers the FCN modules)

    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.model.get('backbone') is not None:
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.eval()
    return model


def inference_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The model's state dict without training-only entries (auxiliary heads)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(TRAINING_ONLY_PREFIXES)}


def check_state_dict(expected: Dict[str, torch.Tensor], found: Dict[str, torch.Tensor],
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
    :func:`~.checkpoint_io.load_state_dict_file` for missing, truncated, tampered, NaN files).
    """
    state = load_state_dict_file(checkpoint)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    found = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    expected = inference_state_dict(model)
    check_state_dict(expected, found, checkpoint, config)
    model.load_state_dict({**model.state_dict(), **found}, strict=True)
    model.eval()


def build_and_load(config: str, checkpoint: str) -> nn.Module:
    """The model of ``config`` with ``checkpoint`` loaded strictly, in eval mode."""
    model = build_model_from_config(config)
    load_checkpoint_strict(model, checkpoint, config)
    return model


@torch.no_grad()
def fcn_logits(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) normalised inputs -> (N, K, H, W) logits, as the converted networks compute.

    ``decode_head.forward(extract_feat(x), (H, W))``: the FCN head crops to the input size.
    """
    feats = model.extract_feat(inputs)
    return model.decode_head(feats, tuple(inputs.shape[-2:]))


class FCNInferenceWrapper(nn.Module):
    """``model`` as a plain module ``forward(x) -> logits`` (for tracing and ONNX export)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        self.decode_head = model.decode_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, K, H, W) logits."""
        return self.decode_head(self.backbone(x), tuple(x.shape[-2:]))


def input_size_problem(model: nn.Module, size: Tuple[int, int]) -> Optional[str]:
    """Why ``size`` cannot be an input of ``model`` (None if it can): the 'same' geometry needs
    multiples of 32."""
    head = getattr(model, 'decode_head', None)
    if getattr(head, 'geometry', 'caffe') == 'same' and (size[0] % 32 or size[1] % 32):
        return (f"input size {size[0]}x{size[1]}: the pad-free ('same') geometry needs height and "
                'width that are multiples of 32')
    if min(size) < 1:
        return f'input size {size[0]}x{size[1]} is empty'
    return None
