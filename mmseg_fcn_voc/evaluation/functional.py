# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The FCN paper's scoring: one confusion matrix, four metrics.

``hist[g, p]`` counts the pixels with ground truth ``g`` predicted as ``p``. It is accumulated over
the whole dataset before any division, then:

* pixel accuracy ``trace(hist) / hist.sum()``;
* mean accuracy ``nanmean(diag / hist.sum(1))``;
* IU ``diag / (hist.sum(1) + hist.sum(0) - diag)``, mean IU ``nanmean(IU)``;
* frequency-weighted IU ``sum(freq * IU)`` over the classes with
  ``freq = hist.sum(1) / hist.sum() > 0``.

A class absent from both ground truth and prediction has NaN IU (and NaN accuracy when absent from
the ground truth) and is skipped by the means; a class predicted but never present scores IU 0.

These functions are shared by :class:`~mmseg_fcn_voc.evaluation.FCNIoUMetric` and any code that
scores predictions outside the Runner.
"""
from dataclasses import dataclass
from typing import Dict, Sequence, Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def confusion_matrix(gt: ArrayLike,
                     pred: ArrayLike,
                     num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """The ``(num_classes, num_classes)`` int64 confusion matrix of one prediction.

    Pixels whose ground truth equals ``ignore_index`` or lies outside ``[0, num_classes)`` are
    ignored. One ``bincount`` over ``gt * num_classes + pred``, on the inputs' device; ignored
    pixels are sent to an extra row that is dropped, which avoids the cost of boolean indexing.

    Args:
        gt: ground-truth class indices, any integer dtype and shape.
        pred: predicted class indices, same shape as ``gt``, all within ``[0, num_classes)``.
        num_classes: number of classes.
        ignore_index: ground-truth value to ignore.

    Raises:
        ValueError: shapes differ, a non-integer input, or a prediction outside the classes (it
            would land in another ground-truth row of the flattened matrix).
    """
    gt = torch.as_tensor(gt)
    pred = torch.as_tensor(pred, device=gt.device)
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth shape {tuple(gt.shape)} != prediction shape '
                         f'{tuple(pred.shape)}')
    if gt.is_floating_point() or pred.is_floating_point() or gt.dtype == torch.bool:
        raise ValueError(f'class maps must be integer tensors, got {gt.dtype} and {pred.dtype}')
    n = int(num_classes)
    if pred.numel():
        low, high = torch.aminmax(pred.reshape(-1))
        if low < 0 or high >= n:
            raise ValueError(f'predictions must lie in [0, {n}), got values in '
                             f'[{int(low)}, {int(high)}]')
    gt = gt.reshape(-1).to(torch.int64)
    pred = pred.reshape(-1).to(torch.int64)
    # Every ignored pixel goes to row n. clamp handles the common case (ignore_index >= n, no
    # negative labels) in one cheap pass; the general case needs an explicit mask.
    if 0 <= ignore_index < n or (gt.dtype != torch.uint8 and gt.numel() and gt.min() < 0):
        valid = (gt >= 0) & (gt < n) & (gt != ignore_index)
        rows = torch.where(valid, gt, torch.full_like(gt, n))
    else:
        rows = gt.clamp(max=n)
    counts = torch.bincount(torch.add(pred, rows, alpha=n), minlength=(n + 1) * n)
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


def scores_from_confusion(hist: ArrayLike) -> SegmentationScores:
    """Compute the paper's metrics from a confusion matrix accumulated over a dataset.

    Args:
        hist: ``(n, n)`` counts, rows = ground truth, columns = prediction.

    Returns:
        :class:`SegmentationScores`; every value is NaN when ``hist`` is all zeros.
    """
    if isinstance(hist, torch.Tensor):
        hist = hist.detach().cpu().numpy()
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
