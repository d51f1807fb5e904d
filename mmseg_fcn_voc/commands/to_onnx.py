# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Export an mmseg FCN checkpoint to ONNX (opset 11) + deploy.json, checked against onnxruntime.

    python converters/to_onnx.py CONFIG CHECKPOINT --out-dir DIR \
        (--input-size H W | --dynamic | --gears HxW[,HxW...]|voc) \
        [--int8 --calibration-images IMGS [--calibration-labels L] [--check-images IMGS2 ...]]

Writes DIR/<config name>.onnx (input "input" 1x3xHxW, preprocessed; output "output" 1xKxHxW
logits), DIR/deploy.json and DIR/onnx_parity.json. --input-size exports static shapes (what
Ascend's ATC needs); --gears one static model per size, DIR/<name>_<H>x<W>.onnx (the runtime runs
each image on the smallest that holds it); --dynamic a symbolic height and width (onnxruntime,
CANN's execution provider). --int8 (with --dynamic) also writes DIR/<name>_int8.onnx, calibrated
and checked against float32 (precision.json), and deploys it. Exit status: 0 passed, 1 a check
failed (onnxruntime disagrees with torch, a precision plan or the int8 targets missed), 2 usage
error, 3 the checkpoint, config or images cannot be used, or the exported shapes are not the ones
asked for, 4 internal error. See the README ("Deploy on Ascend") for running ATC on the result.
"""
from mmseg_fcn_voc.conversion.options import OnnxExportOptions

from .export_main import export_main

PROG = 'to_onnx.py'


def _backend():
    from mmseg_fcn_voc.conversion.onnx.backend import OnnxBackend
    return OnnxBackend


def main(argv=None) -> int:
    return export_main(argv, PROG, 'mmseg FCN checkpoint -> ONNX', OnnxExportOptions, _backend)
