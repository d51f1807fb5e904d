# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Convert VGG-16 ImageNet weights into an FCNVGG backbone checkpoint (fc6/fc7 as convolutions).

    python tools/model_converters/vgg2mmseg.py vgg16-397923af.pth checkpoints/vgg16_fcn_caffe.pth --source torchvision
    python tools/model_converters/vgg2mmseg.py vgg16_from_caffe.pth checkpoints/vgg16_fcn_caffe.pth --source caffe

``torchvision``: torchvision's ``vgg16`` state dict (RGB input in [0, 1] normalised by ImageNet
mean/std); the normalisation is folded into conv1_1 so that the checkpoint takes the Caffe input
format of the configs. ``caffe``: the Caffe-derived VGG-16 ``.pth`` with the same key layout that
expects BGR 0-255 minus the mean (e.g. torchfcn's ``vgg16_from_caffe.pth``).

The configs load the result with
``backbone.init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vgg16_fcn_caffe.pth')``.

Exit status: 0 success, 2 usage error, 3 the source is not a usable VGG-16 state dict (the
message names the file and what is wrong), 4 internal error. The output gets a ``.sha256``
sidecar, which the configs' loader checks.
"""
import argparse
import sys

from fcn_voc_runtime.cli import run_cli
from mmseg_fcn_voc.conversion import load_state_dict_file, save_checkpoint
from mmseg_fcn_voc.conversion.importers import convert_vgg16

PROG = 'vgg2mmseg.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='VGG-16 state dict (.pth) in torchvision key layout')
    parser.add_argument('out', help='output backbone checkpoint (.pth)')
    parser.add_argument('--source', choices=('torchvision', 'caffe'), required=True,
                        help='input format the source weights expect (see the module docstring)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def run():
        state_dict = convert_vgg16(load_state_dict_file(args.src), args.source, name=args.src)
        save_checkpoint(state_dict, args.out, meta=dict(source=args.source, src=args.src,
                                                         input='BGR 0-255 minus Caffe mean'))
        n = sum(v.numel() for v in state_dict.values())
        print(f'wrote {args.out}: {len(state_dict)} tensors, {n:,} parameters '
              f'(FCNVGG, input BGR 0-255 minus the Caffe mean)')

    return run_cli(run, PROG)


if __name__ == '__main__':
    sys.exit(main())
