# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Prepare PASCAL VOC 2012 + SBD (+ VOC 2011 for seg11valid) in mmseg's layout.

Examples::

    # from the official archives (or the folders they extract to)
    python tools/dataset_converters/prepare_voc.py --voc VOCtrainval_11-May-2012.tar --sbd benchmark.tgz \\
        --voc2011 VOCtrainval_25-May-2011.tar --out-dir data/VOCdevkit

    # fetch the archives first (md5-verified, resumable)
    python tools/dataset_converters/prepare_voc.py --download --voc2011 --out-dir data/VOCdevkit

    # validate everything, listing all problems at once
    python tools/dataset_converters/prepare_voc.py --voc ... --sbd ... --out-dir data/VOCdevkit --check
    python tools/dataset_converters/prepare_voc.py --out-dir data/VOCdevkit --check      # an already prepared dir

Exit status: 0 success, 1 the check found problems (all listed), 2 usage error, 3 bad input (a
source, archive or download that cannot be used; the message names it), 4 internal error.
See ``mmseg_fcn_voc/data_prep/layout.py`` for the output layout.
"""
import argparse
import os
import sys

from fcn_voc_core.cli import EXIT_CHECK_FAILED, run_cli
from mmseg_fcn_voc.data_prep.errors import DataPreparationError
from mmseg_fcn_voc.data_prep.layout import LINK_MODES
from mmseg_fcn_voc.data_prep.pipeline import PrepareOptions, prepare_voc

PROG = 'prepare_voc.py'


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description='Prepare VOC 2012 + SBD for mmsegmentation (train_aug / val, and the FCN '
        "paper's SBD train / seg11valid lists).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--voc', help='VOCtrainval_11-May-2012.tar or the folder it extracts to')
    parser.add_argument('--sbd', help='SBD benchmark.tgz or the folder it extracts to')
    parser.add_argument(
        '--voc2011', nargs='?', const='',
        help='VOCtrainval_25-May-2011.tar or its folder, for seg11valid; with --download and no '
        'path, fetch it too')
    parser.add_argument('--out-dir', required=True,
                        help='output root (data_root of the configs, e.g. data/VOCdevkit)')
    parser.add_argument('--check', action='store_true',
                        help='decode and validate every listed sample, listing all problems; '
                        'without --voc/--sbd, check an already prepared --out-dir')
    parser.add_argument('--download', action='store_true',
                        help='fetch the official archive of every source not given or missing')
    parser.add_argument('--download-dir', help='where to put fetched archives '
                        '(default OUT_DIR/downloads)')
    parser.add_argument('--mirror', help='base URL to fetch the archives from instead of the '
                        'official locations (the file name is appended)')
    parser.add_argument('--strict-counts', action='store_true',
                        help='fail if a list size differs from the official data')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1,
                        help='worker processes (default: all cores)')
    parser.add_argument('--link', choices=LINK_MODES, default='hardlink',
                        help='how source files are placed into OUT_DIR (default hardlink, '
                        'falling back to copy across file systems)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(argv)
    options = PrepareOptions(
        out_dir=args.out_dir,
        voc=args.voc,
        sbd=args.sbd,
        voc2011=args.voc2011,
        download=args.download,
        download_dir=args.download_dir,
        mirror=args.mirror,
        check=args.check,
        strict_counts=args.strict_counts,
        nproc=max(1, args.nproc),
        link=args.link)

    def run():
        try:
            prepare_voc(options)
        except DataPreparationError as e:  # problems found (all listed): the check failed
            print(f'{PROG}: error: {e}', file=sys.stderr)
            return EXIT_CHECK_FAILED

    return run_cli(run, PROG)

