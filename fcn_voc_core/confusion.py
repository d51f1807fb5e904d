# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A confusion matrix on disk: raw counts (``.npy``, ``.csv``) and a picture (``.png``).

Drawn with Pillow alone (no matplotlib), so ``mim test`` and the deployment runtime write the
same picture.
"""
import csv
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fileio import atomic_output

CELL = 28  # pixels per matrix cell


def save_confusion_matrix(hist: np.ndarray,
                          class_names: Sequence[str],
                          out_dir: str,
                          stem: str = 'confusion_matrix',
                          title: Optional[str] = None) -> Dict[str, str]:
    """Write ``<stem>.npy`` (int64 counts), ``<stem>.csv`` and ``<stem>.png`` into ``out_dir``.

    Args:
        hist: ``(n, n)`` counts, rows = ground truth, columns = prediction.
        class_names: the ``n`` class names (CSV header and picture axes).
        out_dir: directory, created if needed.
        stem: file name without suffix.
        title: picture title; defaults to a description of the matrix.

    Returns:
        ``{'npy': path, 'csv': path, 'png': path}``.
    """
    hist = np.asarray(hist)
    n = len(class_names)
    if hist.shape != (n, n):
        raise ValueError(f'confusion matrix of shape {hist.shape} for {n} class names')
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: osp.join(out_dir, f'{stem}.{ext}') for ext in ('npy', 'csv', 'png')}
    with atomic_output(paths['npy']) as tmp, open(tmp, 'wb') as f:
        np.save(f, hist.astype(np.int64))
    with atomic_output(paths['csv']) as tmp, open(tmp, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['gt \\ pred', *class_names])
        for name, row in zip(class_names, hist):
            writer.writerow([name, *(int(v) for v in row)])
    with atomic_output(paths['png']) as tmp:
        draw_confusion_matrix(hist, class_names, title).save(tmp, format='PNG')
    return paths


def _blue(value: float) -> tuple:
    """White (0) to dark blue (1)."""
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])
    return tuple(int(round(c)) for c in low + (high - low) * float(value))


def draw_confusion_matrix(hist: np.ndarray, class_names: Sequence[str],
                          title: Optional[str] = None) -> Image.Image:
    """The row-normalised matrix (each ground-truth row sums to 1) as an RGB image.

    Rows are ground truth, columns predictions; each cell shows its percentage (cells under 0.5%
    are left blank); rows of classes absent from the ground truth are grey.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = len(class_names)
    rows = hist.sum(axis=1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
        frac = np.where(rows > 0, hist / rows, np.nan)
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    text_w = lambda s: int(measure.textlength(str(s), font=font))  # noqa: E731
    label_w = max([text_w(c) for c in class_names] + [40]) + 12
    top = 30 + label_w  # title, then the rotated column labels
    left = label_w + 16
    width = max(left + n * CELL + 20, text_w(title or '') + 20, 240)
    height = max(top + n * CELL + 34, 240)
    image = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title or 'confusion matrix (rows: ground truth, normalised)', fill='black',
              font=font)
    for i, name in enumerate(class_names):
        y = top + i * CELL
        draw.text((left - 6 - text_w(name), y + CELL // 2 - 5), str(name), fill='black', font=font)
        label = Image.new('RGB', (label_w, 14), 'white')
        ImageDraw.Draw(label).text((2, 1), str(name), fill='black', font=font)
        image.paste(label.rotate(90, expand=True), (left + i * CELL + CELL // 2 - 7, 26))
        for j in range(n):
            x = left + j * CELL
            value = frac[i, j]
            fill = (220, 220, 220) if np.isnan(value) else _blue(value)
            draw.rectangle([x, y, x + CELL - 1, y + CELL - 1], fill=fill, outline=(200, 200, 200))
            if np.isfinite(value) and value >= 0.005:
                text = f'{100 * value:.0f}'
                draw.text((x + (CELL - text_w(text)) // 2, y + CELL // 2 - 5), text, font=font,
                          fill='white' if value > 0.5 else 'black')
    draw.text((left, top + n * CELL + 8), 'prediction (columns); ground truth (rows)',
              fill='black', font=font)
    return image
