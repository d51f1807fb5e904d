# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The split lists: read from the sources, derived (train_aug, seg11valid, ...) by set algebra, and
compared with the official counts."""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from fcn_voc_core.console import text_table
from fcn_voc_core.imageio import FileFormatError

from ..datasets.voc_format import read_split
from .check import Sample
from .errors import DataPreparationError
from .layout import IMAGE_DIR, OFFICIAL_COUNTS, SPLIT_DIR, VOC_LABEL_DIR


@dataclass
class SourceSplits:
    """The split files of the sources (``voc2011_val`` is None without VOC 2011)."""

    voc_train: List[str]
    voc_val: List[str]
    sbd_train: List[str]
    sbd_val: List[str]
    voc2011_val: Optional[List[str]] = None


def derive_lists(splits: SourceSplits) -> Dict[str, List[str]]:
    """Every list prepare_voc writes, by name (without ``.txt``), from the source splits.

    ``train``/``val``/``sbd_train``/``sbd_val`` are the sources' lists; ``trainval`` their VOC
    union; ``aug`` = (SBD train + SBD val) - (VOC train + VOC val); ``trainaug`` = (VOC train + SBD
    train + SBD val) - VOC val; ``seg11valid`` = VOC 2011 val - SBD train (in VOC 2011's order),
    only with VOC 2011. Derived lists are sorted.
    """
    voc_train, voc_val = set(splits.voc_train), set(splits.voc_val)
    sbd_all = set(splits.sbd_train) | set(splits.sbd_val)
    lists = OrderedDict([
        ('train', list(splits.voc_train)),
        ('val', list(splits.voc_val)),
        ('trainval', sorted(voc_train | voc_val)),
        ('aug', sorted(sbd_all - voc_train - voc_val)),
        ('trainaug', sorted((voc_train | sbd_all) - voc_val)),
        ('sbd_train', list(splits.sbd_train)),
        ('sbd_val', list(splits.sbd_val)),
    ])
    if splits.voc2011_val is not None:
        sbd_train = set(splits.sbd_train)
        lists['seg11valid'] = [i for i in splits.voc2011_val if i not in sbd_train]
    return lists


def read_source_splits(voc_root: str, sbd_root: str, voc2011_root: Optional[str]) -> SourceSplits:
    problems = []

    def read(path: str) -> List[str]:
        try:
            return read_split(path)
        except FileFormatError as e:
            problems.append(str(e))
            return []

    splits = SourceSplits(
        voc_train=read(osp.join(voc_root, SPLIT_DIR, 'train.txt')),
        voc_val=read(osp.join(voc_root, SPLIT_DIR, 'val.txt')),
        sbd_train=read(osp.join(sbd_root, 'train.txt')),
        sbd_val=read(osp.join(sbd_root, 'val.txt')),
        voc2011_val=read(osp.join(voc2011_root, SPLIT_DIR, 'val.txt')) if voc2011_root else None)
    if problems:
        raise DataPreparationError('cannot read the split files:', problems)
    return splits


def source_samples(voc_root: str, sbd_root: str, voc2011_root: Optional[str],
                    splits: SourceSplits) -> Tuple[List[Sample], Dict[str, str]]:
    """Every listed sample of the sources, and where each image comes from."""
    image_source: Dict[str, str] = {}

    def image_of(image_id: str) -> str:
        if image_id not in image_source:
            voc_image = osp.join(voc_root, IMAGE_DIR, f'{image_id}.jpg')
            sbd_image = osp.join(sbd_root, 'img', f'{image_id}.jpg')
            image_source[image_id] = (
                voc_image if osp.isfile(voc_image) or not osp.isfile(sbd_image) else sbd_image)
        return image_source[image_id]

    samples = []
    for name, ids in (('train.txt', splits.voc_train), ('val.txt', splits.voc_val)):
        split_file = osp.join(voc_root, SPLIT_DIR, name)
        samples += [
            Sample(split_file, i, image_of(i), osp.join(voc_root, VOC_LABEL_DIR, f'{i}.png'))
            for i in ids
        ]
    for name, ids in (('train.txt', splits.sbd_train), ('val.txt', splits.sbd_val)):
        split_file = osp.join(sbd_root, name)
        samples += [
            Sample(split_file, i, image_of(i), osp.join(sbd_root, 'cls', f'{i}.mat')) for i in ids
        ]
    if voc2011_root is not None:
        # seg11valid is scored against the VOC 2012 copies of the VOC 2011 val labels
        split_file = osp.join(voc2011_root, SPLIT_DIR, 'val.txt')
        sbd_train = set(splits.sbd_train)
        samples += [
            Sample(split_file, i, image_of(i), osp.join(voc_root, VOC_LABEL_DIR, f'{i}.png'))
            for i in splits.voc2011_val if i not in sbd_train
        ]
    return samples, image_source


def compare_counts(counts: Dict[str, int]) -> Tuple[List[List], List[str]]:
    """Compare list sizes with :data:`OFFICIAL_COUNTS`; return the table rows (``[list, count,
    official, 'ok' | 'MISMATCH']``, see :func:`counts_table`) and the mismatches in words."""
    rows, mismatches = [], []
    for name, count in counts.items():
        official = OFFICIAL_COUNTS.get(name)
        rows.append([f'{name}.txt', count, official, 'ok' if count == official else 'MISMATCH'])
        if count != official:
            mismatches.append(f'{name}.txt has {count} ids, the official data has {official}')
    return rows, mismatches


def counts_table(rows: List[List]) -> str:
    """The rows of :func:`compare_counts` as a table."""
    return text_table(['list', 'count', 'official', ''], rows)


