# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Predictions over images, in the dataset's palette (numpy and Pillow only).

Shared by ``tools/infer.py`` (mmseg inference) and the deployment runtime, so both draw the same
pictures: the image blended with the class colours; with a ground truth, the ground truth on the
left and the prediction on the right.
"""
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from .fileio import PathLike, atomic_output


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours; values outside the palette are white."""
    table = np.full((256, 3), 255, dtype=np.uint8)
    table[:len(palette)] = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    return table[np.asarray(label, dtype=np.uint8)]


def blend(image: np.ndarray, label: np.ndarray, palette: Sequence[Sequence[int]],
          opacity: float = 0.6) -> np.ndarray:
    """The (H, W, 3) uint8 RGB image with each labelled pixel mixed with its class colour;
    pixels outside the classes (the void border) are left as they are."""
    if image.shape[:2] != label.shape:
        raise ValueError(f'image {image.shape[:2]} and label {label.shape} differ in size')
    # round(v * (1 - opacity) + c * opacity) in float32 for every pair of 8-bit values, looked
    # up per pixel and channel (the same values as computing it per pixel, several times faster)
    levels = np.arange(256, dtype=np.float32)
    table = np.clip(np.rint(levels[:, None] * (1 - opacity) + levels[None, :] * opacity), 0, 255)
    pairs = image.astype(np.uint16)
    pairs <<= 8
    pairs |= colorize(label, palette)
    mixed = np.take(table.astype(np.uint8).reshape(-1), pairs)
    inside = (label < len(palette))[..., None]
    return np.where(inside, mixed, image)


def overlay_image(image: np.ndarray, pred: np.ndarray, palette: Sequence[Sequence[int]],
                  gt: Optional[np.ndarray] = None, opacity: float = 0.6) -> np.ndarray:
    """The prediction blended over the image; with ``gt``, ``[gt | prediction]`` side by side."""
    panels = [blend(image, pred, palette, opacity)]
    if gt is not None:
        panels.insert(0, blend(image, gt, palette, opacity))
    return np.concatenate(panels, axis=1)


def save_rgb(path: PathLike, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB array as PNG, atomically (zlib level 1: a picture to look
    at, written several times faster than at the default level)."""
    with atomic_output(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image), 'RGB').save(tmp, format='PNG',
                                                                 compress_level=1)
