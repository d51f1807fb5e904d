# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Run a converted FCN on the deployment host and score it (``python -m fcn_voc_runtime``).

    python converters/infer_deployed.py DIR IMAGES --out-dir OUT [--labels LABELS]
        [--backend mindspore|onnxruntime] [--device-target CPU|GPU|Ascend] [--max-images N]

The options and outputs are those of :mod:`fcn_voc_runtime.__main__`. Needs the torch-free packages
installed on the host (``pip install --no-deps .`` in a clone installs them and nothing else).
"""
import sys

from fcn_voc_runtime.__main__ import main

if __name__ == '__main__':
    sys.exit(main())
