# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``python tools/model_converters/vgg2mmseg.py --help``: see :mod:`mmseg_fcn_voc.commands.vgg2mmseg`
(also the console script ``fcn-vgg2mmseg``)."""
import sys

from mmseg_fcn_voc.commands.vgg2mmseg import main

if __name__ == '__main__':
    sys.exit(main())
