#!/usr/bin/env python
# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``python tools/dataset_converters/prepare_voc.py --help``: see :mod:`mmseg_fcn_voc.commands.prepare_voc`
(also the console script ``fcn-prepare-voc``)."""
import sys

from mmseg_fcn_voc.commands.prepare_voc import main

if __name__ == '__main__':
    sys.exit(main())
