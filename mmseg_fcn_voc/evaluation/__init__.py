# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Evaluation: ``FCNIoUMetric`` (registered in mmseg's ``METRICS``) and the paper's formulas."""
from .confusion_io import plot_confusion_matrix, save_confusion_matrix
from .fcn_iou_metric import FCNIoUMetric
from .functional import SegmentationScores, confusion_matrix, scores_from_confusion

__all__ = [
    'FCNIoUMetric', 'SegmentationScores', 'confusion_matrix', 'scores_from_confusion',
    'save_confusion_matrix', 'plot_confusion_matrix'
]
