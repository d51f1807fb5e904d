# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Ascend's ATC: will it take this ONNX, and the ``atc.sh`` that converts a folder's static models.

The operator constraints of CANN's ONNX operator specification that an FCN graph can meet are
checked node by node before the model leaves the training machine (:func:`check_atc_compatibility`).

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
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from fcn_voc_core.fileio import atomic_output

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


def _attrs(node) -> Dict:
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


def _text(value, default: str) -> str:
    value = default if value is None else value
    return value.decode() if isinstance(value, bytes) else value


def _pad_violations(name: str, node, attrs: Dict, constants: Dict) -> List[AtcViolation]:
    mode = _text(attrs.get('mode'), 'constant')
    if mode != 'constant':
        return [AtcViolation(name, 'Pad', f'mode {mode!r}; ATC supports constant padding with the '
                             'value 0 only')]
    value = attrs.get('value', 0.0)  # opset < 11: an attribute
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in constants:
            return [AtcViolation(name, 'Pad', 'the constant value is computed at run time; ATC '
                                 'needs a constant 0')]
        value = float(np.asarray(constants[node.input[2]]).reshape(-1)[0])
    if value != 0:
        return [AtcViolation(name, 'Pad', f'constant value {value}; ATC supports constant padding '
                             'with the value 0 only')]
    return []


def _deconv_violations(name: str, node, attrs: Dict, weights: Dict) -> List[AtcViolation]:
    out = []
    weight = weights.get(node.input[1]) if len(node.input) > 1 else None
    kernel = attrs.get('kernel_shape') or (weight[2:] if weight else None)
    if kernel is not None and len(kernel) != 2:
        out.append(AtcViolation(name, 'ConvTranspose', f'{len(kernel)}-D kernel; ATC takes 2-D '
                                'transposed convolutions only'))
    dilations = attrs.get('dilations')
    if dilations and any(d != 1 for d in dilations):
        out.append(AtcViolation(name, 'ConvTranspose', f'dilations {list(dilations)}; ATC needs '
                                'dilation 1'))
    auto_pad = _text(attrs.get('auto_pad'), 'NOTSET')
    if auto_pad.startswith('SAME'):
        out.append(AtcViolation(name, 'ConvTranspose', f'auto_pad {auto_pad}; ATC needs explicit '
                                'pads'))
    group = int(attrs.get('group', 1))
    c_in = weight[0] if weight else None
    if c_in is not None and c_in % group:
        out.append(AtcViolation(name, 'ConvTranspose', f'group {group} does not divide the '
                                f'{c_in} input channels'))
    return out


def _pool_violations(name: str, node, attrs: Dict, shapes: Dict) -> List[AtcViolation]:
    out = []
    auto_pad = _text(attrs.get('auto_pad'), 'NOTSET')
    pads = attrs.get('pads')
    if auto_pad != 'NOTSET' and pads and any(pads):
        out.append(AtcViolation(name, 'MaxPool', 'pads and auto_pad given together; ATC takes one '
                                'of them'))
    if auto_pad == 'VALID' and int(attrs.get('ceil_mode', 0)):
        out.append(AtcViolation(name, 'MaxPool', 'auto_pad VALID with ceil_mode 1; ATC takes '
                                'VALID with ceil_mode 0 only'))
    dims = shapes.get(node.input[0])
    if dims and len(dims) == 4 and dims[3] is not None and dims[3] > MAX_POOL_MAX_WIDTH:
        out.append(AtcViolation(name, 'MaxPool', f'input width {dims[3]}; ATC takes '
                                f'1..{MAX_POOL_MAX_WIDTH}'))
    strides, kernel = attrs.get('strides') or [], attrs.get('kernel_shape') or []
    if any(s > 63 for s in strides) or any(k > 255 for k in kernel):
        out.append(AtcViolation(name, 'MaxPool', f'kernel {list(kernel)}, strides '
                                f'{list(strides)}: ATC runs this pool on the AI CPU',
                                fatal=False))
    return out


def _static_input_violations(graph) -> List[AtcViolation]:
    out = []
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if any(not d.HasField('dim_value') or d.dim_value <= 0 for d in dims):
            out.append(AtcViolation(value.name, 'graph input', 'dynamic dimensions; ATC needs '
                                    'static shapes (or --dynamic_image_size gears)'))
    return out


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
    constants, shapes = _constants(graph), _shapes(model)
    weights = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:
        attrs = _attrs(node)
        name = node.name or (node.output[0] if node.output else '?')
        if node.op_type == 'Pad':
            out += _pad_violations(name, node, attrs, constants)
        elif node.op_type == 'ConvTranspose':
            out += _deconv_violations(name, node, attrs, weights)
        elif node.op_type == 'MaxPool':
            out += _pool_violations(name, node, attrs, shapes)
    if static:
        out += _static_input_violations(graph)
    return out


OM_MANIFEST = 'om.sha256'


def write_atc_script(out_dir: str, stem: str, sizes: Sequence[str], geared: bool,
                     keep_nodes: Sequence[str] = (), aipp: bool = False) -> str:
    """``out_dir/atc.sh``: ATC for each static model of the folder (``sizes`` as ``'HxW'``; a
    gear's file is ``<stem>_<H>x<W>.onnx``; ``['HxW']`` placeholders for a dynamic export) with
    ``--precision_mode_v2=fp16`` (ATC's default, the mode a precision plan is measured in); with
    ``keep_nodes``, ``--keep_dtype=keep_dtype.cfg``; with ``aipp``, the AIPP configuration of each
    size (``--insert_op_conf``) and the ``valid_size`` input. After the conversions it records the
    offline models' sha256 in ``om.sha256`` (``sha256sum`` format), which the runtime's om backend
    checks them against."""
    script = osp.join(out_dir, 'atc.sh')
    lines, models = [], []
    for size in sizes:
        h, w = size.split('x')
        model = f'{stem}_{size}.onnx' if geared else f'{stem}.onnx'
        output = f'{stem}_{size}' if geared else stem
        models.append(f'{output}.om')
        shape = f'input:1,3,{h},{w}' + (';valid_size:2' if aipp else '')
        lines.append(f'atc --model={model} --framework=5 --output={output} '
                     '--soc_version="${SOC:-Ascend310P3}" --input_format=NCHW '
                     f'--input_shape="{shape}" --precision_mode_v2=fp16'
                     + (f' --insert_op_conf=aipp_{size}.cfg' if aipp else '')
                     + (' --keep_dtype=keep_dtype.cfg' if keep_nodes else '') + '\n')
    dynamic = list(sizes) == ['HxW']
    with atomic_output(script) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write('#!/usr/bin/env bash\n'
                '# Convert the static ONNX model(s) of this folder for the Ascend NPU: float16\n'
                "# everywhere (ATC's default)"
                + (', the layers of keep_dtype.cfg in float32 (precision.json)'
                   if keep_nodes else '') + '.\n'
                + ('# AIPP in front of each model: it takes uint8 RGB pixels (aipp_*.cfg).\n'
                   if aipp else '') +
                '# Set SOC to your chip (npu-smi info).\n'
                + ('# This folder holds a dynamic ONNX: ATC needs static shapes, so export\n'
                   '# with --input-size H W or --gears and set H and W below.\n'
                   if dynamic else '') +
                'set -euo pipefail\n'
                'cd "$(dirname "${BASH_SOURCE[0]}")"\n' + ''.join(lines)
                + f'# the offline models, as the runtime checks them (--backend om)\n'
                f'sha256sum {" ".join(models)} > {OM_MANIFEST}\n')
    os.chmod(script, 0o755)
    return script


def write_keep_dtype(out_dir: str, nodes: Sequence[str]) -> str:
    """``out_dir/keep_dtype.cfg``: one node name per line, for ATC's ``--keep_dtype``."""
    path = osp.join(out_dir, 'keep_dtype.cfg')
    with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.writelines(f'{n}\n' for n in nodes)
    return path
