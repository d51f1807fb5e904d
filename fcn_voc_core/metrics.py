# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The FCN paper's scoring: one confusion matrix, four metrics (numpy only).

The one implementation behind ``mmseg_fcn_voc``'s ``FCNIoUMetric`` (``mim test``), the converters'
parity reports and the deployment runtime's ``metrics.json``, so all three give the same numbers
for the same predictions.

``hist[g, p]`` counts the pixels with ground truth ``g`` predicted as ``p``. It is accumulated over
the whole dataset before any division, then:

* pixel accuracy ``trace(hist) / hist.sum()``;
* mean accuracy ``nanmean(diag / hist.sum(1))``;
* IU ``diag / (hist.sum(1) + hist.sum(0) - diag)``, mean IU ``nanmean(IU)``;
* frequency-weighted IU ``sum(freq * IU)`` over the classes with
  ``freq = hist.sum(1) / hist.sum() > 0``.

A class absent from both ground truth and prediction has NaN IU (and NaN accuracy when absent from
the ground truth) and is skipped by the means; a class predicted but never present scores IU 0.
"""
from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np

from .console import text_table


def confusion_matrix(gt, pred, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """The ``(num_classes, num_classes)`` int64 confusion matrix of one prediction.

    Pixels whose ground truth equals ``ignore_index`` or lies outside ``[0, num_classes)`` are
    ignored. One ``bincount`` over ``gt * num_classes + pred``; ignored pixels are sent to an extra
    row that is dropped, which avoids the cost of boolean indexing.

    Args:
        gt: ground-truth class indices, any integer dtype and shape (array-like; CPU tensors too).
        pred: predicted class indices, same shape as ``gt``, all within ``[0, num_classes)``.
        num_classes: number of classes.
        ignore_index: ground-truth value to ignore.

    Raises:
        ValueError: shapes differ, a non-integer input, or a prediction outside the classes (it
            would land in another ground-truth row of the flattened matrix).
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth shape {tuple(gt.shape)} != prediction shape '
                         f'{tuple(pred.shape)}')
    if gt.dtype.kind not in 'iu' or pred.dtype.kind not in 'iu':
        raise ValueError(f'class maps must be integer arrays, got {gt.dtype} and {pred.dtype}')
    n = int(num_classes)
    if pred.size:
        low, high = int(pred.min()), int(pred.max())
        if low < 0 or high >= n:
            raise ValueError(f'predictions must lie in [0, {n}), got values in [{low}, {high}]')
    rows = gt.reshape(-1).astype(np.int64, copy=False)
    # Every ignored pixel goes to row n. A clamp handles the common case (ignore_index >= n, no
    # negative labels) in one cheap pass; the general case needs an explicit mask.
    if 0 <= ignore_index < n or (gt.dtype.kind == 'i' and gt.size and int(gt.min()) < 0):
        valid = (rows >= 0) & (rows < n) & (rows != ignore_index)
        rows = np.where(valid, rows, n)
    else:
        rows = np.minimum(rows, n)
    flat = rows * n + pred.reshape(-1).astype(np.int64, copy=False)
    counts = np.bincount(flat, minlength=(n + 1) * n)
    return counts[:n * n].reshape(n, n)


@dataclass(frozen=True)
class SegmentationScores:
    """The paper's four metrics (fractions in [0, 1]) and the per-class values behind them."""

    pixel_accuracy: float
    mean_accuracy: float
    mean_iou: float
    fw_iou: float
    class_accuracy: np.ndarray  # per class; NaN for classes absent from the ground truth
    class_iou: np.ndarray  # per class; NaN for classes absent from ground truth and prediction

    def as_percent_dict(self, class_names: Sequence[str]) -> Dict[str, float]:
        """The mmseg-style metric dict, in percent and not rounded.

        Keys: ``aAcc``, ``mAcc``, ``mIoU``, ``fwIoU`` and, per class, ``IoU.<class>`` and
        ``Acc.<class>`` (NaN where the class is undefined, as in the paper).
        """
        if len(class_names) != len(self.class_iou):
            raise ValueError(f'{len(class_names)} class names for {len(self.class_iou)} classes')
        metrics = {
            'aAcc': 100.0 * self.pixel_accuracy,
            'mAcc': 100.0 * self.mean_accuracy,
            'mIoU': 100.0 * self.mean_iou,
            'fwIoU': 100.0 * self.fw_iou,
        }
        for name, iou in zip(class_names, self.class_iou):
            metrics[f'IoU.{name}'] = 100.0 * float(iou)
        for name, acc in zip(class_names, self.class_accuracy):
            metrics[f'Acc.{name}'] = 100.0 * float(acc)
        return metrics


def _nanmean(values: np.ndarray) -> float:
    """Mean over the non-NaN entries; NaN (without a warning) if there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float('nan')


def scores_from_confusion(hist) -> SegmentationScores:
    """Compute the paper's metrics from a confusion matrix accumulated over a dataset.

    Args:
        hist: ``(n, n)`` counts, rows = ground truth, columns = prediction.

    Returns:
        :class:`SegmentationScores`; every value is NaN when ``hist`` is all zeros.
    """
    hist = np.asarray(hist)
    if hist.ndim != 2 or hist.shape[0] != hist.shape[1]:
        raise ValueError(f'a confusion matrix must be square, got shape {hist.shape}')
    hist = hist.astype(np.float64)
    diag = np.diag(hist)
    gt_total = hist.sum(axis=1)
    pred_total = hist.sum(axis=0)
    total = hist.sum()
    with np.errstate(divide='ignore', invalid='ignore'):
        pixel_accuracy = float(diag.sum() / total) if total else float('nan')
        class_accuracy = diag / gt_total
        class_iou = diag / (gt_total + pred_total - diag)
    present = gt_total > 0
    fw_iou = (float((gt_total[present] / total * class_iou[present]).sum())
              if total else float('nan'))
    return SegmentationScores(
        pixel_accuracy=pixel_accuracy,
        mean_accuracy=_nanmean(class_accuracy),
        mean_iou=_nanmean(class_iou),
        fw_iou=fw_iou,
        class_accuracy=class_accuracy,
        class_iou=class_iou)


def class_table(hist, scores: SegmentationScores, names: Sequence[str]) -> str:
    """A per-class table (IoU, Acc in percent, pixel counts) followed by the summary row."""
    hist = np.asarray(hist)
    gt_total, pred_total = hist.sum(axis=1), hist.sum(axis=0)
    rows = [[name, f'{100 * scores.class_iou[i]:.2f}', f'{100 * scores.class_accuracy[i]:.2f}',
             int(gt_total[i]), int(pred_total[i])] for i, name in enumerate(names)]
    summary = [f'{100 * v:.2f}' for v in (scores.pixel_accuracy, scores.mean_accuracy,
                                          scores.mean_iou, scores.fw_iou)]
    return (text_table(['Class', 'IoU', 'Acc', 'GT pixels', 'Pred pixels'], rows) + '\n'
            + text_table(['aAcc', 'mAcc', 'mIoU', 'fwIoU'], [summary]))
