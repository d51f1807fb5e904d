# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Validating whole splits: every listed id present, every image and label decodable and consistent.

All problems are collected and returned together (nothing stops at the first one, nothing is
skipped); each message starts with the offending file.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence

from fcn_voc_core.console import track_tasks

from ..datasets.voc_format import NUM_VOC_CLASSES, VOID_LABEL, validate_sample


@dataclass(frozen=True)
class Sample:
    """One listed id and the files it stands for."""

    split_file: str
    image_id: str
    image: str
    label: str


def missing_files(samples: Iterable[Sample]) -> List[str]:
    """One problem per listed id whose image or label file does not exist."""
    problems = []
    for s in samples:
        for path, what in ((s.image, 'image'), (s.label, 'label')):
            if not osp.isfile(path):
                problems.append(f'{s.split_file}: lists {s.image_id!r} but its {what} {path} '
                                'does not exist')
    return problems


def _validate_task(task) -> List[str]:
    image, label, num_classes, ignore_index = task
    return validate_sample(image, label, num_classes, ignore_index)


def check_samples(samples: Sequence[Sample],
                  nproc: int = 1,
                  num_classes: int = NUM_VOC_CLASSES,
                  ignore_index: int = VOID_LABEL) -> List[str]:
    """Check that every sample's files exist and decode, labels hold only class indices or
    ``ignore_index``, and image and label sizes agree.

    Each distinct (image, label) pair is decoded once even if several splits list it.

    Returns:
        Every problem found, in a stable order (empty: all valid).
    """
    problems = missing_files(samples)
    pairs: Dict[tuple, None] = {}
    for s in samples:
        if osp.isfile(s.image) and osp.isfile(s.label):
            pairs[(s.image, s.label)] = None
    tasks = [(image, label, num_classes, ignore_index) for image, label in pairs]
    for found in track_tasks(_validate_task, tasks, nproc, 'checking samples'):
        problems.extend(found)
    # one file can be listed by several pairs (an image with two label versions): report it once
    return list(dict.fromkeys(problems))
