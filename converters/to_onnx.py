# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Export an mmseg FCN checkpoint to ONNX (opset 11) + deploy.json, checked against onnxruntime.

    python converters/to_onnx.py CONFIG CHECKPOINT --out-dir DIR (--input-size H W | --dynamic)

Writes DIR/<config name>.onnx (input "input" 1x3xHxW, preprocessed; output "output" 1xKxHxW
logits), DIR/deploy.json and DIR/onnx_parity.json. --input-size exports static shapes (what
Ascend's ATC needs); --dynamic a symbolic height and width (onnxruntime, CANN's execution
provider). Exit status: 0 passed, 1 onnxruntime disagrees with torch, 2 usage error, 3 the
checkpoint or config cannot be converted, 4 internal error. Then, on the Ascend host:

    atc --model=DIR/NAME.onnx --framework=5 --output=NAME --soc_version=Ascend310P3 \\
        --input_shape="input:1,3,H,W" --precision_mode=must_keep_origin_dtype
"""
import argparse
import os.path as osp
import sys

PROG = 'to_onnx.py'


def parse_args(argv=None):
    from mmseg_fcn_voc.conversion.cli import add_parity_arguments
    from mmseg_fcn_voc.conversion.exporter import DEFAULT_PARITY_SIZE
    parser = argparse.ArgumentParser(prog=PROG, description='mmseg FCN checkpoint -> ONNX')
    parser.add_argument('config', help='model config, e.g. configs/fcn8s_vgg16_voc.py')
    parser.add_argument('checkpoint', help='mmseg checkpoint (.pth) of that model')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the .onnx, deploy.json and onnx_parity.json')
    shape = parser.add_mutually_exclusive_group(required=True)
    shape.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                       help='static input size (ATC needs static shapes)')
    shape.add_argument('--dynamic', action='store_true',
                       help='any input height and width (symbolic dimensions)')
    parser.add_argument('--parity-size', type=int, nargs=2, metavar=('H', 'W'),
                        default=list(DEFAULT_PARITY_SIZE),
                        help='seeded parity input of a --dynamic export (default %(default)s)')
    parser.add_argument('--images', help='folder of real images for another parity check '
                        '(--dynamic only)')
    parser.add_argument('--labels', help='label PNGs named like the images')
    parser.add_argument('--max-images', type=int, help='use the first N images only')
    add_parity_arguments(parser, 'onnx')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from fcn_voc_runtime.cli import run_cli

    def convert():
        from mmseg_fcn_voc.conversion.cli import report_status, thresholds_from
        from mmseg_fcn_voc.conversion.onnx.export import OnnxExporter
        report = OnnxExporter(
            args.config, args.checkpoint, args.out_dir, input_size=args.input_size,
            parity_size=args.parity_size, images=args.images, labels=args.labels,
            max_images=args.max_images, seed=args.seed, thresholds=thresholds_from(args)).run()
        return report_status(report, osp.join(args.out_dir, 'onnx_parity.json'))

    return run_cli(convert, PROG)


if __name__ == '__main__':
    sys.exit(main())
