# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Write a small generated dataset in the raw official VOC 2012 / SBD (/ VOC 2011) layouts.

Example (the README's demo)::

    python tools/dataset_converters/make_demo_voc.py --out-dir data/demo_raw
    python tools/dataset_converters/prepare_voc.py --voc data/demo_raw/VOCdevkit \\
        --sbd data/demo_raw/benchmark_RELEASE --voc2011 data/demo_raw/TrainVal \\
        --out-dir data/demo_voc

``--archives`` also packs the trees as VOCtrainval_11-May-2012.tar, benchmark.tgz and
VOCtrainval_25-May-2011.tar, to exercise prepare_voc's archive path. The output depends only on
--num-images and --seed. See ``mmseg_fcn_voc/testing/demo_voc.py`` for the content and layout.
Exit status: 0 success, 2 usage error, 3 the output cannot be written, 4 internal error.
"""
import argparse
import sys

from fcn_voc_core.cli import run_cli
from mmseg_fcn_voc.testing.demo_voc import MIN_IMAGES, describe, make_demo_voc

PROG = 'make_demo_voc.py'


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description='Generate a small VOC 2012 + SBD demo dataset in the official raw layouts.')
    parser.add_argument('--out-dir', required=True, help='output directory')
    parser.add_argument('--num-images', type=int, default=100,
                        help=f'number of distinct images (default 100, at least {MIN_IMAGES})')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--no-voc2011', action='store_true',
                        help='do not write the VOC 2011 tree (then no seg11valid)')
    parser.add_argument('--archives', action='store_true',
                        help='also write the official archive files')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.num_images < MIN_IMAGES:
        print(f'{PROG}: error: --num-images must be at least {MIN_IMAGES}', file=sys.stderr)
        return 2  # a usage error, as argparse reports them

    def run():
        splits = make_demo_voc(args.out_dir, num_images=args.num_images, seed=args.seed,
                               voc2011=not args.no_voc2011, archives=args.archives)
        print(f'demo dataset written to {args.out_dir}')
        for line in describe(splits):
            print(f'  {line}')

    return run_cli(run, PROG)

