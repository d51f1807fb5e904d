# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Read an :class:`~.spec.FCNSpec` off a built mmseg FCN model.

The converters never re-derive a layer's arguments from a config: they read them from the modules
``MODELS.build`` produced (padding, ceil mode, BN eps/momentum, crop offsets, skip scales, ...), so
the MindSpore and ONNX networks reproduce exactly what the torch model runs. Anything the
converters cannot reproduce raises :class:`UnsupportedModelError` naming the layer and the problem,
rather than being converted approximately. Dropout is the identity at inference and is left out.
"""
from mmcv.cnn import ConvModule
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from torch import nn

from fcn_voc_core.errors import InputError

from ..models.backbones.fcn_vgg import FCNVGG
from ..models.decode_heads.fcn_skip_head import FCNSkipHead, score_layer_name
from ..models.utils import SmallMapConv2d
from .spec import (
    BackboneSpec,
    ConvSpec,
    DeconvSpec,
    FCNSpec,
    HeadSpec,
    NormSpec,
    Pair,
    PoolSpec,
    SkipSpec,
)


class UnsupportedModelError(InputError):
    """A model (or one of its layers) the converters cannot reproduce exactly."""


#: Convolutions that compute exactly what ``nn.Conv2d`` computes.
PLAIN_CONVS = (nn.Conv2d, SmallMapConv2d)


def _pair(value) -> Pair:
    return (value, value) if isinstance(value, int) else tuple(int(v) for v in value)


def _plain_conv(conv: nn.Module, what: str) -> ConvSpec:
    if type(conv) not in PLAIN_CONVS:
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
    return spec.with_post(norm, relu)


def pool_spec(pool: nn.Module, what: str) -> PoolSpec:
    if type(pool) is not nn.MaxPool2d:
        raise UnsupportedModelError(f'{what}: {type(pool).__name__} is not nn.MaxPool2d')
    if _pair(pool.dilation) != (1, 1) or pool.return_indices:
        raise UnsupportedModelError(f'{what}: dilated pooling / return_indices do not convert')
    stride = pool.kernel_size if pool.stride is None else pool.stride
    return PoolSpec(_pair(pool.kernel_size), _pair(stride), _pair(pool.padding),
                    bool(pool.ceil_mode))


def deconv_spec(deconv: nn.Module, what: str, allow_groups: bool = False) -> DeconvSpec:
    if not isinstance(deconv, nn.ConvTranspose2d):
        raise UnsupportedModelError(f'{what}: {type(deconv).__name__} is not a ConvTranspose2d')
    if _pair(deconv.output_padding) != (0, 0) or _pair(deconv.dilation) != (1, 1):
        raise UnsupportedModelError(f'{what}: output_padding/dilation other than 0/1 do not '
                                    'convert')
    if deconv.groups != 1 and not allow_groups:
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
                layers.append((name, pool_spec(module, f'{what}.{name}')))
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
        score, up, scale = score_layer_name(skip), head.fuse_upsamplers[i], head.skip_scales[i]
        skips.append(SkipSpec(score, _plain_conv(getattr(head, score), f'{what}.{score}'), up,
                              deconv_spec(getattr(head, up), f'{what}.{up}'),
                              int(head.skip_offsets[i]), None if scale is None else float(scale)))
    final = deconv_spec(getattr(head, head.final_upsampler), f'{what}.{head.final_upsampler}')
    return HeadSpec(in_index, multiple, head.geometry, score_fr, tuple(skips),
                    head.final_upsampler, final, int(head.final_offset))


def is_fcn_vgg(model: nn.Module) -> bool:
    """An ``EncoderDecoder(FCNVGG, FCNSkipHead)`` without a neck: the networks described as an
    :class:`~.spec.FCNSpec`, with their own MindSpore layouts (:mod:`.names`)."""
    return isinstance(getattr(model, 'backbone', None), FCNVGG) and isinstance(
        getattr(model, 'decode_head', None), FCNSkipHead) and not getattr(model, 'with_neck', False)


def describe_network(model: nn.Module, what: str = 'the model'):
    """The converters' one description of ``model``: an :class:`~.spec.FCNSpec` for the FCN/VGG
    networks (:func:`is_fcn_vgg`), else the traced graph of :func:`~.graph.trace_network` (the
    FCN heads on mmseg's backbones, the bilinear neck in front of mmseg's heads, ...). Both
    answer ``num_classes``, ``geometry``, ``size_divisor`` and ``summary``.

    Raises:
        UnsupportedModelError: a layer or operation that does not convert, named.
    """
    for attr in ('backbone', 'decode_head'):
        if not hasattr(model, attr):
            raise UnsupportedModelError(f'{what}: {type(model).__name__} has no {attr}; expected '
                                        'an mmseg EncoderDecoder')
    if is_fcn_vgg(model):
        return describe_fcn(model, what)
    from .graph import trace_network
    return trace_network(model, what)


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
