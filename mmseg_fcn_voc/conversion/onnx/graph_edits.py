# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Edits of an exported FCN graph, each a few ONNX nodes: the argmax on the device, and the
consecutive crops merged (as Ascend's graph tools want them)."""
from typing import Dict, List

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..context import OUTPUT_NAME


def append_argmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its (1, K, H, W) logits reduced to the (1, H, W) class map on the device:
    one ``ArgMax`` over the classes (the first maximum, as numpy's and torch's argmax). ONNX's
    ``ArgMax`` returns int64; ATC's offline model returns it as int32 (as the Ascend model zoo's
    ports do), so no ``Cast`` is added (msit surgeon flags one). The output keeps its name."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    logits = f'{OUTPUT_NAME}_logits'
    for node in graph.node:
        node.output[:] = [logits if o == OUTPUT_NAME else o for o in node.output]
    graph.node.append(helper.make_node('ArgMax', [logits], [OUTPUT_NAME], name='/argmax/ArgMax',
                                       axis=1, keepdims=0))
    out = graph.output[0]
    dims = [d for i, d in enumerate(out.type.tensor_type.shape.dim) if i != 1]
    shape = [d.dim_value if d.HasField('dim_value') else d.dim_param for d in dims]
    graph.output.remove(out)
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.INT64, shape))
    onnx.checker.check_model(model)
    return model


def _constant_ints(graph) -> Dict[str, List[int]]:
    values = {t.name: numpy_helper.to_array(t).reshape(-1).tolist() for t in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            for a in node.attribute:
                if a.name == 'value':
                    values[node.output[0]] = numpy_helper.to_array(a.t).reshape(-1).tolist()
    return values


def merge_consecutive_slices(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each chain ``Slice(axis a) -> Slice(axis b)`` of constant starts, ends and steps (the crops
    of a static export, one axis at a time) as one ``Slice`` over both axes: the same values, one
    node (what msit surgeon's ``KnowledgeMergeConsecutiveSlice`` asks for)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    constants = _constant_ints(graph)
    consumers: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def args(node):
        if node.op_type != 'Slice' or len(node.input) < 4:
            return None
        found = [constants.get(n) for n in node.input[1:5]]
        if len(node.input) < 5:
            found.append([1] * len(found[0]) if found[0] is not None else None)
        return None if any(v is None for v in found) else found

    removed = set()
    for first in list(graph.node):
        a = args(first)
        users = consumers.get(first.output[0], [])
        if a is None or first.name in removed or len(users) != 1 or first.output[0] in outputs:
            continue
        second = users[0]
        b = args(second)
        if b is None or set(a[2]) & set(b[2]):
            continue
        starts, ends, axes, steps = (x + y for x, y in zip(a, b))
        tag = f'{second.name or second.output[0]}_merged'
        inits = []
        for key, value in zip(('starts', 'ends', 'axes', 'steps'), (starts, ends, axes, steps)):
            inits.append(helper.make_tensor(f'{tag}_{key}', TensorProto.INT64, [len(value)],
                                            value))
        graph.initializer.extend(inits)
        second.input[:] = [first.input[0]] + [t.name for t in inits]
        graph.node.remove(first)
        removed.add(first.name)
    _drop_unused_initializers(graph)
    onnx.checker.check_model(model)
    return model


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input}
    used |= {i.name for i in graph.input} | {o.name for o in graph.output}
    for init in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(init)


def int32_slice_indices(model: onnx.ModelProto) -> onnx.ModelProto:
    """The constant starts, ends, axes and steps of every ``Slice`` as int32 (``Tind`` takes both;
    ATC prefers int32 index arithmetic, what msit surgeon's ``KnowledgeTypeCast`` asks for)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type != 'Slice':
            continue
        for i, name in enumerate(node.input[1:], start=1):
            tensor = inits.get(name)
            if tensor is None or tensor.data_type != TensorProto.INT64:
                continue
            value = numpy_helper.to_array(tensor)
            if value.min(initial=0) < -2**31 or value.max(initial=0) >= 2**31:
                continue  # an 'until the end' sentinel beyond int32: left as it is
            cast = numpy_helper.from_array(value.astype(np.int32), f'{name}_int32')
            graph.initializer.append(cast)
            inits[cast.name] = cast
            node.input[i] = cast.name
    _drop_unused_initializers(graph)
    onnx.checker.check_model(model)
    return model


def mask_padding(model: onnx.ModelProto, pad_value: float, valid_name: str) -> onnx.ModelProto:
    """A static graph with a second input ``valid_name`` (int32 ``[h, w]``) whose first step sets
    every input pixel outside the top-left ``h x w`` to ``pad_value``: the padding is the
    preprocessor's whatever the host padded with (AIPP normalises the padding too)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    source = graph.input[0].name
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    height, width = dims[2], dims[3]
    masked = f'{source}_masked'
    for node in graph.node:
        node.input[:] = [masked if i == source else i for i in node.input]
    graph.initializer.extend([
        numpy_helper.from_array(np.arange(height, dtype=np.int32).reshape(height, 1), 'pad_rows'),
        numpy_helper.from_array(np.arange(width, dtype=np.int32), 'pad_cols'),
        numpy_helper.from_array(np.array([0], np.int64), 'pad_index_h'),
        numpy_helper.from_array(np.array([1], np.int64), 'pad_index_w'),
        numpy_helper.from_array(np.array(pad_value, np.float32), 'pad_value')])
    steps = [
        helper.make_node('Gather', [valid_name, 'pad_index_h'], ['pad_h'], name='/pad/h', axis=0),
        helper.make_node('Gather', [valid_name, 'pad_index_w'], ['pad_w'], name='/pad/w', axis=0),
        helper.make_node('Less', ['pad_rows', 'pad_h'], ['pad_in_rows'], name='/pad/rows'),
        helper.make_node('Less', ['pad_cols', 'pad_w'], ['pad_in_cols'], name='/pad/cols'),
        helper.make_node('And', ['pad_in_rows', 'pad_in_cols'], ['pad_inside'], name='/pad/and'),
        helper.make_node('Where', ['pad_inside', source, 'pad_value'], [masked],
                         name='/pad/where')]
    for i, node in enumerate(steps):
        graph.node.insert(i, node)
    graph.input.append(helper.make_tensor_value_info(valid_name, TensorProto.INT32, [2]))
    onnx.checker.check_model(model)
    return model
