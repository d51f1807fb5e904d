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

The real images of a parity check are read and preprocessed here too, exactly as the model's data
preprocessor prepares them for testing.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from fcn_voc_core.fileio import list_images
from fcn_voc_core.imageio import check_label_size, read_image, read_label_png
from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion

from .names import format_keys

#: Where VOC keeps the labels, relative to ``JPEGImages``.
VOC_LABEL_DIR = 'SegmentationClass'


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

    def add(self, ref: np.ndarray, out: np.ndarray, label: Optional[np.ndarray] = None) -> Dict:
        """Add one input's logits (1, K, H', W') and optionally its (H, W) label.

        The label covers the top-left (H, W) of the logits: mmseg's preprocessor pads images at the
        bottom and right. Returns the input's :func:`compare_logits` result (over all H' x W').
        """
        result = compare_logits(ref, out)
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
            h_out = confusion_matrix(label, out[0, :, :h, :w].argmax(0), n, self.ignore_index)
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
        if self.hist_ref is not None:
            summary['labelled_pixels'] = int(self.hist_ref.sum())
            summary['mean_iou_reference'] = 100.0 * scores_from_confusion(self.hist_ref).mean_iou
            summary['mean_iou_converted'] = 100.0 * scores_from_confusion(self.hist_out).mean_iou
        return summary


# --------------------------------------------------------------------------------------------------
# inputs of a parity check
# --------------------------------------------------------------------------------------------------
def find_image_pairs(images_dir: str,
                     labels_dir: Optional[str] = None,
                     limit: Optional[int] = None) -> List[Tuple[str, Optional[str]]]:
    """``(image, label or None)`` pairs, sorted by file name.

    Labels are ``<labels_dir>/<stem>.png``; without ``labels_dir``, a VOC ``JPEGImages`` folder
    takes its sibling ``SegmentationClass`` if there is one, and any other folder has no labels.

    Raises:
        FileNotFoundError: ``images_dir`` is not a folder or holds no images, or ``labels_dir``
            lacks the label of an image (every image must be labelled for a mean IU).
    """
    if not osp.isdir(images_dir):
        raise FileNotFoundError(f'{images_dir}: no such image folder')
    images = list_images(images_dir)[:limit]
    if labels_dir is None:
        sibling = osp.join(osp.dirname(osp.abspath(images_dir)), VOC_LABEL_DIR)
        if osp.basename(osp.abspath(images_dir)) == 'JPEGImages' and osp.isdir(sibling):
            labels_dir = sibling
    pairs = [(image, None if labels_dir is None else
              osp.join(labels_dir, osp.splitext(osp.basename(image))[0] + '.png'))
             for image in images]
    missing = [label for _, label in pairs if label is not None and not osp.isfile(label)]
    if missing:
        raise FileNotFoundError(f'{labels_dir}: no label for {len(missing)} image(s): '
                                f'{format_keys(missing, 5)}')
    return pairs


@torch.no_grad()
def preprocess_image(model: nn.Module, image_bgr: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 BGR -> (1, 3, H', W') as the model's ``data_preprocessor`` prepares it for
    testing (channel order, mean/std, padding to its ``size_divisor`` at the bottom/right)."""
    from mmseg.structures import SegDataSample

    h, w = image_bgr.shape[:2]
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    inputs = torch.from_numpy(np.ascontiguousarray(image_bgr.transpose(2, 0, 1)))
    data = model.data_preprocessor({'inputs': [inputs], 'data_samples': [sample]}, training=False)
    return data['inputs'].float()


def load_pair(model: nn.Module, image: str, label: Optional[str],
              num_classes: int) -> Tuple[torch.Tensor, Optional[np.ndarray]]:
    """The preprocessed image (1, 3, H', W') and its (H, W) label (or None); files are checked
    (errors name the file)."""
    return _read_pair(model, image, label, num_classes)[:2]


def _read_pair(model, image, label, num_classes):
    """:func:`load_pair` plus the image's own (H, W), the image decoded once."""
    rgb = read_image(image)
    inputs = preprocess_image(model, rgb[..., ::-1])
    gt = None if label is None else read_label_png(label, num_classes=num_classes)
    if gt is not None:
        check_label_size(gt.shape, rgb.shape, label, image)
    return inputs, gt, tuple(rgb.shape[:2])


@dataclass
class ImageSet:
    """Real images prepared for a check.

    Attributes:
        names: their file names.
        inputs: (1, 3, H', W') tensors, as the model's data preprocessor makes them (H' >= H and
            W' >= W: padded at the bottom and right).
        sizes: each image's own (H, W).
        labels: (H, W) label arrays, or None when the images are unlabelled.
    """
    names: List[str]
    inputs: List[torch.Tensor]
    sizes: List[Tuple[int, int]]
    labels: Optional[List[np.ndarray]] = None


def load_image_set(model: nn.Module, pairs: Sequence[Tuple[str, Optional[str]]],
                   num_classes: int) -> ImageSet:
    """:func:`load_pair` of every ``(image, label)`` of :func:`find_image_pairs`; labels only when
    every image has one."""
    names, inputs, sizes, labels = [], [], [], []
    for image, label in pairs:
        x, gt, size = _read_pair(model, image, label, num_classes)
        names.append(osp.basename(image))
        inputs.append(x)
        sizes.append(size)
        labels.append(gt)
    return ImageSet(names, inputs, sizes,
                    labels if labels and all(g is not None for g in labels) else None)


def random_image(height: int, width: int, seed: int) -> np.ndarray:
    """A seeded (H, W, 3) uint8 BGR image: uniform noise, the seeded parity input before
    preprocessing (so it has the input statistics the model's preprocessing produces)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
