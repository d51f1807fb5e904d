# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The published FCN networks whose checkpoints the converters read or write in their own layouts.

A config's model must compute what the published network computes for its weights to mean the same
thing in both: :func:`reference_mismatches` lists every difference between a traced network
(:mod:`.trace`) and a :class:`ReferenceNetwork` (empty: the same network).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ...models.decode_heads.fcn_skip_head import CAFFE_FINAL_OFFSETS, CAFFE_SKIP_OFFSETS
from .layer_specs import BatchNormSpec, ConvSpec, DeconvSpec, PoolSpec, ReLUSpec
from .trace import FCNStructure, TracedNetwork


@dataclass(frozen=True)
class ReferenceNetwork:
    """A published FCN whose checkpoints the converters read or write in its own layout.

    Skip fields are coarse to fine (pool4, pool3).
    """
    name: str
    conv_bias: bool
    norm_eps: Optional[float]  # None: no BN
    conv1_padding: int
    fc6_padding: int
    ceil_mode: bool
    geometry: str
    score_bias: bool
    deconv_half_padding: bool  # transposed convs padded by stride / 2 ('same') or unpadded
    skip_offsets: Tuple[int, ...]
    final_offsets: Dict[int, int]  # by output stride; also the supported FCN variants
    skip_scales: Tuple[Tuple[Optional[float], ...], ...]  # allowed per-skip input scales


#: The MindSpore tutorial / model-zoo FCN8s.
MINDSPORE_TUTORIAL = ReferenceNetwork(
    'the MindSpore tutorial FCN8s', conv_bias=False, norm_eps=1e-5, conv1_padding=1, fc6_padding=3,
    ceil_mode=False, geometry='same', score_bias=False, deconv_half_padding=True,
    skip_offsets=(0, 0), final_offsets={8: 0}, skip_scales=((None, None), ))
#: The authors' Caffe release of FCN-32s/16s/8s/8s-at-once, as torchfcn names and ports it.
CAFFE_RELEASE = ReferenceNetwork(
    "the authors' Caffe release (torchfcn)", conv_bias=True, norm_eps=None, conv1_padding=100,
    fc6_padding=0, ceil_mode=True, geometry='caffe', score_bias=True, deconv_half_padding=False,
    skip_offsets=CAFFE_SKIP_OFFSETS, final_offsets=CAFFE_FINAL_OFFSETS,
    skip_scales=((), (None, ), (None, None), (0.01, 0.0001)))


def is_fcn_vgg(net: TracedNetwork) -> bool:
    """An FCN head on ``FCNVGG`` without a neck: the networks with the FCN/VGG layouts."""
    return net.fcn is not None


def _conv_mismatches(net: TracedNetwork, name: str, ref: ReferenceNetwork) -> List[str]:
    """One backbone ``ConvModule`` (``conv1_1``, ``fc6``): conv, optional BN, ReLU."""
    conv = net.layers.get(f'backbone.{name}.conv')
    if not isinstance(conv, ConvSpec):
        return [f'{name}: no convolution at backbone.{name}.conv']
    bn = net.layers.get(f'backbone.{name}.bn')
    eps = bn.norm.eps if isinstance(bn, BatchNormSpec) else None
    relu = isinstance(net.layers.get(f'backbone.{name}.activate'), ReLUSpec)
    why = []
    if conv.bias != ref.conv_bias or eps != ref.norm_eps or not relu:
        why.append(f'{name}: bias={conv.bias}, BN eps={eps}, relu={relu} '
                   f'(expected bias={ref.conv_bias}, BN eps={ref.norm_eps}, relu=True)')
    k = conv.kernel_size[0]
    pad = {'conv1_1': ref.conv1_padding, 'fc6': ref.fc6_padding}.get(name, k // 2)
    if conv.padding != (pad, pad) or conv.stride != (1, 1) or conv.dilation != (1, 1) \
            or conv.groups != 1:
        why.append(f'{name}: padding {conv.padding}, stride {conv.stride} (expected padding '
                   f'{pad}, stride 1)')
    if name in ('fc6', 'fc7') and conv.out_channels != 4096:
        why.append(f'{name}: {conv.out_channels} channels (expected 4096)')
    return why


def _backbone_mismatches(net: TracedNetwork, fcn: FCNStructure,
                         ref: ReferenceNetwork) -> List[str]:
    why = []
    first = net.layers.get('backbone.conv1_1.conv')
    if isinstance(first, ConvSpec) and first.in_channels != 3:
        why.append(f'input channels {first.in_channels} (expected 3)')
    pool = ((2, 2), (2, 2), (0, 0), ref.ceil_mode)
    for names in fcn.stages:
        for name in names:
            if not name.startswith('pool'):
                why += _conv_mismatches(net, name, ref)
                continue
            layer = net.layers.get(f'backbone.{name}')
            if not isinstance(layer, PoolSpec) or (layer.kernel_size, layer.stride,
                                                   layer.padding, layer.ceil_mode) != pool:
                why.append(f'{name}: {layer} (expected 2x2 stride 2, '
                           f'{"ceil" if ref.ceil_mode else "floor"} mode)')
    return why


def _head_mismatches(net: TracedNetwork, fcn: FCNStructure, ref: ReferenceNetwork) -> List[str]:
    why, stride = [], fcn.output_stride
    expected_in = {32: (5, ), 16: (3, 5), 8: (2, 3, 5)}[stride]
    levels = tuple(fcn.out_indices[i] for i in fcn.in_index)
    if levels != expected_in:
        why.append(f'head inputs are backbone levels {list(levels)} (expected '
                   f'{list(expected_in)}: pool3, pool4, fc7 as used)')
    if net.geometry != ref.geometry or fcn.final_offset != ref.final_offsets[stride]:
        why.append(f'head geometry {net.geometry!r}, final crop {fcn.final_offset} (expected '
                   f'{ref.geometry!r}, {ref.final_offsets[stride]})')
    offsets = tuple(s.offset for s in fcn.skips)
    if offsets != ref.skip_offsets[:len(offsets)]:
        why.append(f'skip crop offsets {offsets} (expected {ref.skip_offsets[:len(offsets)]})')
    scales = tuple(s.scale for s in fcn.skips)
    if scales not in ref.skip_scales:
        why.append(f'skip input scales {scales} (expected one of {list(ref.skip_scales)})')
    for name, path in [('score_fr', 'conv_seg')] + [(s.score, s.score) for s in fcn.skips]:
        conv = net.layers[f'decode_head.{path}']
        if conv.bias != ref.score_bias:
            why.append(f'{name}: bias={conv.bias} (expected {ref.score_bias})')
    for name in [s.upsampler for s in fcn.skips] + [fcn.final_upsampler]:
        deconv: DeconvSpec = net.layers[f'decode_head.{name}']
        s = deconv.stride[0]
        p = s // 2 if ref.deconv_half_padding else 0
        if deconv.bias or deconv.padding != (p, p) or deconv.kernel_size != (2 * s, 2 * s) \
                or deconv.stride != (s, s) or deconv.groups != 1:
            why.append(f'{name}: {deconv} (expected kernel {2 * s}, stride {s}, padding {p}, '
                       'no bias)')
    return why


def reference_mismatches(net: TracedNetwork, ref: ReferenceNetwork) -> List[str]:
    """Why ``net`` does not compute what ``ref`` computes (empty list: it does).

    Checked: an FCN head on ``FCNVGG``; 3 input channels; the VGG-16 convs and 4096-channel
    fc6/fc7 with the reference's bias/BN/padding, ReLU after each; 2x2 stride-2 pooling in the
    reference's rounding; an FCN head variant the reference has, with its geometry, crop offsets,
    skip scales, score biases and transposed convs of kernel 2s, stride s and the reference's
    padding.
    """
    fcn = net.fcn
    if fcn is None:
        return [f'{net.summary} is not an FCN head on FCNVGG']
    why = _backbone_mismatches(net, fcn, ref)
    if fcn.output_stride not in ref.final_offsets:
        return why + [f'FCN-{fcn.output_stride}s head ({ref.name} has '
                      f'{", ".join(f"FCN-{s}s" for s in sorted(ref.final_offsets))})']
    return why + _head_mismatches(net, fcn, ref)


def format_mismatches(why: List[str], limit: int = 8) -> str:
    """The first ``limit`` reasons of a ``*_mismatches`` list, ``'; '``-joined, for messages."""
    return '; '.join(why[:limit]) + (f' (+{len(why) - limit} more)' if len(why) > limit else '')


def tutorial_mismatches(net: TracedNetwork) -> List[str]:
    """Why ``net`` is not the MindSpore tutorial's FCN8s (empty list: it is)."""
    return reference_mismatches(net, MINDSPORE_TUTORIAL)


def caffe_release_mismatches(net: TracedNetwork) -> List[str]:
    """Why ``net`` does not compute what the authors' Caffe FCN (and torchfcn) computes."""
    return reference_mismatches(net, CAFFE_RELEASE)
