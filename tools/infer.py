# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Segment a folder of images and write palette overlays.

    python tools/infer.py CONFIG CHECKPOINT IMAGES --out-dir DIR [--gt-dir LABELS] [--opacity 0.6]

IMAGES is a folder (every .jpg/.png/... in it) or one image. Uses ``mmseg.apis.init_model`` /
``inference_model`` with the plugin's configs, so any mmseg checkpoint of them works.
"""
import argparse
import sys

import mmseg_fcn_voc  # noqa: F401  (registers the FCN components, allow-lists checkpoint types)
from mmseg_fcn_voc.visualization import list_images, write_overlays


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', help='image folder or single image')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--gt-dir', help='label PNGs named like the images: drawn beside')
    parser.add_argument('--opacity', type=float, default=0.6)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    from mmseg.apis import init_model
    try:
        images = list_images(args.images)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    model = init_model(args.config, args.checkpoint, device=args.device)
    written = write_overlays(model, images, args.out_dir, args.opacity, gt_dir=args.gt_dir)
    print(f'\nwrote {len(written)} overlays to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
