# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Numerical parity between a reference network (torch) and a converted one.

For logits ``ref`` and ``out`` of shape (N, K, H, W):

* ``max_abs_error = max |out - ref|``;
* ``max_rel_error = max_abs_error / max |ref|``: the error relative to the logits' own scale (an
  element-wise ratio would be meaningless where a logit crosses zero);
* ``argmax_agreement``: the fraction of pixels whose predicted class is the same.

Over several inputs the errors are maxima and the agreement is pooled over all pixels. With labels,
the mean IU of each network is computed by the paper's formula (:mod:`fcn_voc_core.metrics`)
from one confusion matrix per network.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion


@dataclass(frozen=True)
class ParityThresholds:
    """When two networks count as equal: float32 rounding on a deep network, no more."""
    max_rel_error: float = 1e-5
    min_argmax_agreement: float = 0.9999


def compare_logits(ref: np.ndarray, out: np.ndarray) -> Dict[str, float]:
    """Errors and argmax agreement of ``out`` against ``ref``, both (N, K, H, W).

    Raises:
        ValueError: the shapes differ (a converted network that changes the output size is wrong,
            not imprecise).
    """
    ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
    if ref.shape != out.shape:
        raise ValueError(f'output shapes differ: reference {ref.shape}, converted {out.shape}')
    abs_err = float(np.abs(out - ref).max()) if ref.size else 0.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    agree = ref.argmax(1) == out.argmax(1)
    return {
        'max_abs_error': abs_err,
        'max_rel_error': abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float('inf')),
        'logit_scale': scale,
        'argmax_agreement': float(agree.mean()) if agree.size else 1.0,
        'agreeing_pixels': int(agree.sum()),
        'pixels': int(agree.size),
    }


def compare_class_maps(ref: np.ndarray, out: np.ndarray) -> Dict[str, float]:
    """Agreement of a class map ``out`` (N, H, W) with the argmax of logits ``ref`` (N, K, H, W)
    (a network exported with its argmax: no logits to compare)."""
    if out.shape != ref.shape[:1] + ref.shape[2:]:
        raise ValueError(f'class map shape {out.shape} does not match the logits {ref.shape}')
    agree = ref.argmax(1) == out
    return {'max_abs_error': 0.0, 'max_rel_error': 0.0,
            'argmax_agreement': float(agree.mean()) if agree.size else 1.0,
            'agreeing_pixels': int(agree.sum()), 'pixels': int(agree.size)}


def class_map(out: np.ndarray) -> np.ndarray:
    """(N, H, W) of a network's output: its argmax over classes for (N, K, H, W) logits, the output
    itself for a class map."""
    return out if out.ndim == 3 else out.argmax(1)


class ParityAccumulator:
    """Pool :func:`compare_logits` over several inputs, and the mean IU when labels are given.

    Args:
        num_classes (int): K, for the confusion matrices.
        ignore_index (int): label value that is not scored (VOC's void border, 255).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.count = 0
        self.max_abs_error = 0.0
        self.max_rel_error = 0.0
        self.agreeing = 0
        self.pixels = 0
        self.hist_ref: Optional[np.ndarray] = None
        self.hist_out: Optional[np.ndarray] = None
        self.class_maps = False

    def add(self, ref: np.ndarray, out: np.ndarray, label: Optional[np.ndarray] = None) -> Dict:
        """Add one input's logits (1, K, H', W') (``out`` may be a (1, H', W') class map: a network
        exported with its argmax) and optionally its (H, W) label.

        The label covers the top-left (H, W) of the logits: mmseg's preprocessor pads images at the
        bottom and right. Returns the input's :func:`compare_logits` (or
        :func:`compare_class_maps`) result (over all H' x W').
        """
        self.class_maps = out.ndim == ref.ndim - 1
        result = compare_class_maps(ref, out) if self.class_maps else compare_logits(ref, out)
        self.count += 1
        self.max_abs_error = max(self.max_abs_error, result['max_abs_error'])
        self.max_rel_error = max(self.max_rel_error, result['max_rel_error'])
        self.agreeing += result['agreeing_pixels']
        self.pixels += result['pixels']
        if label is not None:
            h, w = label.shape
            if h > ref.shape[-2] or w > ref.shape[-1]:
                raise ValueError(f'label {label.shape} is larger than the logits {ref.shape}')
            n = self.num_classes
            h_ref = confusion_matrix(label, ref[0, :, :h, :w].argmax(0), n, self.ignore_index)
            h_out = confusion_matrix(label, class_map(out)[0, :h, :w], n, self.ignore_index)
            self.hist_ref = h_ref if self.hist_ref is None else self.hist_ref + h_ref
            self.hist_out = h_out if self.hist_out is None else self.hist_out + h_out
        return result

    def summary(self, thresholds: ParityThresholds) -> Dict:
        """The pooled numbers, the thresholds and ``passed``; ``mean_iou_*`` (percent) with
        labels."""
        agreement = self.agreeing / self.pixels if self.pixels else 1.0
        summary = {
            'inputs': self.count,
            'pixels': self.pixels,
            'max_abs_error': self.max_abs_error,
            'max_rel_error': self.max_rel_error,
            'argmax_agreement': agreement,
            'max_rel_error_allowed': thresholds.max_rel_error,
            'min_argmax_agreement': thresholds.min_argmax_agreement,
            'passed': bool(self.count > 0 and self.max_rel_error <= thresholds.max_rel_error
                           and agreement >= thresholds.min_argmax_agreement),
        }
        if self.class_maps:  # a class map has no logits to compare
            summary['output'] = 'class_map'
            for key in ('max_abs_error', 'max_rel_error', 'max_rel_error_allowed'):
                summary.pop(key)
        if self.hist_ref is not None:
            summary['labelled_pixels'] = int(self.hist_ref.sum())
            summary['mean_iou_reference'] = 100.0 * scores_from_confusion(self.hist_ref).mean_iou
            summary['mean_iou_converted'] = 100.0 * scores_from_confusion(self.hist_out).mean_iou
        return summary
