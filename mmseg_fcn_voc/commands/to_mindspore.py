# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Convert an mmseg FCN checkpoint to MindSpore (.ckpt + MINDIR + deploy.json) and prove parity.

    python converters/to_mindspore.py CONFIG CHECKPOINT --out-dir DIR [--input-size H W]
        [--parity-size H W] [--images DIR [--labels DIR] [--max-images N]]
        [--layout auto|mindspore|mindspore_tutorial] [--device-target CPU|GPU|Ascend]

Writes DIR/<config name>.ckpt, DIR/<config name>.mindir (any input height and width; with
--input-size H W one static size), DIR/deploy.json (what converters/infer_deployed.py needs on the
host) and DIR/parity.json. Exit status: 0 every parity check passed, 1 one failed (parity.json says
which), 2 usage error, 3 the checkpoint, config or sizes cannot be converted, or the export is not
what was asked for (the message names the file and what is wrong), 4 internal error.
"""
from mmseg_fcn_voc.conversion.options import MindSporeExportOptions

from .export_main import export_main

PROG = 'to_mindspore.py'


def _backend():
    from mmseg_fcn_voc.conversion.mindspore.backend import MindSporeBackend
    return MindSporeBackend


def main(argv=None) -> int:
    return export_main(argv, PROG, 'mmseg FCN checkpoint -> MindSpore .ckpt + MINDIR + '
                       'deploy.json, with a parity check', MindSporeExportOptions, _backend)
