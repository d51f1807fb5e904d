# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What configs load at run time for PASCAL VOC / SBD.

* :mod:`.voc_format`: reading, validating and writing VOC images, palette labels, SBD ``.mat``
  labels and split files;
* :mod:`.transforms`: ``LoadSBDAnnotations`` (registered in mmseg's ``TRANSFORMS``).

Offline preparation of the official archives lives in :mod:`mmseg_fcn_voc.data_prep`, the generated
demo dataset in :mod:`mmseg_fcn_voc.testing.demo_voc`.
"""
from .transforms import LoadSBDAnnotations
from .voc import FCNVOCDataset
from .voc_format import (
                         NUM_VOC_CLASSES,
                         VOC_CLASSES,
                         VOID_LABEL,
                         VOCFormatError,
                         read_image,
                         read_label,
                         read_label_png,
                         read_sbd_mat,
                         read_split,
                         validate_sample,
                         voc_palette,
                         write_label_png,
                         write_split,
)

__all__ = [
    'FCNVOCDataset', 'LoadSBDAnnotations', 'NUM_VOC_CLASSES', 'VOC_CLASSES', 'VOID_LABEL', 'VOCFormatError',
    'read_image', 'read_label', 'read_label_png', 'read_sbd_mat', 'read_split', 'validate_sample',
    'voc_palette', 'write_label_png', 'write_split'
]
