# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Export an mmseg FCN checkpoint to static-shape ONNX (opset 11) for Ascend's ATC, checked
against onnxruntime.

    python converters/to_onnx.py CONFIG CHECKPOINT --out-dir DIR --input-size H W

Writes DIR/<config name>.onnx (input "input" 1x3xHxW, preprocessed; output "output" 1xKxHxW logits)
and DIR/onnx_parity.json. Exit status 1 when onnxruntime disagrees with torch, 2 when the checkpoint
or model cannot be converted. Then, on the Ascend host:

    atc --model=DIR/NAME.onnx --framework=5 --output=NAME --soc_version=Ascend310P3 \
        --input_shape="input:1,3,H,W" --precision_mode=must_keep_origin_dtype
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    from mmseg_fcn_voc.conversion.cli import add_parity_arguments
    parser = argparse.ArgumentParser(description='mmseg FCN checkpoint -> ONNX for ATC')
    parser.add_argument('config', help='model config, e.g. configs/fcn8s_vgg16_voc.py')
    parser.add_argument('checkpoint', help='mmseg checkpoint (.pth) of that model')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the .onnx and onnx_parity.json')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'), required=True,
                        help='the static input size (ATC needs static shapes)')
    add_parity_arguments(parser, 'onnx')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_fcn_voc.conversion.cli import run_refusing, thresholds_from
    from mmseg_fcn_voc.conversion.to_onnx import convert_to_onnx
    return run_refusing(
        lambda: convert_to_onnx(args.config, args.checkpoint, args.out_dir, args.input_size,
                                seed=args.seed, thresholds=thresholds_from(args)),
        osp.join(args.out_dir, 'onnx_parity.json'))


if __name__ == '__main__':
    sys.exit(main())
