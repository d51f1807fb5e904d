# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The config's test-time preprocessing and postprocessing, in numpy, from ``deploy.json``.

What mmseg does between a decoded image and a predicted label map, reproduced step by step:

1. ``size.policy == 'resize'``: mmcv's ``Resize(scale, keep_ratio)``: ``cv2.resize`` with
   ``INTER_LINEAR`` to the size mmcv computes;
2. ``SegDataPreProcessor``: channel order (images are decoded to RGB), ``(x - mean) / std``, then
   padding at the bottom and right to a multiple of ``size_divisor`` with ``pad_value``;
3. the network: (1, K, H', W') logits;
4. ``postprocess_result``: the padding is cropped off and, after a resize, the logits are resized
   back to the image's size (bilinear, ``align_corners=False``); argmax over the classes (already
   done on the device for a network exported with its argmax: cropping commutes with it).

Images come from :func:`fcn_voc_core.imageio.read_image` (OpenCV's decoding, as mmcv's), the image
resize is OpenCV's (as mmcv's) and the logits' resize is torch's ``F.interpolate`` bilinear
(``align_corners=False``) written in numpy, so both size policies reproduce mmseg's predictions.
"""
from typing import Tuple

import numpy as np

from .deploy import DeployFolder


def rescaled_size(height: int, width: int, scale, keep_ratio: bool) -> Tuple[int, int]:
    """The (H, W) mmcv's ``Resize`` gives: with ``keep_ratio``, the largest size that fits the
    long edge in ``max(scale)`` and the short edge in ``min(scale)`` (``mmcv.imrescale``)."""
    if not keep_ratio:
        return int(scale[1]), int(scale[0])  # scale is (w, h)
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def bilinear_resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (C, H, W) data to (C, height, width) float32 as ``F.interpolate(...,
    mode='bilinear', align_corners=False)`` does (half-pixel centres, edge clamping).

    Every output value is ``(x00 (1 - fx) + x01 fx) (1 - fy) + (x10 (1 - fx) + x11 fx) fy``, in
    torch's order; each source row is interpolated along the width once, then the rows are
    blended (the logits of a whole image: C score maps)."""
    src_h, src_w = array.shape[-2:]
    if (src_h, src_w) == (height, width):
        return array

    def axis(src: int, dst: int):
        # As torch's CPU kernel: a float32 scale, each source position ``scale * (i + 0.5) - 0.5``
        # rounded once to float32 (a fused multiply-add; exact in float64, then rounded), float32
        # weights. A float64 scale moved VOC-sized positions by up to 1e-4 pixel.
        scale = np.float32(src) / np.float32(dst)
        pos = (np.float64(scale) * (np.arange(dst) + 0.5) - 0.5).astype(np.float32)
        pos = np.maximum(pos, np.float32(0))
        low = np.minimum(np.floor(pos).astype(np.int64), src - 1)
        high = np.minimum(low + 1, src - 1)
        return low, high, np.clip(pos - low, 0, 1).astype(np.float32)

    (y0, y1, fy), (x0, x1, fx) = axis(src_h, height), axis(src_w, width)
    data = array.astype(np.float32, copy=False)
    rows = data[..., x0] * (1 - fx) + data[..., x1] * fx  # (C, src_h, width)
    return rows[:, y0] * (1 - fy)[:, None] + rows[:, y1] * fy[:, None]


def input_sizes(height: int, width: int, deploy: DeployFolder) -> Tuple[Tuple[int, int],
                                                                     Tuple[int, int]]:
    """``((h, w) after the size policy, (H', W') padded)`` of a ``height`` x ``width`` image: the
    padding reaches a multiple of ``size_divisor``, or a static model's size (a geared folder pads
    further to its gear, :mod:`.gears`)."""
    h, w = height, width
    if deploy.size_policy == 'resize':
        h, w = rescaled_size(h, w, deploy.resize['scale'], deploy.resize['keep_ratio'])
    if deploy.static_size is not None:
        return (h, w), tuple(deploy.static_size)
    d = max(deploy.size_divisor, 1)
    return (h, w), (-(-h // d) * d, -(-w // d) * d)


def preprocess(image_rgb: np.ndarray, deploy: DeployFolder,
               uint8: bool = False) -> Tuple[np.ndarray, Tuple[int, int]]:
    """(H, W, 3) uint8 RGB -> ((1, 3, H', W') float32 network input, (h, w) before padding).

    With ``uint8`` (a model with AIPP in front, :mod:`mmseg_fcn_voc.conversion.aipp`): the (1,
    H', W', 3) uint8 RGB pixels, padded with zeros; the device normalises them and the model resets
    the padding from ``(h, w)``."""
    image = image_rgb
    (h, w), (padded_h, padded_w) = input_sizes(*image.shape[:2], deploy)
    if (h, w) != image.shape[:2]:
        import cv2  # mmcv's imresize: cv2.resize, bilinear
        image = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_LINEAR)
    if padded_h < h or padded_w < w:
        raise ValueError(f'image of {h}x{w} does not fit the static model input '
                         f'{padded_h}x{padded_w}')
    if uint8:
        x = np.zeros((1, padded_h, padded_w, 3), np.uint8)
        x[0, :h, :w] = image
        return x, (h, w)
    if deploy.channel_order == 'BGR':
        image = image[..., ::-1]
    x = (image.astype(np.float32) - np.asarray(deploy.mean, np.float32)) / np.asarray(
        deploy.std, np.float32)
    if (padded_h, padded_w) != (h, w):
        x = np.pad(x, ((0, padded_h - h), (0, padded_w - w), (0, 0)),
                   constant_values=deploy.pad_value)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), (h, w)


def postprocess(logits: np.ndarray, valid: Tuple[int, int],
                original: Tuple[int, int]) -> np.ndarray:
    """(1, K, H', W') logits -> (H, W) uint8 class map of the original image; a (1, H', W') class
    map (a network exported with its argmax, native size policy) is cropped to it."""
    if logits.ndim == 3:
        return logits[0, :valid[0], :valid[1]].astype(np.uint8)
    scores = logits[0, :, :valid[0], :valid[1]]
    if tuple(valid) != tuple(original):
        scores = bilinear_resize(scores, *original)
    return scores.argmax(axis=0).astype(np.uint8)
