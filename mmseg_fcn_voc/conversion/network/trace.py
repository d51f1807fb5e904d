# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The one description of a network the converters have: its traced graph.

:func:`trace_network` traces :class:`~.segmentor.SegmentorNetwork` (the model's inference network:
backbone -> neck -> decode head -> logits at the input size) with ``torch.fx``. The layers of
:data:`LAYER_TYPES` stay whole (leaves of the graph) and are described as plain data
(:mod:`.layer_specs`, read off the built modules, so the converted networks reproduce exactly what
the torch model runs); everything between them is recorded as one of the operations of
:data:`FUNCTIONS` (sums, products with constants, concatenation, bilinear resizing, crops, tuple
and shape indexing). The MindSpore translation (:mod:`..mindspore.translate`) turns the result into
one cell per layer and a ``construct`` that replays the operations; the published networks' checks
(:mod:`.references`) and parameter layouts (:mod:`.layouts`) are functions over it.

A torch layer outside the list (``nn.GELU``, ``nn.LayerNorm``, ...) or an operation outside
:data:`FUNCTIONS` is refused with :class:`UnsupportedModelError`, naming the module path and its
type, before anything is written. Shapes are read by running the traced graph once
(``ShapeProp``), so every node knows whether it is a tensor and of which rank.
"""
import operator
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model.utils import _BatchNormXd
from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm as MMEngineSyncBatchNorm
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from fcn_voc_core.errors import InputError

from ...models.backbones.fcn_vgg import FCNVGG
from ...models.decode_heads.fcn_skip_head import FCNSkipHead, score_layer_name
from ...models.utils import BilinearConvTranspose2d, SmallMapConv2d
from .layer_specs import (
    BatchNormSpec,
    ConvSpec,
    DeconvSpec,
    IdentitySpec,
    LayerSpec,
    NormSpec,
    Pair,
    PoolSpec,
    ReLUSpec,
)
from .segmentor import SegmentorNetwork


class UnsupportedModelError(InputError):
    """A model (or one of its layers) the converters cannot reproduce exactly."""


#: torch layers that translate as a whole (exact types: a subclass may compute something else).
CONV_TYPES = (nn.Conv2d, SmallMapConv2d)
DECONV_TYPES = (nn.ConvTranspose2d, BilinearConvTranspose2d)
IDENTITY_TYPES = (nn.Identity, nn.Dropout, nn.Dropout2d)  # the identity at inference
#: BatchNorm as mmcv builds it: ``BN``, ``SyncBN`` (mmengine's subclass; the same at inference)
#: and what ``revert_sync_batchnorm`` turns SyncBN into on the CPU.
NORM_TYPES = (nn.BatchNorm2d, nn.SyncBatchNorm, MMEngineSyncBatchNorm, _BatchNormXd)
LAYER_TYPES = CONV_TYPES + DECONV_TYPES + IDENTITY_TYPES + NORM_TYPES + (nn.ReLU, nn.MaxPool2d)

#: The operations between layers: fx target -> the name the translation uses.
FUNCTIONS = {
    operator.add: 'add', operator.sub: 'sub', operator.mul: 'mul', operator.floordiv: 'floordiv',
    operator.getitem: 'getitem', getattr: 'getattr', torch.cat: 'cat', F.interpolate: 'resize',
    torch.relu: 'relu', F.relu: 'relu',
}
#: ``F.interpolate`` modes that translate (mmseg's ``resize`` of logits and features).
RESIZE_MODES = ('bilinear', 'nearest')


@dataclass(frozen=True)
class Ref:
    """An argument that is the value of node ``name``."""
    name: str


@dataclass(frozen=True)
class GraphOp:
    """One node: ``kind`` is ``'input'``, ``'layer'`` (``target`` = the layer's module path),
    ``'output'`` or a :data:`FUNCTIONS` name; ``args``/``kwargs`` hold :class:`Ref`\\ s, constants,
    ``slice``\\ s and ``Ellipsis`` as torch passed them. ``rank`` is the tensor rank of the
    value (None: not a tensor, e.g. a shape or a tuple of feature maps)."""
    name: str
    kind: str
    target: str
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]
    rank: Optional[int]


@dataclass(frozen=True)
class SkipFusion:
    """One skip of an FCN head: score layer ``score`` (``score_pool4``), the x2 transposed conv
    ``upsampler`` (``upscore2``), the crop ``offset`` and the fixed input ``scale`` (or None)."""
    score: str
    upsampler: str
    offset: int
    scale: Optional[float]


@dataclass(frozen=True)
class FCNStructure:
    """What the graph does not spell out of an FCN on ``FCNVGG`` (the networks the published
    checkpoints were trained in): the backbone's layer names per level (pool1 .. pool5, fc7), the
    levels it returns, the head's inputs and its skips, coarse to fine, and the final crop."""
    stages: Tuple[Tuple[str, ...], ...]
    out_indices: Tuple[int, ...]
    in_index: Tuple[int, ...]
    skips: Tuple[SkipFusion, ...]
    final_upsampler: str
    final_offset: int

    @property
    def output_stride(self) -> int:
        return 32 // 2**len(self.skips)


@dataclass(frozen=True)
class TracedNetwork:
    """An mmseg segmentor's inference network, (N, 3, H, W) -> (N, K, H, W) logits, as data.

    Attributes:
        ops: the nodes in execution order (the first is the input, the last the output).
        layers: ``{module path: spec}`` of every layer, in the order they first run.
        num_classes: K.
        geometry: the FCN head's ``geometry`` ('caffe' / 'same'), or ``'resize'`` for a head whose
            logits mmseg resizes to the input.
        size_divisor: the input sizes the network takes (multiples of it).
        summary: e.g. ``'EncoderDecoder(ResNetV1c -> BilinearDeconvNeck -> FCNHead)'``.
        fcn: for an FCN head on ``FCNVGG`` without a neck, its :class:`FCNStructure`; else None.
    """
    ops: Tuple[GraphOp, ...]
    layers: Dict[str, LayerSpec]
    num_classes: int
    geometry: str
    size_divisor: int
    summary: str = ''
    fcn: Optional[FCNStructure] = None


# --------------------------------------------------------------------------------------------------
# layers as data
# --------------------------------------------------------------------------------------------------
def _pair(value) -> Pair:
    return (value, value) if isinstance(value, int) else tuple(int(v) for v in value)


def conv_spec(conv: nn.Module, what: str) -> ConvSpec:
    if type(conv) not in CONV_TYPES:
        raise UnsupportedModelError(f'{what}: {type(conv).__name__} is not a plain nn.Conv2d')
    if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
        raise UnsupportedModelError(f'{what}: padding={conv.padding!r}, padding_mode='
                                    f'{conv.padding_mode!r}; only explicit zero padding converts')
    return ConvSpec(conv.in_channels, conv.out_channels, _pair(conv.kernel_size),
                    _pair(conv.stride), _pair(conv.padding), _pair(conv.dilation), conv.groups,
                    conv.bias is not None)


def pool_spec(pool: nn.Module, what: str) -> PoolSpec:
    if type(pool) is not nn.MaxPool2d:
        raise UnsupportedModelError(f'{what}: {type(pool).__name__} is not nn.MaxPool2d')
    if _pair(pool.dilation) != (1, 1) or pool.return_indices:
        raise UnsupportedModelError(f'{what}: dilated pooling / return_indices do not convert')
    stride = pool.kernel_size if pool.stride is None else pool.stride
    return PoolSpec(_pair(pool.kernel_size), _pair(stride), _pair(pool.padding),
                    bool(pool.ceil_mode))


def deconv_spec(deconv: nn.Module, what: str) -> DeconvSpec:
    if _pair(deconv.output_padding) != (0, 0) or _pair(deconv.dilation) != (1, 1):
        raise UnsupportedModelError(f'{what}: output_padding/dilation other than 0/1 do not '
                                    'convert')
    return DeconvSpec(deconv.in_channels, deconv.out_channels, _pair(deconv.kernel_size),
                      _pair(deconv.stride), _pair(deconv.padding), deconv.groups,
                      deconv.bias is not None)


def norm_spec(bn: _BatchNorm, what: str) -> NormSpec:
    if not bn.affine or not bn.track_running_stats or bn.momentum is None:
        raise UnsupportedModelError(f'{what}: BatchNorm needs affine=True, track_running_stats='
                                    'True and a momentum to convert')
    return NormSpec(float(bn.eps), float(bn.momentum))


def layer_spec(module: nn.Module, what: str) -> LayerSpec:
    """The spec of one leaf layer (a :data:`LAYER_TYPES` module)."""
    kind = type(module)
    if kind in CONV_TYPES:
        return conv_spec(module, what)
    if kind in DECONV_TYPES:
        return deconv_spec(module, what)
    if kind is nn.MaxPool2d:
        return pool_spec(module, what)
    if kind in NORM_TYPES:
        return BatchNormSpec(module.num_features, norm_spec(module, what))
    if kind is nn.ReLU:
        return ReLUSpec()
    return IdentitySpec()


# --------------------------------------------------------------------------------------------------
# the graph
# --------------------------------------------------------------------------------------------------
class _LayerTracer(fx.Tracer):
    """Keeps :data:`LAYER_TYPES` and every other ``torch.nn`` layer whole; records the latter so
    that they are refused by name (tracing *into* a torch layer would hide what it is)."""

    def __init__(self):
        super().__init__()
        self.unsupported: List[str] = []

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if type(m) in LAYER_TYPES:
            return True
        if super().is_leaf_module(m, qualname):  # a torch.nn layer not in the list
            self.unsupported.append(f'{qualname} ({type(m).__name__})')
            return True
        return False


def _arg(value):
    """fx arguments -> :class:`Ref` / constants (tuples, lists, slices kept)."""
    if isinstance(value, fx.Node):
        return Ref(value.name)
    if isinstance(value, (tuple, list)):
        return type(value)(_arg(v) for v in value)
    if isinstance(value, slice):
        return slice(_arg(value.start), _arg(value.stop), _arg(value.step))
    if isinstance(value, dict):
        return {k: _arg(v) for k, v in value.items()}
    if value is None or value is Ellipsis or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return str(value)
    raise UnsupportedModelError(f'an argument of type {type(value).__name__} ({value!r:.80}) '
                                'does not translate')


def _rank(node: fx.Node) -> Optional[int]:
    meta = node.meta.get('tensor_meta')
    return len(meta.shape) if meta is not None and hasattr(meta, 'shape') else None


def _check_function(node: fx.Node, what: str) -> str:
    name = FUNCTIONS.get(node.target)
    if node.op == 'call_function' and name is None:
        raise UnsupportedModelError(
            f'{what}: the operation {getattr(node.target, "__name__", node.target)!s} (graph '
            f'node {node.name}) does not translate; supported between layers: '
            f'{sorted(set(FUNCTIONS.values()))}')
    if name == 'resize':
        mode = node.kwargs.get('mode', 'nearest')
        if mode not in RESIZE_MODES or node.kwargs.get('scale_factor') is not None \
                or node.kwargs.get('antialias'):
            raise UnsupportedModelError(f'{what}: interpolate(mode={mode!r}, scale_factor='
                                        f'{node.kwargs.get("scale_factor")}) (node {node.name}); '
                                        f'only resizing to a size in modes {RESIZE_MODES} '
                                        'translates')
    if name == 'getattr' and node.args[1] != 'shape':
        raise UnsupportedModelError(f'{what}: attribute {node.args[1]!r} of a tensor (node '
                                    f'{node.name}); only .shape translates')
    return name


def network_summary(model: nn.Module) -> str:
    parts = [type(model.backbone).__name__]
    if getattr(model, 'with_neck', False):
        parts.append(type(model.neck).__name__)
    parts.append(type(model.decode_head).__name__)
    return f'{type(model).__name__}({" -> ".join(parts)})'


def _trace_graph(model: nn.Module, what: str) -> Tuple[fx.GraphModule, fx.Graph]:
    network = SegmentorNetwork(model).eval()
    tracer = _LayerTracer()
    try:
        graph = tracer.trace(network)
    except UnsupportedModelError:
        raise
    except Exception as e:  # noqa: BLE001 - fx raises TraceError, TypeError, ... from model code
        raise UnsupportedModelError(
            f'{what}: the inference network cannot be traced with torch.fx ({type(e).__name__}: '
            f'{str(e)[:300]}); the converters translate networks built from the layers '
            f'{[t.__name__ for t in LAYER_TYPES]} with static control flow') from e
    if tracer.unsupported:
        raise UnsupportedModelError(
            f'{what}: {len(tracer.unsupported)} layer(s) the converters do not translate: '
            f'{tracer.unsupported[:10]}; supported: {sorted({t.__name__ for t in LAYER_TYPES})}')
    return fx.GraphModule(network, graph), graph


def _ops_and_layers(module: fx.GraphModule, graph: fx.Graph, what: str):
    ops, layers = [], {}
    for node in graph.nodes:
        if node.op == 'placeholder':
            ops.append(GraphOp(node.name, 'input', '', (), {}, _rank(node)))
        elif node.op == 'output':
            ops.append(GraphOp(node.name, 'output', '', (_arg(node.args[0]), ), {}, None))
        elif node.op == 'call_module':
            path = _strip(node.target)
            if path not in layers:
                layers[path] = layer_spec(module.get_submodule(node.target), f'{what}: {path}')
            ops.append(GraphOp(node.name, 'layer', path, _arg(node.args), _arg(node.kwargs),
                               _rank(node)))
        elif node.op == 'call_function':
            kind = _check_function(node, what)
            ops.append(GraphOp(node.name, kind, '', _arg(node.args), _arg(node.kwargs),
                               _rank(node)))
        else:
            raise UnsupportedModelError(f'{what}: graph node {node.name} is a {node.op} '
                                        f'({node.target}); only layers and functions translate')
    return tuple(ops), layers


def fcn_structure(model: nn.Module) -> Optional[FCNStructure]:
    """The :class:`FCNStructure` of an FCN head on ``FCNVGG`` without a neck; None otherwise."""
    backbone, head = getattr(model, 'backbone', None), getattr(model, 'decode_head', None)
    if not isinstance(backbone, FCNVGG) or not isinstance(head, FCNSkipHead) \
            or getattr(model, 'with_neck', False):
        return None
    stages = tuple(tuple(n for n in names if not n.startswith('drop'))
                   for names in backbone.stage_layers)
    multiple = head.input_transform == 'multiple_select'
    skips = tuple(SkipFusion(score_layer_name(skip), head.fuse_upsamplers[i],
                             int(head.skip_offsets[i]),
                             None if head.skip_scales[i] is None else float(head.skip_scales[i]))
                  for i, skip in enumerate(head.skip_names))
    return FCNStructure(stages, tuple(backbone.out_indices),
                        tuple(head.in_index) if multiple else (head.in_index, ), skips,
                        head.final_upsampler, int(head.final_offset))


def trace_network(model: nn.Module, what: str = 'the model',
                  example_size: Tuple[int, int] = (64, 64)) -> TracedNetwork:
    """Trace ``model``'s inference network; shapes are read on a zero input of ``example_size``
    (the graph itself takes every size the network takes).

    Raises:
        UnsupportedModelError: not an mmseg ``EncoderDecoder``, a layer outside
            :data:`LAYER_TYPES` (every one named, with its path and type), or the first operation
            that does not translate.
    """
    for attr in ('backbone', 'decode_head'):
        if not hasattr(model, attr):
            raise UnsupportedModelError(f'{what}: {type(model).__name__} has no {attr}; expected '
                                        'an mmseg EncoderDecoder')
    module, graph = _trace_graph(model, what)
    with torch.no_grad():
        ShapeProp(module).propagate(torch.zeros(1, 3, *example_size))
    ops, layers = _ops_and_layers(module, graph, what)
    head = model.decode_head
    geometry = head.geometry if isinstance(head, FCNSkipHead) else 'resize'
    return TracedNetwork(ops, layers, int(head.num_classes), geometry,
                         32 if geometry == 'same' else 1, network_summary(model),
                         fcn_structure(model))


def _strip(target: str) -> str:
    """``model.backbone.layer1.0.conv1`` (the wrapper's path) -> ``backbone.layer1.0.conv1``."""
    return target[len('model.'):] if target.startswith('model.') else target
