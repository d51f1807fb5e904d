# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``python converters/to_onnx.py --help``: see :mod:`mmseg_fcn_voc.commands.to_onnx` (also the console
script ``fcn-to-onnx``)."""
import sys

from mmseg_fcn_voc.commands.to_onnx import main

if __name__ == '__main__':
    sys.exit(main())
