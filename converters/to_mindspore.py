# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``python converters/to_mindspore.py --help``: see :mod:`mmseg_fcn_voc.commands.to_mindspore` (also the console
script ``fcn-to-mindspore``)."""
import sys

from mmseg_fcn_voc.commands.to_mindspore import main

if __name__ == '__main__':
    sys.exit(main())
