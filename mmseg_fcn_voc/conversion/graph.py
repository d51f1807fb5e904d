# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Any mmseg segmentor the converters support, as a traced graph of layers and tensor operations.

:func:`trace_network` traces :class:`~.model_io.SegmentorNetwork` (the model's inference network:
backbone -> neck -> decode head -> logits at the input size) with ``torch.fx``. The layers listed
in :data:`LAYER_TYPES` stay whole (leaves of the graph) and are described as plain data
(:mod:`.spec`); everything between them is recorded as one of the operations of
:data:`FUNCTIONS` (sums, products with constants, concatenation, bilinear resizing, crops, tuple
and shape indexing). The MindSpore translation (:mod:`.mindspore.translate`) turns the result into
one cell per layer and a ``construct`` that replays the operations.

A torch layer outside the list (``nn.GELU``, ``nn.LayerNorm``, ...) or an operation outside
:data:`FUNCTIONS` is refused with :class:`~.describe.UnsupportedModelError`, naming the module
path and its type, before anything is written. Shapes are read by running the traced graph once
(``ShapeProp``), so every node knows whether it is a tensor and of which rank.

No MindSpore here: plain data and torch only.
"""
import operator
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model.utils import _BatchNormXd
from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm as MMEngineSyncBatchNorm
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..models.decode_heads.fcn_skip_head import FCNSkipHead
from ..models.utils import BilinearConvTranspose2d, SmallMapConv2d
from .describe import UnsupportedModelError, conv_module_spec, deconv_spec, pool_spec
from .spec import ConvSpec, DeconvSpec, FCNSpec, NormSpec, PoolSpec

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
class BatchNormSpec:
    """A stand-alone eval-mode BatchNorm over ``num_features`` channels."""
    num_features: int
    norm: NormSpec


@dataclass(frozen=True)
class ReLUSpec:
    """``nn.ReLU``."""


@dataclass(frozen=True)
class IdentitySpec:
    """``nn.Identity`` or dropout (the identity at inference)."""


LayerSpec = Union[ConvSpec, DeconvSpec, PoolSpec, BatchNormSpec, ReLUSpec, IdentitySpec]


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
    """
    ops: Tuple[GraphOp, ...]
    layers: Dict[str, LayerSpec]
    num_classes: int
    geometry: str
    size_divisor: int
    summary: str = ''


#: What the converters describe a model as (:func:`~.describe.describe_network`).
NetworkSpec = Union[FCNSpec, TracedNetwork]


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


def _layer_spec(module: nn.Module, what: str) -> LayerSpec:
    kind = type(module)
    if kind in CONV_TYPES:
        return conv_module_spec(module, what)
    if kind in DECONV_TYPES:
        return deconv_spec(module, what, allow_groups=True)
    if kind is nn.MaxPool2d:
        return pool_spec(module, what)
    if kind in NORM_TYPES:
        return BatchNormSpec(module.num_features, _norm(module, what))
    if kind is nn.ReLU:
        return ReLUSpec()
    return IdentitySpec()


def _norm(bn: _BatchNorm, what: str) -> NormSpec:
    if not bn.affine or not bn.track_running_stats or bn.momentum is None:
        raise UnsupportedModelError(f'{what}: BatchNorm needs affine=True, track_running_stats='
                                    'True and a momentum to convert')
    return NormSpec(float(bn.eps), float(bn.momentum))


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


def trace_network(model: nn.Module, what: str = 'the model',
                  example_size: Tuple[int, int] = (64, 64)) -> TracedNetwork:
    """Trace ``model``'s inference network; shapes are read on a zero input of ``example_size``
    (the graph itself takes every size the network takes).

    Raises:
        UnsupportedModelError: naming every layer outside :data:`LAYER_TYPES` (path and type), or
            the first operation that does not translate.
    """
    from .model_io import SegmentorNetwork

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
    module = fx.GraphModule(network, graph)
    with torch.no_grad():
        ShapeProp(module).propagate(torch.zeros(1, 3, *example_size))
    ops, layers = [], {}
    for node in graph.nodes:
        if node.op == 'placeholder':
            ops.append(GraphOp(node.name, 'input', '', (), {}, _rank(node)))
            continue
        if node.op == 'output':
            ops.append(GraphOp(node.name, 'output', '', (_arg(node.args[0]), ), {}, None))
            continue
        if node.op == 'call_module':
            path = _strip(node.target)
            sub = module.get_submodule(node.target)
            if path not in layers:
                layers[path] = _layer_spec(sub, f'{what}: {path}')
            ops.append(GraphOp(node.name, 'layer', path, _arg(node.args), _arg(node.kwargs),
                               _rank(node)))
            continue
        if node.op != 'call_function':
            raise UnsupportedModelError(f'{what}: graph node {node.name} is a {node.op} '
                                        f'({node.target}); only layers and functions translate')
        kind = _check_function(node, what)
        ops.append(GraphOp(node.name, kind, '', _arg(node.args), _arg(node.kwargs), _rank(node)))
    head = model.decode_head
    geometry = head.geometry if isinstance(head, FCNSkipHead) else 'resize'
    return TracedNetwork(tuple(ops), layers, int(head.num_classes), geometry,
                         32 if geometry == 'same' else 1, network_summary(model))


def _strip(target: str) -> str:
    """``model.backbone.layer1.0.conv1`` (the wrapper's path) -> ``backbone.layer1.0.conv1``."""
    return target[len('model.'):] if target.startswith('model.') else target
