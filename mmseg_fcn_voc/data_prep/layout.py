# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The prepared dataset's layout (mmseg's, under ``data_root``), its lists and the official counts.

::

    VOC2012/JPEGImages/<id>.jpg                 every image any list below names
    VOC2012/SegmentationClass/<id>.png          VOC 2012 labels (palette PNGs, 255 borders)
    VOC2012/SegmentationClassSBD/<id>.png       every SBD label (train + val), converted from .mat
    VOC2012/SegmentationClassAug/<id>.png       train_aug labels: VOC's if VOC has one, else SBD's
    VOC2012/ImageSets/Segmentation/
        train.txt, val.txt, trainval.txt        VOC 2012 (1,464 / 1,449 / 2,913)
        aug.txt                                 (SBD train + val) - (VOC train + val) (9,118)
        trainaug.txt                            (VOC train + SBD train + val) - VOC val (10,582)
        sbd_train.txt, sbd_val.txt              SBD's own splits (8,498 / 2,857)
        seg11valid.txt                          VOC 2011 seg val - SBD train (736), with --voc2011
    SBD/                                        the SBD dataset folder (extracted here from
                                                benchmark.tgz, or a link to the given folder):
                                                cls/<id>.mat for configs that read .mat directly
    downloads/                                  archives fetched by --download
    prepare_voc_report.txt                      the report printed at the end
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict

VOC_DIR = 'VOC2012'
IMAGE_DIR = 'JPEGImages'
VOC_LABEL_DIR = 'SegmentationClass'
SBD_LABEL_DIR = 'SegmentationClassSBD'
AUG_LABEL_DIR = 'SegmentationClassAug'
SPLIT_DIR = osp.join('ImageSets', 'Segmentation')
SBD_LINK = 'SBD'
DOWNLOAD_DIR = 'downloads'
REPORT_FILE = 'prepare_voc_report.txt'

#: Every list prepare_voc writes under ``VOC2012/ImageSets/Segmentation`` -> its label folder.
PREPARED_LISTS: Dict[str, str] = OrderedDict([
    ('train.txt', VOC_LABEL_DIR),
    ('val.txt', VOC_LABEL_DIR),
    ('trainval.txt', VOC_LABEL_DIR),
    ('aug.txt', AUG_LABEL_DIR),
    ('trainaug.txt', AUG_LABEL_DIR),
    ('sbd_train.txt', SBD_LABEL_DIR),
    ('sbd_val.txt', SBD_LABEL_DIR),
    ('seg11valid.txt', VOC_LABEL_DIR),
])

#: The counts on the official data, by list name (without ``.txt``).
OFFICIAL_COUNTS: Dict[str, int] = OrderedDict([
    ('train', 1464),
    ('val', 1449),
    ('trainval', 2913),
    ('aug', 9118),
    ('trainaug', 10582),
    ('sbd_train', 8498),
    ('sbd_val', 2857),
    ('seg11valid', 736),
])

#: How source files are placed into the output folder.
LINK_MODES = ('hardlink', 'copy', 'symlink')
