# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What an mmseg FCN network computes at inference, read off the built torch modules.

The converters never re-derive a layer's arguments from a config: they read them from the modules
``MODELS.build`` produced (padding, ceil mode, BN eps/momentum, crop offsets, skip scales, ...), so
the MindSpore and ONNX networks reproduce exactly what the torch model runs. Anything the
converters cannot reproduce raises :class:`UnsupportedModelError` naming the layer and the problem,
rather than being converted approximately. This module needs torch only, not MindSpore.

Dropout is the identity at inference and is not part of the description.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from mmcv.cnn import ConvModule
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from torch import nn

from ..models.backbones.fcn_vgg import FCNVGG
from ..models.decode_heads.fcn_skip_head import FCNSkipHead
from .names import HEAD_TO_CAFFE

Pair = Tuple[int, int]


class UnsupportedModelError(ValueError):
    """A model (or one of its layers) the converters cannot reproduce exactly."""


@dataclass(frozen=True)
class NormSpec:
    """An eval-mode BatchNorm. ``momentum`` is torch's (MindSpore's is ``1 - momentum``)."""
    eps: float
    momentum: float


@dataclass(frozen=True)
class ConvSpec:
    """A 2-D convolution, optionally followed by BatchNorm and ReLU (mmcv ``ConvModule`` order)."""
    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    bias: bool
    norm: Optional[NormSpec] = None
    relu: bool = False


@dataclass(frozen=True)
class PoolSpec:
    """Max pooling: ``kernel_size``, ``stride``, ``padding`` and torch's ``ceil_mode``."""
    kernel_size: Pair
    stride: Pair
    padding: Pair
    ceil_mode: bool


@dataclass(frozen=True)
class DeconvSpec:
    """A transposed convolution, weight ``(in_channels, out_channels / groups, kh, kw)``."""
    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair
    padding: Pair
    groups: int
    bias: bool


LayerSpec = Union[ConvSpec, PoolSpec]


@dataclass(frozen=True)
class BackboneSpec:
    """``FCNVGG``: ``stages[l]`` lists ``(name, spec)`` of level ``l`` (pool1 .. pool5, fc7)."""
    stages: Tuple[Tuple[Tuple[str, LayerSpec], ...], ...]
    out_indices: Tuple[int, ...]


@dataclass(frozen=True)
class HeadSpec:
    """``FCNSkipHead``; layer names are Caffe's (``score_fr`` for mmseg's ``conv_seg``).

    ``skips[i]`` = ``(score layer, its ConvSpec, upsampler name, its DeconvSpec, crop offset,
    input scale or None)``, coarse to fine (pool4, then pool3).
    """
    in_index: Tuple[int, ...]
    multiple_select: bool
    geometry: str
    score_fr: ConvSpec
    skips: Tuple[Tuple[str, ConvSpec, str, DeconvSpec, int, Optional[float]], ...]
    final_upsampler: str
    final: DeconvSpec
    final_offset: int

    @property
    def num_classes(self) -> int:
        return self.score_fr.out_channels


@dataclass(frozen=True)
class FCNSpec:
    """A whole ``EncoderDecoder(FCNVGG, FCNSkipHead)`` at inference."""
    backbone: BackboneSpec
    head: HeadSpec

    @property
    def output_stride(self) -> int:
        return 32 // 2**len(self.head.skips)

    def conv(self, name: str) -> ConvSpec:
        """The backbone layer ``name`` (``'conv1_1'``, ``'fc6'``, ...)."""
        for stage in self.backbone.stages:
            for layer, spec in stage:
                if layer == name:
                    return spec
        raise KeyError(name)


def _pair(value) -> Pair:
    return (value, value) if isinstance(value, int) else tuple(int(v) for v in value)


def _plain_conv(conv: nn.Module, what: str) -> ConvSpec:
    if type(conv) is not nn.Conv2d:
        raise UnsupportedModelError(f'{what}: {type(conv).__name__} is not a plain nn.Conv2d')
    if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
        raise UnsupportedModelError(f'{what}: padding={conv.padding!r}, padding_mode='
                                    f'{conv.padding_mode!r}; only explicit zero padding converts')
    return ConvSpec(conv.in_channels, conv.out_channels, _pair(conv.kernel_size),
                    _pair(conv.stride), _pair(conv.padding), _pair(conv.dilation), conv.groups,
                    conv.bias is not None)


def conv_module_spec(module: nn.Module, what: str) -> ConvSpec:
    """Describe an mmcv ``ConvModule`` (conv -> optional BN -> optional ReLU) or a plain conv."""
    if not isinstance(module, ConvModule):
        return _plain_conv(module, what)
    if tuple(module.order) != ('conv', 'norm', 'act'):
        raise UnsupportedModelError(f"{what}: ConvModule order {module.order}; only ('conv', "
                                    "'norm', 'act') converts")
    spec = _plain_conv(module.conv, f'{what}.conv')
    norm = None
    if module.with_norm:
        bn = module.norm
        if not isinstance(bn, _BatchNorm) or isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm3d)):
            raise UnsupportedModelError(f'{what}: norm layer {type(bn).__name__}; only 2-D '
                                        'BatchNorm converts')
        if not bn.affine or not bn.track_running_stats:
            raise UnsupportedModelError(f'{what}: BatchNorm needs affine=True and '
                                        'track_running_stats=True to convert')
        if bn.momentum is None:
            raise UnsupportedModelError(f'{what}: BatchNorm momentum=None (cumulative average) '
                                        'has no MindSpore equivalent')
        norm = NormSpec(float(bn.eps), float(bn.momentum))
    relu = False
    if module.with_activation:
        if type(module.activate) is not nn.ReLU:
            raise UnsupportedModelError(f'{what}: activation {type(module.activate).__name__}; '
                                        'only ReLU converts')
        relu = True
    return ConvSpec(**{**spec.__dict__, 'norm': norm, 'relu': relu})


def _pool_spec(pool: nn.Module, what: str) -> PoolSpec:
    if type(pool) is not nn.MaxPool2d:
        raise UnsupportedModelError(f'{what}: {type(pool).__name__} is not nn.MaxPool2d')
    if _pair(pool.dilation) != (1, 1) or pool.return_indices:
        raise UnsupportedModelError(f'{what}: dilated pooling / return_indices do not convert')
    stride = pool.kernel_size if pool.stride is None else pool.stride
    return PoolSpec(_pair(pool.kernel_size), _pair(stride), _pair(pool.padding),
                    bool(pool.ceil_mode))


def _deconv_spec(deconv: nn.Module, what: str) -> DeconvSpec:
    if not isinstance(deconv, nn.ConvTranspose2d):
        raise UnsupportedModelError(f'{what}: {type(deconv).__name__} is not a ConvTranspose2d')
    if _pair(deconv.output_padding) != (0, 0) or _pair(deconv.dilation) != (1, 1):
        raise UnsupportedModelError(f'{what}: output_padding/dilation other than 0/1 do not '
                                    'convert')
    if deconv.groups != 1:
        raise UnsupportedModelError(f'{what}: grouped (depthwise) transposed convs do not convert; '
                                    "FCN's score upsamplers use the full C x C form")
    return DeconvSpec(deconv.in_channels, deconv.out_channels, _pair(deconv.kernel_size),
                      _pair(deconv.stride), _pair(deconv.padding), deconv.groups,
                      deconv.bias is not None)


def describe_backbone(backbone: nn.Module, what: str = 'backbone') -> BackboneSpec:
    if not isinstance(backbone, FCNVGG):
        raise UnsupportedModelError(f'{what}: {type(backbone).__name__}; the converters build '
                                    'MindSpore networks for FCNVGG backbones only')
    stages = []
    for names in backbone.stage_layers:
        layers = []
        for name in names:
            module = getattr(backbone, name)
            if name.startswith('pool'):
                layers.append((name, _pool_spec(module, f'{what}.{name}')))
            elif name.startswith('drop'):
                continue  # identity at inference
            else:
                layers.append((name, conv_module_spec(module, f'{what}.{name}')))
        stages.append(tuple(layers))
    return BackboneSpec(tuple(stages), tuple(backbone.out_indices))


def describe_head(head: nn.Module, what: str = 'decode_head') -> HeadSpec:
    if not isinstance(head, FCNSkipHead):
        raise UnsupportedModelError(f'{what}: {type(head).__name__}; the converters support the '
                                    'FCN-32s/16s/8s heads (FCNSkipHead) only')
    multiple = head.input_transform == 'multiple_select'
    if head.input_transform not in (None, 'multiple_select'):
        raise UnsupportedModelError(f'{what}: input_transform={head.input_transform!r}')
    in_index = tuple(head.in_index) if multiple else (head.in_index, )
    score_fr = _plain_conv(head.conv_seg, f'{what}.conv_seg')
    skips = []
    for i, skip in enumerate(head.skip_names):
        score = f'score_{skip}'
        up = head.fuse_upsamplers[i]
        scale = head.skip_scales[i]
        skips.append((score, _plain_conv(getattr(head, score), f'{what}.{score}'), up,
                      _deconv_spec(getattr(head, up), f'{what}.{up}'), int(head.skip_offsets[i]),
                      None if scale is None else float(scale)))
    final = _deconv_spec(getattr(head, head.final_upsampler), f'{what}.{head.final_upsampler}')
    return HeadSpec(in_index, multiple, head.geometry, score_fr, tuple(skips),
                    head.final_upsampler, final, int(head.final_offset))


def describe_fcn(model: nn.Module, what: str = 'the model') -> FCNSpec:
    """Describe an mmseg ``EncoderDecoder`` with an ``FCNVGG`` backbone and an FCN head.

    Raises:
        UnsupportedModelError: another backbone/head, a neck, or a layer that does not convert.
    """
    for attr in ('backbone', 'decode_head'):
        if not hasattr(model, attr):
            raise UnsupportedModelError(f'{what}: {type(model).__name__} has no {attr}; expected '
                                        'an mmseg EncoderDecoder')
    if getattr(model, 'with_neck', False):
        raise UnsupportedModelError(f'{what}: has a neck ({type(model.neck).__name__}); the FCN '
                                    'converters handle FCNVGG -> FCN head networks')
    return FCNSpec(describe_backbone(model.backbone, f'{what}: backbone'),
                   describe_head(model.decode_head, f'{what}: decode_head'))


@dataclass(frozen=True)
class ReferenceNetwork:
    """A published FCN whose checkpoints the converters read or write in its own layout.

    Used to check that a config's model computes what that network computes, so its weights mean
    the same thing in both. Skip fields are coarse to fine (pool4, pool3).
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
    skip_offsets=(5, 9), final_offsets={32: 19, 16: 27, 8: 31},
    skip_scales=((), (None, ), (None, None), (0.01, 0.0001)))


def reference_mismatches(spec: FCNSpec, ref: ReferenceNetwork) -> List[str]:
    """Why ``spec`` does not compute what ``ref`` computes (empty list: it does).

    Checked: 3 input channels; the VGG-16 convs and 4096-channel fc6/fc7 with the reference's
    bias/BN/padding, ReLU after each; 2x2 stride-2 pooling in the reference's rounding; an FCN head
    variant the reference has, with its geometry, crop offsets, skip scales, score biases and
    transposed convs of kernel 2s, stride s and the reference's padding.
    """
    why = []
    first = spec.backbone.stages[0][0][1]
    if first.in_channels != 3:
        why.append(f'input channels {first.in_channels} (expected 3)')
    pool = ((2, 2), (2, 2), (0, 0), ref.ceil_mode)
    for stage in spec.backbone.stages:
        for name, layer in stage:
            if isinstance(layer, PoolSpec):
                if (layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode) != pool:
                    why.append(f'{name}: {layer} (expected 2x2 stride 2, '
                               f'{"ceil" if ref.ceil_mode else "floor"} mode)')
                continue
            eps = layer.norm.eps if layer.norm else None
            if layer.bias != ref.conv_bias or eps != ref.norm_eps or not layer.relu:
                why.append(f'{name}: bias={layer.bias}, BN eps={eps}, relu={layer.relu} '
                           f'(expected bias={ref.conv_bias}, BN eps={ref.norm_eps}, relu=True)')
            k = layer.kernel_size[0]
            pad = {'conv1_1': ref.conv1_padding, 'fc6': ref.fc6_padding}.get(name, k // 2)
            if layer.padding != (pad, pad) or layer.stride != (1, 1) or layer.dilation != (1, 1) \
                    or layer.groups != 1:
                why.append(f'{name}: padding {layer.padding}, stride {layer.stride} (expected '
                           f'padding {pad}, stride 1)')
            if name in ('fc6', 'fc7') and layer.out_channels != 4096:
                why.append(f'{name}: {layer.out_channels} channels (expected 4096)')
    head = spec.head
    stride = spec.output_stride
    if stride not in ref.final_offsets:
        return why + [f'FCN-{stride}s head ({ref.name} has '
                      f'{", ".join(f"FCN-{s}s" for s in sorted(ref.final_offsets))})']
    expected_in = {32: (5, ), 16: (3, 5), 8: (2, 3, 5)}[stride]
    levels = tuple(spec.backbone.out_indices[i] for i in head.in_index)
    if levels != expected_in:
        why.append(f'head inputs are backbone levels {list(levels)} (expected '
                   f'{list(expected_in)}: pool3, pool4, fc7 as used)')
    if head.geometry != ref.geometry or head.final_offset != ref.final_offsets[stride]:
        why.append(f'head geometry {head.geometry!r}, final crop {head.final_offset} (expected '
                   f'{ref.geometry!r}, {ref.final_offsets[stride]})')
    offsets = tuple(s[4] for s in head.skips)
    if offsets != ref.skip_offsets[:len(offsets)]:
        why.append(f'skip crop offsets {offsets} (expected {ref.skip_offsets[:len(offsets)]})')
    scales = tuple(s[5] for s in head.skips)
    if scales not in ref.skip_scales:
        why.append(f'skip input scales {scales} (expected one of {list(ref.skip_scales)})')
    scores = [(HEAD_TO_CAFFE['conv_seg'], head.score_fr)] + [(s[0], s[1]) for s in head.skips]
    for name, conv in scores:
        if conv.bias != ref.score_bias:
            why.append(f'{name}: bias={conv.bias} (expected {ref.score_bias})')
    for name, deconv in [(s[2], s[3]) for s in head.skips] + [(head.final_upsampler, head.final)]:
        s = deconv.stride[0]
        p = s // 2 if ref.deconv_half_padding else 0
        if deconv.bias or deconv.padding != (p, p) or deconv.kernel_size != (2 * s, 2 * s) \
                or deconv.stride != (s, s):
            why.append(f'{name}: {deconv} (expected kernel {2 * s}, stride {s}, padding {p}, '
                       'no bias)')
    return why


def format_mismatches(why: List[str], limit: int = 8) -> str:
    """The first ``limit`` reasons of a ``*_mismatches`` list, ``'; '``-joined, for messages."""
    return '; '.join(why[:limit]) + (f' (+{len(why) - limit} more)' if len(why) > limit else '')


def tutorial_mismatches(spec: FCNSpec) -> List[str]:
    """Why ``spec`` is not the MindSpore tutorial's FCN8s (empty list: it is)."""
    return reference_mismatches(spec, MINDSPORE_TUTORIAL)


def caffe_release_mismatches(spec: FCNSpec) -> List[str]:
    """Why ``spec`` does not compute what the authors' Caffe FCN (and torchfcn) computes."""
    return reference_mismatches(spec, CAFFE_RELEASE)
