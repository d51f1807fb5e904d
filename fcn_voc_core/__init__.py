# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The torch-free kernel that every part of mmseg-fcn-voc shares (numpy and Pillow only).

Imports never torch, mmcv, mmengine or mmseg, so the deployment runtime (:mod:`fcn_voc_runtime`)
and the mmseg plugin (:mod:`mmseg_fcn_voc`) both build on it:

* :mod:`.errors`: :class:`~.errors.InputError`, the one "bad input" error (exit status 3);
* :mod:`.cli`: the exit-status convention of every command line (:func:`~.cli.run_cli`);
* :mod:`.fileio`: atomic writes, image listing, sha256 files;
* :mod:`.imageio`: images and VOC label PNGs, with errors that name the file;
* :mod:`.metrics`: the paper's four metrics; :mod:`.confusion`: confusion-matrix files and picture;
* :mod:`.visualize`: prediction overlays; :mod:`.progress`: a progress bar;
* :mod:`.mindspore_cpu`: MindSpore's fast CPU set-up (imports MindSpore only when called).
"""
