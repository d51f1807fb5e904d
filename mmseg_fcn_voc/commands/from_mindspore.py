# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Import a MindSpore FCN8s checkpoint (the MindSpore tutorial / model zoo, or to_mindspore.py's
output) into an mmseg checkpoint.

    python converters/from_mindspore.py SRC.ckpt OUT.pth --config configs/fcn8s_vgg16bn_voc.py

Optimizer entries (moments.*, learning_rate, global_step, ...) are ignored. Exit status 3 (with the
file and the missing/unexpected keys named) when the checkpoint does not fit the config's model.
"""
from .importer import IMPORT_COMMANDS, import_main


def main(argv=None) -> int:
    return import_main(argv, IMPORT_COMMANDS['from_mindspore'])
