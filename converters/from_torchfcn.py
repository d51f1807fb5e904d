# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Import the authors' FCN weights in torchfcn naming (fcn32s/fcn16s/fcn8s/fcn8s-atonce
``*_from_caffe.pth``) into an mmseg checkpoint for a Caffe-geometry config.

    python converters/from_torchfcn.py fcn8s_from_caffe.pth OUT.pth \
        --config configs/fcn8s_vgg16_voc.py

Exit status 2 (with the file and the missing/unexpected keys named) when the file does not fit the
config's model, e.g. an FCN-16s file for an FCN-8s config.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='torchfcn / Caffe-release FCN -> mmseg checkpoint')
    parser.add_argument('src', help='torchfcn-layout checkpoint (.pth)')
    parser.add_argument('out', help='mmseg checkpoint to write (.pth)')
    parser.add_argument('--config', required=True,
                        help='Caffe-geometry config, e.g. configs/fcn8s_vgg16_voc.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_fcn_voc.conversion import CONVERSION_ERRORS
    from mmseg_fcn_voc.conversion.torchfcn import import_torchfcn_checkpoint
    try:
        import_torchfcn_checkpoint(args.src, args.out, args.config)
    except CONVERSION_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
