# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Evaluation: ``FCNIoUMetric`` (registered in mmseg's ``METRICS``).

The paper's formulas and the confusion-matrix files are :mod:`fcn_voc_runtime.metrics` and
:mod:`fcn_voc_runtime.confusion` (numpy/Pillow only), shared with the deployment runtime; they are
re-exported here.
"""
from fcn_voc_runtime.confusion import save_confusion_matrix
from fcn_voc_runtime.metrics import SegmentationScores, confusion_matrix, scores_from_confusion

from .fcn_iou_metric import FCNIoUMetric

__all__ = [
    'FCNIoUMetric', 'SegmentationScores', 'confusion_matrix', 'scores_from_confusion',
    'save_confusion_matrix'
]
