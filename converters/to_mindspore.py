# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Convert an mmseg FCN checkpoint to MindSpore (.ckpt + MINDIR + deploy.json) and prove parity.

    python converters/to_mindspore.py CONFIG CHECKPOINT --out-dir DIR [--input-size H W]
        [--parity-size H W] [--images DIR [--labels DIR] [--max-images N]]
        [--layout auto|mindspore|mindspore_tutorial] [--device-target CPU|GPU|Ascend]

Writes DIR/<config name>.ckpt, DIR/<config name>.mindir (any input height and width; with
--input-size H W one static size), DIR/deploy.json (what converters/infer_deployed.py needs on the
host) and DIR/parity.json. Exit status: 0 every parity check passed, 1 one failed (parity.json says
which), 2 usage error, 3 the checkpoint, config or sizes cannot be converted (the message names the
file and what is wrong), 4 internal error.
"""
import argparse
import os.path as osp
import sys

PROG = 'to_mindspore.py'


def parse_args(argv=None):
    from mmseg_fcn_voc.conversion.cli import add_parity_arguments
    from mmseg_fcn_voc.conversion.exporter import DEFAULT_PARITY_SIZE
    parser = argparse.ArgumentParser(
        prog=PROG, description='mmseg FCN checkpoint -> MindSpore .ckpt + MINDIR + deploy.json, '
        'with a parity check')
    parser.add_argument('config', help='model config, e.g. configs/fcn8s_vgg16_voc.py')
    parser.add_argument('checkpoint', help='mmseg checkpoint (.pth) of that model')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the .ckpt, .mindir, deploy.json and parity.json')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='export a static MINDIR for this size (default: any height and '
                        'width); also the size of the seeded parity input')
    parser.add_argument('--parity-size', type=int, nargs=2, metavar=('H', 'W'),
                        default=list(DEFAULT_PARITY_SIZE),
                        help='seeded parity input of a dynamic export (default %(default)s; a '
                        'second, smaller non-square size is checked too)')
    parser.add_argument('--images', help='folder of real images for another parity check')
    parser.add_argument('--labels', help='label PNGs named like the images (default: a VOC '
                        'JPEGImages folder uses its sibling SegmentationClass)')
    parser.add_argument('--max-images', type=int, help='use the first N images only')
    parser.add_argument('--layout', choices=('auto', 'mindspore', 'mindspore_tutorial'),
                        default='auto',
                        help='parameter names: auto = the MindSpore tutorial names for the '
                        'tutorial network (configs/fcn8s_vgg16bn_voc.py), else the plugin cells')
    add_parity_arguments(parser, 'ms')
    parser.add_argument('--no-mindir', action='store_true',
                        help='skip the MINDIR export (then no deploy.json is written)')
    parser.add_argument('--device-target', choices=('CPU', 'GPU', 'Ascend'),
                        help="MindSpore device (default: MindSpore's own choice)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from fcn_voc_runtime.cli import run_cli

    def convert():
        import mindspore

        from mmseg_fcn_voc.conversion.cli import report_status, thresholds_from
        from mmseg_fcn_voc.conversion.mindspore.export import MindSporeExporter
        if args.device_target:
            mindspore.set_context(device_target=args.device_target)
        report = MindSporeExporter(
            args.config, args.checkpoint, args.out_dir, input_size=args.input_size,
            parity_size=args.parity_size, images=args.images, labels=args.labels,
            max_images=args.max_images, layout=args.layout, mindir=not args.no_mindir,
            seed=args.seed, thresholds=thresholds_from(args)).run()
        return report_status(report, osp.join(args.out_dir, 'parity.json'))

    return run_cli(convert, PROG)


if __name__ == '__main__':
    sys.exit(main())
