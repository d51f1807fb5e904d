# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""One translation of traced torch networks (:mod:`..network.trace`) into MindSpore cells.

Every layer of the graph becomes the MindSpore cell of :mod:`.cells` with the same arguments
(convolutions with dilation, groups and padding; BN; ReLU; max pooling in both rounding modes;
transposed convolutions, grouped ones included; the identity for dropout), and the operations
between layers become the lines of a generated ``construct``: sums, products with constants,
``ops.cat``, ``ops.interpolate`` (mmseg's ``resize``: bilinear with the head's ``align_corners``,
or nearest), crops as ``ops.slice`` (fast on the CPU, and they follow the input's shape in a
dynamic MINDIR), tuple and shape indexing.

MindSpore compiles ``construct`` from its source, so the generated class is written to a Python
file (``<name>_network.py`` beside the converted files: a readable definition of the network)
and imported from there.

Parameter names are the torch state-dict keys with MindSpore's BN names (``gamma``, ``beta``,
``moving_mean``, ``moving_variance``; ``num_batches_tracked`` is not stored), e.g.
``backbone.layer1.0.conv1.weight``, ``backbone.layer1.0.bn1.gamma``,
``decode_head.conv_seg.weight``: the layout ``'translated'`` of :mod:`..network.layouts`. The
FCN/VGG networks keep their own layouts (``'mindspore'``, the tutorial's ``'mindspore_tutorial'``):
the same cells, their parameters named as that layout names the torch keys.
"""
import hashlib
import importlib.util
import os
import os.path as osp
import re
import sys
import tempfile
from typing import Dict, Optional

from mindspore import nn

from fcn_voc_core.fileio import atomic_output

from ..network.layer_specs import (
    BatchNormSpec,
    ConvSpec,
    DeconvSpec,
    IdentitySpec,
    PoolSpec,
    ReLUSpec,
)
from ..network.layouts import TRANSLATED_LAYOUT, KeyMapError, format_keys, layout_key, torch_key
from ..network.trace import GraphOp, Ref, TracedNetwork, UnsupportedModelError
from .cells import Resize, batch_norm2d, conv2d, conv_transpose2d, max_pool2d

CLASS_NAME = 'TranslatedNetwork'
#: Attribute prefix of the cells that carry an operation's primitive (``resize`` nodes).
RESIZE_PREFIX = 'resize_'
_BINARY = {'add': '+', 'sub': '-', 'mul': '*', 'floordiv': '//'}


def build_layer(spec, weight_init='zeros') -> nn.Cell:
    """The MindSpore cell of one traced layer (parameters at zero until loaded)."""
    if isinstance(spec, ConvSpec):  # a leaf conv: mmcv's ConvModule is traced through
        return conv2d(spec, weight_init)
    if isinstance(spec, DeconvSpec):
        return conv_transpose2d(spec, weight_init)
    if isinstance(spec, PoolSpec):
        return max_pool2d(spec)
    if isinstance(spec, BatchNormSpec):
        return batch_norm2d(spec.num_features, spec.norm)
    if isinstance(spec, ReLUSpec):
        return nn.ReLU()
    if isinstance(spec, IdentitySpec):
        return nn.Identity()
    raise UnsupportedModelError(f'no MindSpore cell for {type(spec).__name__}')


def attribute_names(paths) -> Dict[str, str]:
    """``{module path: attribute}``: ``backbone.layer1.0.conv1`` -> ``backbone_layer1_0_conv1``
    (unique, valid Python names)."""
    names, used = {}, set()
    for path in paths:
        base = re.sub(r'\W', '_', path)
        base = base if base and not base[0].isdigit() else f'm_{base}'
        name, i = base, 1
        while name in used:
            name, i = f'{base}_{i}', i + 1
        used.add(name)
        names[path] = name
    return names


def _expr(value, ranks: Dict[str, Optional[int]]) -> str:
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, tuple):
        inner = ', '.join(_expr(v, ranks) for v in value)
        return f'({inner}{"," if len(value) == 1 else ""})'
    if isinstance(value, list):
        return '(' + ', '.join(_expr(v, ranks) for v in value) + (',)' if len(value) == 1 else ')')
    if isinstance(value, slice):
        return (f'{"" if value.start is None else _expr(value.start, ranks)}:'
                f'{"" if value.stop is None else _expr(value.stop, ranks)}'
                + ('' if value.step is None else f':{_expr(value.step, ranks)}'))
    if value is Ellipsis:
        return '...'
    return repr(value)


def _tensor_slice(op: GraphOp, ranks: Dict[str, Optional[int]]) -> str:
    """``x[..., a:b, c:d]`` of a rank-r tensor -> ``ops.slice(x, begin, size)``."""
    x, index = op.args
    rank = ranks[x.name]
    index = index if isinstance(index, tuple) else (index, )
    if sum(i is Ellipsis for i in index) > 1:
        raise UnsupportedModelError(f'node {op.name}: indexing {index} does not translate')
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None), ) * (rank - len(index) + 1) + index[at + 1:]
    index = index + (slice(None), ) * (rank - len(index))
    begin, size = [], []
    for d, s in enumerate(index):
        if not isinstance(s, slice) or s.step not in (None, 1):
            raise UnsupportedModelError(f'node {op.name}: tensor index {s!r} in dimension {d} '
                                        'does not translate (only step-1 slices: crops)')
        start = '0' if s.start is None else _expr(s.start, ranks)
        stop = f'{x.name}.shape[{d}]' if s.stop is None else _expr(s.stop, ranks)
        begin.append(start)
        size.append(stop if start == '0' else f'({stop}) - ({start})')
    return f'ops.slice({x.name}, ({", ".join(begin)}), ({", ".join(size)}))'


def _line(op: GraphOp, attrs: Dict[str, str], ranks: Dict[str, Optional[int]]) -> str:
    args = [_expr(a, ranks) for a in op.args]
    if op.kind == 'layer':
        return f'{op.name} = self.{attrs[op.target]}({", ".join(args)})'
    if op.kind in _BINARY:
        return f'{op.name} = {args[0]} {_BINARY[op.kind]} {args[1]}'
    if op.kind == 'getattr':
        return f'{op.name} = {args[0]}.shape'
    if op.kind == 'getitem':
        x = op.args[0]
        if isinstance(x, Ref) and ranks.get(x.name) is not None:
            return f'{op.name} = {_tensor_slice(op, ranks)}'
        if isinstance(op.args[1], tuple):
            raise UnsupportedModelError(f'node {op.name}: tuple index {op.args[1]} of a '
                                        'non-tensor does not translate')
        return f'{op.name} = {args[0]}[{args[1]}]'
    if op.kind == 'cat':
        dim = op.kwargs.get('dim', op.args[1] if len(op.args) > 1 else 0)
        return f'{op.name} = ops.cat({args[0]}, {dim})'
    if op.kind == 'relu':
        return f'{op.name} = ops.relu({args[0]})'
    if op.kind == 'resize':
        size = op.kwargs.get('size', op.args[1] if len(op.args) > 1 else None)
        return f'{op.name} = self.{RESIZE_PREFIX}{op.name}({args[0]}, {_expr(size, ranks)})'
    raise UnsupportedModelError(f'node {op.name}: {op.kind} does not translate')


def network_source(net: TracedNetwork, class_name: str = CLASS_NAME) -> str:
    """The Python source of the MindSpore cell class for ``net``: ``__init__(layers)`` takes the
    ``{attribute: cell}`` of :func:`build_layers`; ``construct(x)`` replays the graph."""
    attrs = attribute_names(net.layers)
    ranks = {op.name: op.rank for op in net.ops}
    inputs = [op.name for op in net.ops if op.kind == 'input']
    if len(inputs) != 1:
        raise UnsupportedModelError(f'{net.summary}: {len(inputs)} graph inputs, expected 1')
    body = []
    for op in net.ops:
        if op.kind == 'input':
            continue
        if op.kind == 'output':
            body.append(f'return {_expr(op.args[0], ranks)}')
            continue
        body.append(_line(op, attrs, ranks))
    lines = [
        '# Generated by mmseg_fcn_voc.conversion.mindspore.translate: the MindSpore form of',
        f'# {net.summary}. (N, 3, H, W) -> (N, {net.num_classes}, H, W) logits.',
        'from mindspore import nn, ops', '', '',
        f'class {class_name}(nn.Cell):', '',
        '    def __init__(self, layers):',
        '        super().__init__()',
        '        for name, cell in layers.items():',
        '            setattr(self, name, cell)', '',
        f'    def construct(self, {inputs[0]}):',
    ] + [f'        {line}' for line in body]
    return '\n'.join(lines) + '\n'


def build_layers(net: TracedNetwork, weight_init='zeros') -> Dict[str, nn.Cell]:
    """``{attribute: cell}``: one cell per layer, and one :class:`~.layers.Resize` per resize
    node (no parameters)."""
    attrs = attribute_names(net.layers)
    cells = {attrs[path]: build_layer(spec, weight_init) for path, spec in net.layers.items()}
    for op in net.ops:
        if op.kind == 'resize':
            cells[f'{RESIZE_PREFIX}{op.name}'] = Resize(op.kwargs.get('mode', 'nearest'),
                                                       bool(op.kwargs.get('align_corners')))
    return cells


def load_network_class(source: str, path: Optional[str] = None, class_name: str = CLASS_NAME):
    """Write ``source`` to ``path`` and import its class. Without ``path``, the file goes to the
    temporary folder under the hash of its source (one file per distinct network, reused)."""
    if path is None:
        folder = osp.join(tempfile.gettempdir(), 'mmseg_fcn_voc_networks')
        os.makedirs(folder, exist_ok=True)
        digest = hashlib.sha256(source.encode('utf-8')).hexdigest()[:20]
        path = osp.join(folder, f'network_{digest}.py')
    with atomic_output(path, suffix='.py') as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write(source)
    name = f'fcn_voc_translated_{abs(hash(osp.abspath(path)))}'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # MindSpore's graph compiler imports the cell's module by name
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def build_translated_cell(net: TracedNetwork, source_file: Optional[str] = None,
                          weight_init='zeros', layout: str = TRANSLATED_LAYOUT) -> nn.Cell:
    """The MindSpore cell of ``net`` in inference mode, parameters named as ``layout`` names them
    (:func:`~..network.layouts.network_key_map`; at zero until a checkpoint is loaded). ``source_file``: where the
    generated class is written (see the module docstring).

    Raises:
        KeyMapError: ``layout`` cannot name a parameter of the network.
    """
    cls = load_network_class(network_source(net), source_file)
    layers = build_layers(net, weight_init)
    cell = cls(layers)
    attrs = attribute_names(net.layers)
    path_of = {a: p for p, a in attrs.items()}
    bad = []
    for name, param in cell.parameters_and_names():
        attr, _, rest = name.partition('.')
        param.name = f'{path_of[attr]}.{rest}'
        if layout != TRANSLATED_LAYOUT:
            try:
                param.name = layout_key(torch_key(net, param.name), layout)
            except KeyMapError:
                bad.append(param.name)
    if bad:
        raise KeyMapError(f'{net.summary}: the {layout!r} layout has no name for '
                          f'{format_keys(bad)}')
    cell.set_train(False)
    return cell
