# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What configs load at run time for PASCAL VOC / SBD.

* :mod:`.voc_format`: reading, validating and writing VOC palette labels, SBD ``.mat`` labels and
  split files (import its names from there);
* :mod:`.transforms`: ``LoadSBDAnnotations`` (registered in mmseg's ``TRANSFORMS``).

Offline preparation of the official archives lives in :mod:`mmseg_fcn_voc.data_prep`, the generated
demo dataset in :mod:`mmseg_fcn_voc.testing.demo_voc`.
"""
from .transforms import LoadSBDAnnotations
from .voc import FCNVOCDataset

__all__ = ['FCNVOCDataset', 'LoadSBDAnnotations']
