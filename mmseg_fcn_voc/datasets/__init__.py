# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""PASCAL VOC / SBD data support.

* :mod:`.voc_format`: reading, validating and writing VOC images, palette labels, SBD ``.mat``
  labels and split files;
* :mod:`.transforms`: ``LoadSBDAnnotations`` (registered in mmseg's ``TRANSFORMS``);
* :mod:`.prepare` (with :mod:`.sources`, :mod:`.download`, :mod:`.check`): the library behind
  ``tools/prepare_voc.py``;
* :mod:`.demo`: the generated demo dataset behind ``tools/make_demo_voc.py``.

Only the first two are imported here; the tools import the rest.
"""
from .transforms import LoadSBDAnnotations
from .voc_format import (NUM_VOC_CLASSES, VOC_CLASSES, VOID_LABEL, VOCFormatError, read_image,
                         read_label, read_label_png, read_sbd_mat, read_split, validate_sample,
                         voc_palette, write_label_png, write_split)

__all__ = [
    'LoadSBDAnnotations', 'NUM_VOC_CLASSES', 'VOC_CLASSES', 'VOID_LABEL', 'VOCFormatError',
    'read_image', 'read_label', 'read_label_png', 'read_sbd_mat', 'read_split', 'validate_sample',
    'voc_palette', 'write_label_png', 'write_split'
]
