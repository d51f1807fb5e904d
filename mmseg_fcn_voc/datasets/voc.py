# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""PASCAL VOC with errors that say how to make a missing split or folder."""
import os.path as osp
from typing import Optional

from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

PREPARE = 'python tools/dataset_converters/prepare_voc.py'


@DATASETS.register_module()
class FCNVOCDataset(PascalVOCDataset):
    """mmseg's ``PascalVOCDataset`` (same classes, palette, layout), checked before loading.

    mmseg's dataset asserts that the image folder and the split file exist without saying which
    one is missing; this one names the missing path and how to make it.

    Args:
        prepare_hint (str, optional): the command that writes the split (default: the
            ``prepare_voc.py`` command of the usual VOC 2012 + SBD preparation).
        **kwargs: ``PascalVOCDataset``'s arguments (``data_root``, ``ann_file``, ...).
    """

    def __init__(self, prepare_hint: Optional[str] = None, **kwargs):
        root = kwargs.get('data_root') or ''
        hint = prepare_hint or (f'{PREPARE} --voc VOCtrainval_11-May-2012.tar --sbd benchmark.tgz '
                                f'--out-dir {root or "data/VOCdevkit"}')
        ann_file = osp.join(root, kwargs.get('ann_file', ''))
        images = osp.join(root, (kwargs.get('data_prefix') or {}).get('img_path', ''))
        for path, what in ((images, 'image folder'), (ann_file, 'split file')):
            if not osp.exists(path):
                raise FileNotFoundError(f'{path}: the {what} of this dataset does not exist; make '
                                        f'it with `{hint}` (the data root is {root!r})')
        super().__init__(**kwargs)
