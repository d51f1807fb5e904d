# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""mmseg FCN checkpoint -> static-shape ONNX (opset 11) for Ascend's ATC, checked with onnxruntime.

The library behind ``converters/to_onnx.py``. The graph takes ``input`` (1, 3, H, W), the image as
the model's data preprocessor leaves it (channel order, mean/std), and returns ``output``
(1, K, H, W) logits. It is exported with the TorchScript exporter (``dynamo=False``), the one that
works here and that ATC reads, with every shape fixed at export time (ATC takes static shapes only).
"""
import json
import os
import os.path as osp
import time
import warnings
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

from .architecture import describe_fcn
from .images import preprocess_image, random_image
from .model_io import FCNInferenceWrapper, build_and_load, fcn_logits, input_size_problem
from .parity import ParityAccumulator, ParityThresholds

OPSET = 11
INPUT_NAME = 'input'
OUTPUT_NAME = 'output'


def static_io_shapes(onnx_model) -> Dict[str, list]:
    """``{name: shape}`` of the graph inputs and outputs; a symbolic dimension shows as its name."""
    shapes = {}
    for value in list(onnx_model.graph.input) + list(onnx_model.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField('dim_value') else d.dim_param or '?'
                              for d in dims]
    return shapes


def export_onnx(model: torch.nn.Module, inputs: torch.Tensor, path: str) -> str:
    """Export ``model``'s FCN (backbone + head, no preprocessing) for the static shape of
    ``inputs`` (1, 3, H, W) to ``path`` and run the ONNX checker on it."""
    import onnx

    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    wrapper = FCNInferenceWrapper(model).eval()
    tmp = f'{path}.tmp{os.getpid()}'
    # The tracer warns that shape checks and crop sizes become constants: intended, the export is
    # for one static input shape.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper, (inputs, ),
            tmp,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            do_constant_folding=True)
    onnx.checker.check_model(tmp)
    os.replace(tmp, path)
    return path


def run_onnxruntime(path: str, inputs: np.ndarray) -> np.ndarray:
    """Run the ONNX file on CPU with onnxruntime; (1, 3, H, W) -> (1, K, H, W)."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(inputs, np.float32)})[0]


def convert_to_onnx(config: str,
                    checkpoint: str,
                    out_dir: str,
                    input_size: Sequence[int],
                    thresholds: ParityThresholds = ParityThresholds(),
                    seed: int = 0,
                    name: Optional[str] = None,
                    log: Callable[[str], None] = print) -> Dict:
    """Export ``out_dir/<name>.onnx``, check it with onnxruntime against torch on a seeded input,
    write ``out_dir/onnx_parity.json`` and return its contents (``passed`` False on a failure).

    Raises:
        CheckpointError, UnsupportedModelError, ValueError: the checkpoint does not fit the config,
            the model is not an FCN the converters support, or the size is not a valid input.
    """
    import onnx
    import onnxruntime

    height, width = (int(v) for v in input_size)
    name = name or osp.splitext(osp.basename(config))[0]
    report_path = osp.join(out_dir, 'onnx_parity.json')
    if osp.exists(report_path):  # a refused conversion must not leave an old report behind
        os.remove(report_path)
    model = build_and_load(config, checkpoint)
    describe_fcn(model, config)  # refuses what the converters do not support
    problem = input_size_problem(model, (height, width))
    if problem:
        raise ValueError(f'{config}: {problem}')
    inputs = preprocess_image(model, random_image(height, width, seed))
    t0 = time.perf_counter()
    path = export_onnx(model, inputs, osp.join(out_dir, f'{name}.onnx'))
    export_s = time.perf_counter() - t0
    shapes = static_io_shapes(onnx.load(path, load_external_data=False))
    t0 = time.perf_counter()
    ref = fcn_logits(model, inputs).numpy()
    out = run_onnxruntime(path, inputs.numpy())
    acc = ParityAccumulator(ref.shape[1])
    acc.add(ref, out)
    parity = acc.summary(thresholds)
    check_s = time.perf_counter() - t0
    static = all(isinstance(d, int) and d > 0 for dims in shapes.values() for d in dims)
    expected = {INPUT_NAME: list(inputs.shape), OUTPUT_NAME: list(ref.shape)}
    report = {
        'config': config,
        'checkpoint': checkpoint,
        'onnx': path,
        'opset': OPSET,
        'io_shapes': shapes,
        'static_shapes': bool(static and shapes == expected),
        'seed': seed,
        'onnxruntime': parity,
        'timings_s': {'export': export_s, 'check': check_s},
        'versions': {'torch': torch.__version__, 'onnx': onnx.__version__,
                     'onnxruntime': onnxruntime.__version__},
    }
    report['passed'] = bool(parity['passed'] and report['static_shapes'])
    with open(report_path, 'w') as f:
        json.dump(report, f, indent=2)
    log(f'wrote {path} ({height}x{width}, opset {OPSET}); onnxruntime vs torch: max rel error '
        f'{parity["max_rel_error"]:.3g}, argmax agreement {100 * parity["argmax_agreement"]:.4f}%')
    return report
