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
import sys


def parse_args(argv=None):
    from mmseg_fcn_voc.conversion.parity import ParityThresholds
    defaults = ParityThresholds()
    parser = argparse.ArgumentParser(description='mmseg FCN checkpoint -> ONNX for ATC')
    parser.add_argument('config', help='model config, e.g. configs/fcn8s_vgg16_voc.py')
    parser.add_argument('checkpoint', help='mmseg checkpoint (.pth) of that model')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the .onnx and onnx_parity.json')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'), required=True,
                        help='the static input size (ATC needs static shapes)')
    parser.add_argument('--max-rel-error', type=float, default=defaults.max_rel_error,
                        help='max |onnx - torch| / max |torch| (default %(default)g)')
    parser.add_argument('--min-argmax-agreement', type=float,
                        default=defaults.min_argmax_agreement,
                        help='fraction of pixels with the same class (default %(default)g)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random check input')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_fcn_voc.conversion import CONVERSION_ERRORS
    from mmseg_fcn_voc.conversion.parity import ParityThresholds
    from mmseg_fcn_voc.conversion.to_onnx import convert_to_onnx
    try:
        report = convert_to_onnx(
            args.config, args.checkpoint, args.out_dir, args.input_size, seed=args.seed,
            thresholds=ParityThresholds(args.max_rel_error, args.min_argmax_agreement))
    except CONVERSION_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'{"PASSED" if report["passed"] else "FAILED"}: {args.out_dir}/onnx_parity.json')
    return 0 if report['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
