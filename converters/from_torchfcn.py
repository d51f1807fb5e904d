# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``python converters/from_torchfcn.py --help``: see :mod:`mmseg_fcn_voc.commands.from_torchfcn` (also the console
script ``fcn-from-torchfcn``)."""
import sys

from mmseg_fcn_voc.commands.from_torchfcn import main

if __name__ == '__main__':
    sys.exit(main())
