# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Predictions over images through mmseg's inference API, drawn in the dataset's palette.

The pictures are drawn by :mod:`fcn_voc_core.visualize`, the same code the deployment runtime
uses, so ``tools/infer.py`` and ``converters/infer_deployed.py`` produce comparable overlays.
"""
import os.path as osp
from typing import List, Optional, Sequence

from fcn_voc_core.console import track
from fcn_voc_core.imageio import check_label_size, read_image, read_label_png
from fcn_voc_core.visualize import overlay_image, save_rgb


def write_overlays(model,
                   images: Sequence[str],
                   out_dir: str,
                   opacity: float = 0.6,
                   gt_dir: Optional[str] = None,
                   gt_suffix: str = '.png') -> List[str]:
    """Predict each image with ``mmseg.apis.inference_model`` and save an overlay PNG per image.

    Colours come from ``model.dataset_meta['palette']`` (the VOC palette for the VOC configs). With
    ``gt_dir`` (label PNGs named like the images), the ground truth is drawn on the left and the
    prediction on the right. Errors name the file (unreadable image, missing or mis-sized label).

    Returns:
        The written file paths, one per image, in order.
    """
    from mmseg.apis import inference_model

    palette = model.dataset_meta['palette']
    num_classes = len(model.dataset_meta['classes'])
    written = []
    for path in track(images, description='overlays'):
        image = read_image(path)
        pred = inference_model(model, path).pred_sem_seg.data[0].cpu().numpy()
        name = osp.splitext(osp.basename(path))[0]
        gt = None
        if gt_dir is not None:
            label_path = osp.join(gt_dir, name + gt_suffix)
            if not osp.isfile(label_path):
                raise FileNotFoundError(f'{label_path}: no label for image {path}')
            gt = read_label_png(label_path, num_classes)
            check_label_size(gt.shape, image.shape, label_path, path)
        out_file = osp.join(out_dir, name + '.png')
        save_rgb(out_file, overlay_image(image, pred, palette, gt, opacity))
        written.append(out_file)
    return written
