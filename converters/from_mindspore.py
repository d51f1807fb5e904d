# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Import a MindSpore FCN8s checkpoint (the MindSpore tutorial / model zoo, or to_mindspore.py's
output) into an mmseg checkpoint.

    python converters/from_mindspore.py SRC.ckpt OUT.pth --config configs/fcn8s_vgg16bn_voc.py

Optimizer entries (moments.*, learning_rate, global_step, ...) are ignored. Exit status 2 (with the
file and the missing/unexpected keys named) when the checkpoint does not fit the config's model.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='MindSpore FCN .ckpt -> mmseg checkpoint')
    parser.add_argument('src', help='MindSpore checkpoint (.ckpt)')
    parser.add_argument('out', help='mmseg checkpoint to write (.pth)')
    parser.add_argument('--config', required=True,
                        help='model config, e.g. configs/fcn8s_vgg16bn_voc.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_fcn_voc.conversion import CONVERSION_ERRORS
    from mmseg_fcn_voc.conversion.from_mindspore import import_mindspore_checkpoint
    try:
        import_mindspore_checkpoint(args.src, args.out, args.config)
    except CONVERSION_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
