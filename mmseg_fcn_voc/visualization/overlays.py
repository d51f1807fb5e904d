# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Predictions over images, in the dataset palette, through mmseg's own inference and visualizer."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
from mmengine.utils import ProgressBar

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(path: str) -> List[str]:
    """The image files of a folder (sorted), or ``[path]`` for one file; errors name the path."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such image file or folder')
    files = sorted(osp.join(path, f) for f in os.listdir(path)
                   if f.lower().endswith(IMG_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f'{path}: no images ({", ".join(IMG_EXTENSIONS)}) in this folder')
    return files


def write_overlays(model,
                   images: Sequence[str],
                   out_dir: str,
                   opacity: float = 0.6,
                   gt_dir: Optional[str] = None,
                   gt_suffix: str = '.png') -> List[str]:
    """Predict each image with ``mmseg.apis.inference_model`` and save an overlay PNG per image.

    Colours come from ``model.dataset_meta['palette']`` (the VOC palette for the VOC configs), drawn
    by mmseg's ``SegLocalVisualizer``. With ``gt_dir`` (label PNGs named like the images), the
    ground truth is drawn on the left and the prediction on the right.

    Returns:
        The written file paths, one per image, in order.
    """
    from mmseg.apis import inference_model
    from mmseg.visualization import SegLocalVisualizer
    from mmengine.structures import PixelData
    import numpy as np
    import torch

    os.makedirs(out_dir, exist_ok=True)
    visualizer = SegLocalVisualizer.get_instance('mmseg_fcn_voc_overlays', alpha=opacity)
    visualizer.alpha = opacity
    visualizer.dataset_meta = dict(classes=model.dataset_meta['classes'],
                                   palette=model.dataset_meta['palette'])
    written = []
    progress = ProgressBar(len(images))
    for path in images:
        image = mmcv.imread(path, channel_order='rgb')
        if image is None:
            raise ValueError(f'{path}: cannot decode this image')
        result = inference_model(model, path)
        name = osp.splitext(osp.basename(path))[0]
        draw_gt = False
        if gt_dir is not None:
            label_path = osp.join(gt_dir, name + gt_suffix)
            if not osp.isfile(label_path):
                raise FileNotFoundError(f'{label_path}: no label for image {path}')
            label = mmcv.imread(label_path, flag='unchanged', backend='pillow')
            if label is None or label.ndim != 2:
                raise ValueError(f'{label_path}: not a single-channel (palette) label image')
            if label.shape[:2] != image.shape[:2]:
                raise ValueError(f'{label_path}: label size {label.shape[:2]} differs from the '
                                 f'image {path} {image.shape[:2]}')
            result.gt_sem_seg = PixelData(data=torch.from_numpy(label.astype(np.int64))[None])
            draw_gt = True
        out_file = osp.join(out_dir, name + '.png')
        visualizer.add_datasample(name, image, result, draw_gt=draw_gt, draw_pred=True,
                                  show=False, out_file=out_file, with_labels=False)
        written.append(out_file)
        progress.update()
    return written
