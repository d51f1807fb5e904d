# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The torch-free half of mmseg-fcn-voc: what runs on the deployment host, and what both halves share.

Imports only numpy and Pillow (and, when chosen, one backend: MindSpore or onnxruntime); never
torch, mmcv, mmengine or mmseg, so it works on an Ascend host that has none of them:

* :mod:`.deploy`: the ``deploy.json`` format, checked against the model file;
* :mod:`.predictor`, :mod:`.preprocess`, :mod:`.backends`: run a converted model on an image, with
  the config's test-time preprocessing;
* :mod:`.infer`: predictions, overlays and the four FCN metrics over a folder
  (``converters/infer_deployed.py``).

Shared with ``mmseg_fcn_voc`` (one implementation each): :mod:`.metrics` (the paper's formulas),
:mod:`.confusion` (confusion-matrix files and picture), :mod:`.imageio` (image/label reading with
errors that name the file), :mod:`.fileio` (atomic writes, image listing, sha256),
:mod:`.visualize` (overlays), :mod:`.cli` (the exit-status convention of every command line).
"""
__version__ = '0.1.0'
