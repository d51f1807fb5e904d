# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Real images (and labels) for the converters' parity checks, preprocessed as the model expects."""
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..datasets.voc_format import read_image, read_label
from .names import format_keys

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
#: Where VOC keeps the labels, relative to ``JPEGImages``.
VOC_LABEL_DIR = 'SegmentationClass'


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
    images = sorted(f for f in os.listdir(images_dir) if f.lower().endswith(IMAGE_SUFFIXES))
    if limit is not None:
        images = images[:limit]
    if not images:
        raise FileNotFoundError(f'{images_dir}: no images ({", ".join(IMAGE_SUFFIXES)})')
    if labels_dir is None:
        sibling = osp.join(osp.dirname(osp.abspath(images_dir)), VOC_LABEL_DIR)
        if osp.basename(osp.abspath(images_dir)) == 'JPEGImages' and osp.isdir(sibling):
            labels_dir = sibling
    pairs = []
    for name in images:
        label = None
        if labels_dir is not None:
            label = osp.join(labels_dir, osp.splitext(name)[0] + '.png')
        pairs.append((osp.join(images_dir, name), label))
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
    (:mod:`mmseg_fcn_voc.datasets.voc_format` errors name the file)."""
    rgb = read_image(image)
    inputs = preprocess_image(model, rgb[..., ::-1])
    gt = None if label is None else read_label(label, num_classes=num_classes)
    if gt is not None and gt.shape != rgb.shape[:2]:
        raise ValueError(f'{label}: label size {gt.shape} differs from the image {rgb.shape[:2]}')
    return inputs, gt


def random_image(height: int, width: int, seed: int) -> np.ndarray:
    """A seeded (H, W, 3) uint8 BGR image: uniform noise, the seeded parity input before
    preprocessing (so it has the input statistics the model's preprocessing produces)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
