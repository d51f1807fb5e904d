# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Segment a folder of images with mmseg and write palette overlays.

    python tools/infer.py CONFIG CHECKPOINT IMAGES --out-dir DIR [--gt-dir LABELS] [--opacity 0.6]

IMAGES is a folder (every .jpg/.png/... in it) or one image. Uses ``mmseg.apis.init_model`` /
``inference_model`` with the plugin's configs, so any mmseg checkpoint of them works. Exit status:
0 success, 2 usage error, 3 bad input (the message names the file), 4 internal error.
"""
import argparse
import sys

from fcn_voc_core.cli import run_cli
from fcn_voc_core.fileio import list_images
from fcn_voc_core.output_guard import check_outputs_apart

PROG = 'infer.py'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', help='image folder or single image')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--gt-dir', help='label PNGs named like the images: drawn beside')
    parser.add_argument('--opacity', type=float, default=0.6)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)

    def run():
        from mmseg.apis import init_model

        import mmseg_fcn_voc  # noqa: F401  (registers the FCN components, checkpoint types)
        from mmseg_fcn_voc.conversion.checkpoint import verify_checkpoint_file
        from mmseg_fcn_voc.visualization import write_overlays
        check_outputs_apart({'--out-dir': args.out_dir},
                            {'CONFIG': args.config, 'CHECKPOINT': args.checkpoint,
                             'IMAGES': args.images, '--gt-dir': args.gt_dir})
        images = list_images(args.images)
        verify_checkpoint_file(args.checkpoint)
        model = init_model(args.config, args.checkpoint, device=args.device)
        written = write_overlays(model, images, args.out_dir, args.opacity, gt_dir=args.gt_dir)
        print(f'wrote {len(written)} overlays to {args.out_dir}')

    return run_cli(run, PROG)


if __name__ == '__main__':
    sys.exit(main())
