# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Evaluation: ``FCNIoUMetric`` (registered in mmseg's ``METRICS``).

The paper's formulas and the confusion-matrix files are :mod:`fcn_voc_core.metrics` and
:mod:`fcn_voc_core.confusion` (numpy/Pillow only), shared with the deployment runtime.
"""
from .fcn_iou_metric import FCNIoUMetric

__all__ = ['FCNIoUMetric']
