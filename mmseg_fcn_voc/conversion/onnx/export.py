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
from ..spec import FCNSpec

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
            if fixed or got[:2] != want[:2]:
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

    def export(self, model: torch.nn.Module, spec: FCNSpec) -> Exported:
        o = self.options
        dynamic = o.dynamic
        h, w = o.input_size or o.parity_size
        example = preprocess_image(model, random_image(h, w, o.seed))
        path = export_onnx(model, example, self.path('.onnx'), dynamic=dynamic)
        shapes = io_shapes(onnx.load(path, load_external_data=False))
        session = onnxruntime_session(path)

        def run(x: np.ndarray) -> np.ndarray:
            return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, np.float32)})[0]

        expected = {INPUT_NAME: list(example.shape),
                    OUTPUT_NAME: [1, spec.head.num_classes, *example.shape[-2:]]}
        check_io_shapes(path, shapes, expected, dynamic)
        self.log(f'wrote {path} ({"dynamic" if dynamic else f"{h}x{w}"}, opset {OPSET})')
        facts = {'onnx': path, 'opset': OPSET, 'io_shapes': shapes, 'static_shapes': not dynamic}
        shape = [1, 3, *(o.input_size or (None, None))]
        return Exported(path, shape, [Converted('onnxruntime', run, o.input_size)], {}, facts)
