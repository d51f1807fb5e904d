# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``python converters/from_mindspore.py --help``: see :mod:`mmseg_fcn_voc.commands.from_mindspore` (also the console
script ``fcn-from-mindspore``)."""
import sys

from mmseg_fcn_voc.commands.from_mindspore import main

if __name__ == '__main__':
    sys.exit(main())
