# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Writing a confusion matrix to disk: raw counts (``.npy``, ``.csv``) and a plotted ``.png``."""
import csv
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np


def save_confusion_matrix(hist: np.ndarray,
                          class_names: Sequence[str],
                          out_dir: str,
                          stem: str = 'confusion_matrix',
                          title: Optional[str] = None) -> Dict[str, str]:
    """Write ``<stem>.npy`` (int64 counts), ``<stem>.csv`` and ``<stem>.png`` into ``out_dir``.

    Args:
        hist: ``(n, n)`` counts, rows = ground truth, columns = prediction.
        class_names: the ``n`` class names (CSV header and plot axes).
        out_dir: directory, created if needed.
        stem: file name without suffix.
        title: plot title; defaults to a description of the matrix.

    Returns:
        ``{'npy': path, 'csv': path, 'png': path}``.
    """
    hist = np.asarray(hist)
    n = len(class_names)
    if hist.shape != (n, n):
        raise ValueError(f'confusion matrix of shape {hist.shape} for {n} class names')
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: osp.join(out_dir, f'{stem}.{ext}') for ext in ('npy', 'csv', 'png')}
    np.save(paths['npy'], hist.astype(np.int64))
    with open(paths['csv'], 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['gt \\ pred', *class_names])
        for name, row in zip(class_names, hist):
            writer.writerow([name, *(int(v) for v in row)])
    plot_confusion_matrix(hist, class_names, paths['png'], title=title)
    return paths


def plot_confusion_matrix(hist: np.ndarray,
                          class_names: Sequence[str],
                          path: str,
                          title: Optional[str] = None) -> None:
    """Plot the row-normalised confusion matrix (each ground-truth row sums to 1) to a PNG.

    Rows of classes absent from the ground truth are left blank. Uses matplotlib's Agg canvas
    directly, so the global backend is neither needed nor changed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hist = np.asarray(hist, dtype=np.float64)
    n = len(class_names)
    row_sums = hist.sum(axis=1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
        normalised = np.where(row_sums > 0, hist / row_sums, np.nan)

    size = max(4.0, 0.45 * n + 2.0)
    fig = Figure(figsize=(size + 1.2, size), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(normalised, cmap='Blues', vmin=0.0, vmax=1.0, interpolation='nearest')
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='fraction of ground-truth pixels')
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_names, rotation=90, fontsize=8)
    ax.set_yticklabels(class_names, fontsize=8)
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title or 'confusion matrix (rows normalised)', fontsize=10)
    if n <= 30:
        for g in range(n):
            for p in range(n):
                value = normalised[g, p]
                if np.isfinite(value) and value >= 0.005:
                    ax.text(p, g, f'{100 * value:.0f}', ha='center', va='center', fontsize=6,
                            color='white' if value > 0.5 else 'black')
    fig.tight_layout()
    fig.savefig(path)
