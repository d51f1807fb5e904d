# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The inputs of the exporters' checks: real images (and labels) read and preprocessed exactly as
the model's data preprocessor prepares them for testing, and seeded random images."""
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from fcn_voc_core.fileio import list_images
from fcn_voc_core.imageio import check_label_size, read_image, read_label_png

from .network.layouts import format_keys

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
