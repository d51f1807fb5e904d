# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""VGG-16 ImageNet weights -> an ``FCNVGG`` backbone checkpoint (fc6/fc7 as convolutions)."""
import logging
from typing import Dict, Sequence

import torch

from ...models.backbones.fcn_vgg import VGG16_STAGES
from ..checkpoint import (
    CheckpointError,
    check_finite,
    load_state_dict_file,
    save_checkpoint,
    strip_module_prefix,
)
from ..network.layouts import fcnvgg_key, vgg16_torchvision_names

logger = logging.getLogger(__name__)

#: torchvision's input normalisation: RGB in [0, 1], then (x - mean) / std.
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
#: Caffe's: BGR in [0, 255] minus this mean (the authors' release).
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)
SOURCES = ('torchvision', 'caffe')


def _expected_shapes() -> Dict[str, tuple]:
    shapes, c_in = {}, 3
    names = iter(vgg16_torchvision_names().items())
    for num_convs, c_out in VGG16_STAGES:
        for _ in range(num_convs):
            prefix, _ = next(names)
            shapes[f'{prefix}.weight'] = (c_out, c_in, 3, 3)
            shapes[f'{prefix}.bias'] = (c_out, )
            c_in = c_out
    shapes.update({'classifier.0.weight': (4096, 512 * 7 * 7), 'classifier.0.bias': (4096, ),
                   'classifier.3.weight': (4096, 4096), 'classifier.3.bias': (4096, )})
    return shapes


def fold_torchvision_normalisation(weight: torch.Tensor, bias: torch.Tensor,
                                   mean: Sequence[float] = TORCHVISION_MEAN,
                                   std: Sequence[float] = TORCHVISION_STD):
    """Rewrite conv1_1 so it takes Caffe input (BGR, 0-255, minus the Caffe mean).

    torchvision's conv1_1 sees ``x_c = (p_c / 255 - mean_c) / std_c`` (RGB). With
    ``p_c = y_{2-c} + caffe_mean_{2-c}`` for the Caffe input ``y`` (BGR, mean-subtracted), the layer
    is the same affine map of ``y`` with ``W'[:, 2-c] = W[:, c] / (255 std_c)`` and
    ``b' = b + sum W[:, c] (caffe_mean_{2-c} / 255 - mean_c) / std_c``. This is exact wherever the
    kernel sees no zero padding; at the borders the difference is that constant times the padded
    taps, about 1e-2 of the bias scale because the two means nearly agree.
    """
    w = weight.double()
    std_t = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
    mean_t = torch.tensor(mean, dtype=torch.float64)
    caffe_rgb = torch.tensor(CAFFE_BGR_MEAN[::-1], dtype=torch.float64)
    shift = (caffe_rgb / 255 - mean_t) / std_t.view(3)
    new_bias = bias.double() + (w.sum(dim=(2, 3)) * shift).sum(dim=1)
    new_weight = (w / (255 * std_t)).flip(1)  # RGB -> BGR input channels
    return new_weight.to(weight.dtype), new_bias.to(bias.dtype)


def convert_vgg16(src: Dict[str, torch.Tensor], source: str = 'torchvision',
                  name: str = 'VGG-16 state dict') -> Dict[str, torch.Tensor]:
    """Convert a torchvision-layout VGG-16 state dict into ``FCNVGG`` keys.

    Args:
        src: ``features.N.weight`` / ``classifier.{0,3}.weight`` ... (``classifier.6`` is dropped).
        source: ``'torchvision'`` (RGB, [0, 1], mean/std; folded into conv1_1 so the result expects
            Caffe input) or ``'caffe'`` (the Caffe-derived release: already BGR, 0-255, minus mean).
        name: How error messages refer to the source (a file name).

    Returns:
        ``FCNVGG`` state dict: ``conv1_1.conv.weight`` ... ``fc6.conv.weight`` (4096, 512, 7, 7),
        ``fc7.conv.weight`` (4096, 4096, 1, 1), for ``norm_cfg=None`` and the Caffe input format.
    """
    if source not in SOURCES:
        raise ValueError(f'unknown source {source!r}; expected one of {SOURCES}')
    src = strip_module_prefix(src)
    expected = _expected_shapes()
    missing = sorted(set(expected) - set(src))
    unexpected = sorted(set(src) - set(expected) - {'classifier.6.weight', 'classifier.6.bias'})
    if missing or unexpected:
        raise CheckpointError(f'{name}: not a VGG-16 state dict in torchvision layout; missing '
                              f'keys {missing[:8]}, unexpected keys {unexpected[:8]}')
    wrong = {k: tuple(src[k].shape) for k, s in expected.items() if tuple(src[k].shape) != s}
    if wrong:
        raise CheckpointError(f'{name}: tensors with wrong shapes for VGG-16: ' + ', '.join(
            f'{k} {v} (expected {expected[k]})' for k, v in list(wrong.items())[:8]))
    check_finite({k: src[k] for k in expected}, name)

    out = {}
    for prefix, layer in vgg16_torchvision_names().items():
        weight, bias = src[f'{prefix}.weight'].float(), src[f'{prefix}.bias'].float()
        if layer == 'conv1_1' and source == 'torchvision':
            weight, bias = fold_torchvision_normalisation(weight, bias)
        elif layer == 'fc6':
            weight = weight.reshape(4096, 512, 7, 7)
        elif layer == 'fc7':
            weight = weight.reshape(4096, 4096, 1, 1)
        out[fcnvgg_key(layer, 'weight')] = weight.contiguous().clone()
        out[fcnvgg_key(layer, 'bias')] = bias.contiguous().clone()
    return out


def import_vgg16_checkpoint(src: str, out: str, source: str) -> Dict:
    """Convert the VGG-16 state dict file ``src`` (see :func:`convert_vgg16` for ``source``) into
    the ``FCNVGG`` backbone checkpoint ``out`` (with a ``.sha256`` sidecar).

    Returns:
        A report: ``tensors`` and ``parameters`` written, ``out``.

    Raises:
        CheckpointError: ``src`` is missing, tampered or not a VGG-16 state dict.
    """
    state_dict = convert_vgg16(load_state_dict_file(src), source, name=src)
    save_checkpoint(state_dict, out, meta=dict(source=source, src=src,
                                               input='BGR 0-255 minus Caffe mean'))
    n = sum(v.numel() for v in state_dict.values())
    logger.info(f'wrote {out}: {len(state_dict)} tensors, {n:,} parameters '
        f'(FCNVGG, input BGR 0-255 minus the Caffe mean)')
    return dict(tensors=len(state_dict), parameters=n, out=out)
