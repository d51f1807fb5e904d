# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Will Ascend's ATC take this ONNX? The operator constraints of CANN's ONNX operator specification
that an FCN graph can meet, checked node by node before the model leaves the training machine.

Checked (each violation names the node, its type and what ATC requires):

* the opset: CANN 5.0-6.0.1 read opsets 9-13, CANN 7.0 opsets 9-18 (CANN 8.x per operator);
* ``Pad``: constant mode with a constant value of 0 only;
* ``ConvTranspose``: 2-D kernels, dilations 1, no ``SAME_*`` auto_pad, ``group`` dividing the
  input channels;
* ``MaxPool``: explicit ``pads`` and ``auto_pad`` exclusive, ``VALID`` only with ``ceil_mode`` 0,
  input width at most 4096 (where shapes are known), and strides above 63 or kernels above 255
  noted (ATC runs those on the AI CPU);
* with ``static=True`` (an export for ATC's static shapes or gears): every graph input dimension a
  fixed positive number.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

#: The opsets CANN 7.0 reads (CANN 5.0-6.0.1: 9-13).
ATC_OPSETS = (9, 18)
ATC_OPSETS_OLD_CANN = (9, 13)
MAX_POOL_MAX_WIDTH = 4096


@dataclass(frozen=True)
class AtcViolation:
    """One node ATC would refuse (``fatal``) or handle only on the AI CPU (not fatal)."""
    node: str
    op_type: str
    problem: str
    fatal: bool = True

    def __str__(self) -> str:
        return f'{self.op_type} node {self.node!r}: {self.problem}'


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph) -> dict:
    """``{tensor name: array}`` of initializers and ``Constant`` node outputs."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            value = _attrs(node).get('value')
            if value is not None:
                values[node.output[0]] = numpy_helper.to_array(value)
    return values


def _shapes(model) -> dict:
    """``{tensor name: [dims]}`` from ONNX shape inference (a symbolic dimension is None)."""
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference is best effort here
        inferred = model
    graph = inferred.graph
    shapes = {}
    for value in list(graph.value_info) + list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField('dim_value') else None for d in dims]
    return shapes


def _opset(model) -> Optional[int]:
    for entry in model.opset_import:
        if entry.domain in ('', 'ai.onnx'):
            return int(entry.version)
    return None


def check_atc_compatibility(model, static: bool = False) -> List[AtcViolation]:
    """Every node of ``model`` (an ``onnx.ModelProto`` or a path) that ATC would refuse, or run on
    the AI CPU (``fatal=False``); an empty list when ATC takes it."""
    if isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    graph = model.graph
    out: List[AtcViolation] = []
    opset = _opset(model)
    if opset is None or not ATC_OPSETS[0] <= opset <= ATC_OPSETS[1]:
        out.append(AtcViolation('<model>', 'opset', f'opset {opset}; ATC reads opsets '
                                f'{ATC_OPSETS[0]}-{ATC_OPSETS[1]} (CANN 7.0; CANN 5.0-6.0.1: '
                                f'{ATC_OPSETS_OLD_CANN[0]}-{ATC_OPSETS_OLD_CANN[1]})'))
    constants = _constants(graph)
    shapes = _shapes(model)
    channels = {}
    for t in graph.initializer:
        channels[t.name] = list(t.dims)
    for node in graph.node:
        attrs = _attrs(node)
        name = node.name or (node.output[0] if node.output else '?')
        if node.op_type == 'Pad':
            mode = attrs.get('mode', b'constant')
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode != 'constant':
                out.append(AtcViolation(name, 'Pad', f'mode {mode!r}; ATC supports constant '
                                        'padding with the value 0 only'))
                continue
            value = attrs.get('value', 0.0)  # opset < 11: an attribute
            if len(node.input) > 2 and node.input[2]:
                if node.input[2] not in constants:
                    out.append(AtcViolation(name, 'Pad', 'the constant value is computed at run '
                                            'time; ATC needs a constant 0'))
                    continue
                value = float(np.asarray(constants[node.input[2]]).reshape(-1)[0])
            if value != 0:
                out.append(AtcViolation(name, 'Pad', f'constant value {value}; ATC supports '
                                        'constant padding with the value 0 only'))
        elif node.op_type == 'ConvTranspose':
            weight = channels.get(node.input[1]) if len(node.input) > 1 else None
            kernel = attrs.get('kernel_shape') or (weight[2:] if weight else None)
            if kernel is not None and len(kernel) != 2:
                out.append(AtcViolation(name, 'ConvTranspose', f'{len(kernel)}-D kernel; ATC '
                                        'takes 2-D transposed convolutions only'))
            dilations = attrs.get('dilations')
            if dilations and any(d != 1 for d in dilations):
                out.append(AtcViolation(name, 'ConvTranspose', f'dilations {list(dilations)}; ATC '
                                        'needs dilation 1'))
            auto_pad = attrs.get('auto_pad', b'NOTSET')
            auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
            if auto_pad.startswith('SAME'):
                out.append(AtcViolation(name, 'ConvTranspose', f'auto_pad {auto_pad}; ATC needs '
                                        'explicit pads'))
            group = int(attrs.get('group', 1))
            c_in = weight[0] if weight else None
            if c_in is not None and c_in % group:
                out.append(AtcViolation(name, 'ConvTranspose', f'group {group} does not divide '
                                        f'the {c_in} input channels'))
        elif node.op_type == 'MaxPool':
            auto_pad = attrs.get('auto_pad', b'NOTSET')
            auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
            pads = attrs.get('pads')
            if auto_pad != 'NOTSET' and pads and any(pads):
                out.append(AtcViolation(name, 'MaxPool', 'pads and auto_pad given together; ATC '
                                        'takes one of them'))
            if auto_pad == 'VALID' and int(attrs.get('ceil_mode', 0)):
                out.append(AtcViolation(name, 'MaxPool', 'auto_pad VALID with ceil_mode 1; ATC '
                                        'takes VALID with ceil_mode 0 only'))
            dims = shapes.get(node.input[0])
            if dims and len(dims) == 4 and dims[3] is not None and dims[3] > MAX_POOL_MAX_WIDTH:
                out.append(AtcViolation(name, 'MaxPool', f'input width {dims[3]}; ATC takes '
                                        f'1..{MAX_POOL_MAX_WIDTH}'))
            strides, kernel = attrs.get('strides') or [], attrs.get('kernel_shape') or []
            if any(s > 63 for s in strides) or any(k > 255 for k in kernel):
                out.append(AtcViolation(name, 'MaxPool', f'kernel {list(kernel)}, strides '
                                        f'{list(strides)}: ATC runs this pool on the AI CPU',
                                        fatal=False))
    if static:
        for value in graph.input:
            dims = value.type.tensor_type.shape.dim
            if any(not d.HasField('dim_value') or d.dim_value <= 0 for d in dims):
                out.append(AtcViolation(value.name, 'graph input', 'dynamic dimensions; ATC '
                                        'needs static shapes (or --dynamic_image_size gears)'))
    return out
