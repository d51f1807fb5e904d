# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Convert an mmseg FCN checkpoint to MindSpore (.ckpt + MINDIR) and prove parity.

    python converters/to_mindspore.py CONFIG CHECKPOINT --out-dir DIR [--input-size H W]
        [--images DIR [--labels DIR] [--max-images N]] [--layout auto|mindspore|mindspore_tutorial]

Writes DIR/<config name>.ckpt, DIR/<config name>.mindir and DIR/parity.json. Exit status: 0 when
every parity check passed, 1 when one failed (parity.json says which), 2 when the checkpoint or
model cannot be converted (the message names the file and lists missing/unexpected keys).
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    from mmseg_fcn_voc.conversion.cli import add_parity_arguments
    from mmseg_fcn_voc.conversion.to_mindspore import DEFAULT_INPUT_SIZE, LAYOUT_CHOICES
    parser = argparse.ArgumentParser(
        description='mmseg FCN checkpoint -> MindSpore .ckpt + MINDIR, with a parity check')
    parser.add_argument('config', help='model config, e.g. configs/fcn8s_vgg16_voc.py')
    parser.add_argument('checkpoint', help='mmseg checkpoint (.pth) of that model')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the .ckpt, .mindir and parity.json')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        default=list(DEFAULT_INPUT_SIZE),
                        help='static MINDIR input size, also the seeded parity input '
                        f'(default {DEFAULT_INPUT_SIZE[0]} {DEFAULT_INPUT_SIZE[1]}; MindSpore on '
                        'CPU needs minutes per forward pass at this size)')
    parser.add_argument('--images', help='folder of real images for a second parity check')
    parser.add_argument('--labels', help='label PNGs named like the images (default: a VOC '
                        'JPEGImages folder uses its sibling SegmentationClass)')
    parser.add_argument('--max-images', type=int, help='use the first N images only')
    parser.add_argument('--layout', choices=LAYOUT_CHOICES, default='auto',
                        help='parameter names: auto = the MindSpore tutorial names for the '
                        'tutorial network (configs/fcn8s_vgg16bn_voc.py), else the plugin cells')
    add_parity_arguments(parser, 'ms')
    parser.add_argument('--no-mindir', action='store_true', help='skip the MINDIR export')
    parser.add_argument('--device-target', choices=('CPU', 'GPU', 'Ascend'),
                        help="MindSpore device (default: MindSpore's own choice)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_fcn_voc.conversion.cli import run_refusing, thresholds_from
    from mmseg_fcn_voc.conversion.to_mindspore import convert_to_mindspore
    if args.device_target:
        import mindspore
        mindspore.set_context(device_target=args.device_target)
    return run_refusing(
        lambda: convert_to_mindspore(
            args.config, args.checkpoint, args.out_dir, input_size=args.input_size,
            images=args.images, labels=args.labels, max_images=args.max_images,
            layout=args.layout, seed=args.seed, mindir=not args.no_mindir,
            thresholds=thresholds_from(args)), osp.join(args.out_dir, 'parity.json'))


if __name__ == '__main__':
    sys.exit(main())
