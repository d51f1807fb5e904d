# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Import the authors' FCN weights in torchfcn naming (fcn32s/fcn16s/fcn8s/fcn8s-atonce
``*_from_caffe.pth``) into an mmseg checkpoint for a Caffe-geometry config.

    python converters/from_torchfcn.py fcn8s_from_caffe.pth OUT.pth \\
        --config configs/fcn8s_vgg16_voc.py

Exit status 3 (with the file and the missing/unexpected keys named) when the file does not fit the
config's model, e.g. an FCN-16s file for an FCN-8s config.
"""
from .importer import IMPORT_COMMANDS, import_main


def main(argv=None) -> int:
    return import_main(argv, IMPORT_COMMANDS['from_torchfcn'])
