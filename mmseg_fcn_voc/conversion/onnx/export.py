# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""mmseg FCN checkpoint -> ONNX (opset 11) + ``deploy.json``, checked with onnxruntime.

The library behind ``converters/to_onnx.py``, on the shared skeleton of
:class:`~..exporter.Exporter`. The graph takes ``input`` (1, 3, H, W), the image as the model's
data preprocessor leaves it (channel order, mean/std), and returns ``output`` (1, K, H, W) logits.
It is exported with the TorchScript exporter (``dynamo=False``), the one that works here and that
Ascend's ATC reads:

* static (``input_size``): every shape fixed at export, no ``Shape`` nodes, the crops constant
  ``Slice``\\ s; what ATC needs (or one export per ``--dynamic_image_size`` gear);
* dynamic (``dynamic=True``): height and width are graph inputs' symbolic dimensions ``height`` and
  ``width``; the crops follow the input's shape. For onnxruntime (also CANN's execution provider).
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional

import numpy as np
import onnx
import onnxruntime
import torch

from fcn_voc_core.fileio import atomic_output

from ..exporter import Converted, ExportCheckError, Exported, Exporter
from ..model_io import FCNInferenceWrapper
from ..options import OnnxExportOptions
from ..parity import preprocess_image, random_image
from ..precision_plan import onnx_node_names
from ..spec import FCNSpec
from .atc_check import check_atc_compatibility

OPSET = 11
INPUT_NAME = 'input'
OUTPUT_NAME = 'output'


def io_shapes(onnx_model) -> Dict[str, list]:
    """``{name: shape}`` of the graph inputs and outputs; a symbolic dimension shows as its name."""
    shapes = {}
    for value in list(onnx_model.graph.input) + list(onnx_model.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField('dim_value') else d.dim_param or '?'
                              for d in dims]
    return shapes


def export_onnx(model: torch.nn.Module, inputs: torch.Tensor, path: str,
                dynamic: bool = False) -> str:
    """Export ``model``'s FCN (backbone + head, no preprocessing) for ``inputs`` (1, 3, H, W) to
    ``path`` (atomically) and run the ONNX checker on it; ``dynamic`` makes H and W symbolic."""
    wrapper = FCNInferenceWrapper(model).eval()
    axes = {2: 'height', 3: 'width'}
    with atomic_output(path, suffix='.onnx') as tmp:
        # The tracer warns that shape checks become constants: intended (they only raise errors).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper, (inputs, ),
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if dynamic else None,
                do_constant_folding=True)
        onnx.checker.check_model(tmp)
    return path


def onnxruntime_session(path: str, providers: Optional[List[str]] = None):
    return onnxruntime.InferenceSession(path, providers=providers or ['CPUExecutionProvider'])


def check_io_shapes(path: str, shapes: Dict[str, list], expected: Dict[str, list],
                    dynamic: bool) -> None:
    """Refuse an export whose graph inputs/outputs are not what was asked for: symbolic height and
    width for a dynamic export, exactly ``expected`` for a static one.

    Raises:
        ExportCheckError: naming the file, the shapes found and the ones asked for.
    """
    for name, want in expected.items():
        got = shapes.get(name)
        if got is None or len(got) != len(want):
            raise ExportCheckError(f'{path}: graph {name!r} has shape {got}, expected rank '
                                   f'{len(want)}')
        if dynamic:
            fixed = [d for d in got[2:] if isinstance(d, int) and d > 0]
            # batch and channels: the expected value, or left symbolic by the tracer
            other = [g for g, w in zip(got[:2], want[:2]) if g != w and not isinstance(g, str)]
            if fixed or other:
                raise ExportCheckError(f'{path}: asked for a dynamic height and width, but '
                                       f'{name!r} was exported as {got}')
        elif got != want:
            raise ExportCheckError(f'{path}: asked for static shapes, but {name!r} was exported '
                                   f'as {got} instead of {want}')


class OnnxExporter(Exporter):
    """``<name>.onnx`` + ``deploy.json`` + ``onnx_parity.json`` for
    :class:`~..options.OnnxExportOptions`; no ``input_size`` exports a dynamic height and width
    (see the module docstring)."""

    backend = 'onnxruntime'
    report_file = 'onnx_parity.json'
    options_class = OnnxExportOptions

    def versions(self) -> Dict[str, str]:
        return {**super().versions(), 'onnx': onnx.__version__,
                'onnxruntime': onnxruntime.__version__}

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """ATC's language: ``keep_dtype.cfg`` (one node name of the exported graph per line, for
        ``--keep_dtype``) and ``atc.sh`` (ATC with ``--precision_mode_v2=fp16``, the mode the
        plan was measured in, and the keep file)."""
        o = self.options
        names = onnx_node_names(onnx.load(exported.model_file, load_external_data=False),
                                plan['keep_fp32'])
        missing = [k for k, v in names.items() if not v]
        if missing:
            raise ExportCheckError(f'{exported.model_file}: no node of the exported graph comes '
                                   f'from {missing}; cannot write the keep_dtype plan')
        plan['keep_dtype_nodes'] = [n for name in plan['keep_fp32'] for n in names[name]]
        keep = osp.join(o.out_dir, 'keep_dtype.cfg')
        with atomic_output(keep) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.writelines(f'{n}\n' for n in plan['keep_dtype_nodes'])
        stem = o.name
        h, w = o.input_size or ('H', 'W')
        script = osp.join(o.out_dir, 'atc.sh')
        with atomic_output(script) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.write('#!/usr/bin/env bash\n'
                    '# Convert the static ONNX for the Ascend NPU with the measured precision plan\n'
                    '# (precision.json): float16 everywhere (ATC\'s default), the layers of\n'
                    '# keep_dtype.cfg in float32. Set SOC to your chip (npu-smi info).\n'
                    + ('# This folder holds a dynamic ONNX: ATC needs static shapes, so export\n'
                       '# with --input-size H W (or per gear) and set H and W below.\n'
                       if o.dynamic else '') +
                    'set -euo pipefail\n'
                    'cd "$(dirname "${BASH_SOURCE[0]}")"\n'
                    f'atc --model={stem}.onnx --framework=5 --output={stem} '
                    '--soc_version="${SOC:-Ascend310P3}" --input_format=NCHW '
                    f'--input_shape="input:1,3,{h},{w}" --precision_mode_v2=fp16'
                    + (' --keep_dtype=keep_dtype.cfg' if plan['keep_dtype_nodes'] else '') + '\n')
        os.chmod(script, 0o755)
        return {'keep_dtype': keep, 'atc': script}

    def export(self, model: torch.nn.Module, spec: FCNSpec) -> Exported:
        o = self.options
        dynamic = o.dynamic
        h, w = o.input_size or o.parity_size
        example = preprocess_image(model, random_image(h, w, o.seed))
        path = export_onnx(model, example, self.path('.onnx'), dynamic=dynamic)
        graph = onnx.load(path, load_external_data=False)  # read once for both checks
        shapes = io_shapes(graph)
        session = onnxruntime_session(path)

        def run(x: np.ndarray) -> np.ndarray:
            return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, np.float32)})[0]

        expected = {INPUT_NAME: list(example.shape),
                    OUTPUT_NAME: [1, spec.head.num_classes, *example.shape[-2:]]}
        check_io_shapes(path, shapes, expected, dynamic)
        self.log(f'wrote {path} ({"dynamic" if dynamic else f"{h}x{w}"}, opset {OPSET})')
        violations = check_atc_compatibility(graph, static=not dynamic)
        for v in violations:
            self.log(f'ATC: {v}')
        fatal = [str(v) for v in violations if v.fatal]
        if fatal and o.atc_check:
            raise ExportCheckError(f'{path}: ATC would refuse {len(fatal)} node(s): '
                                   + '; '.join(fatal[:20]) + ' (--no-atc-check exports it anyway, '
                                   'for onnxruntime)')
        facts = {'onnx': path, 'opset': OPSET, 'io_shapes': shapes, 'static_shapes': not dynamic,
                 'atc_check': {'checked': bool(o.atc_check),
                               'violations': [str(v) for v in violations]}}
        shape = [1, 3, *(o.input_size or (None, None))]
        return Exported(path, shape, [Converted('onnxruntime', run, o.input_size)], {}, facts)
