# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Run a deployed model over a folder of images and score it (``converters/infer_deployed.py``).

Writes, for images ``<id>.<ext>``:

* ``OUT/<id>.png``: the predicted classes as a palette PNG (the dataset's colours);
* ``OUT/overlays/<id>.png``: the image with the prediction (ground truth | prediction with labels);
* with labels (``LABELS/<id>.png``, VOC palette PNGs): ``OUT/metrics.json`` (``aAcc``, ``mAcc``,
  ``mIoU``, ``fwIoU``, per-class ``IoU.<class>`` / ``Acc.<class>``: the keys and formulas of
  ``FCNIoUMetric``, from :mod:`.metrics`), ``OUT/confusion_matrix.{npy,csv,png}`` and a printed
  per-class table.
"""
import os.path as osp
import time
from typing import Callable, Dict, Optional

import numpy as np

from .confusion import save_confusion_matrix
from .errors import InputError
from .fileio import list_images, write_json
from .imageio import (
    FileFormatError,
    check_label_size,
    flat_palette,
    read_image,
    read_label_png,
    write_label_png,
)
from .metrics import class_table, confusion_matrix, scores_from_confusion
from .predictor import Predictor
from .progress import track
from .visualize import overlay_image, save_rgb


def label_path_for(image: str, labels_dir: str) -> str:
    return osp.join(labels_dir, osp.splitext(osp.basename(image))[0] + '.png')


def infer_folder(deploy_dir: str,
                 images: str,
                 out_dir: str,
                 labels: Optional[str] = None,
                 backend: Optional[str] = None,
                 device_target: str = 'CPU',
                 max_images: Optional[int] = None,
                 opacity: float = 0.6,
                 log: Callable[[str], None] = print) -> Dict:
    """Predict every image of ``images`` (a folder or one file) with the deployed model.

    Returns:
        ``{'images': n, 'seconds': s, 'images_per_second': r, 'metrics': {...} or None}``.

    Raises:
        InputError: naming the file: an incomplete or mismatched deploy folder, an unreadable
            image, a missing or unreadable label, a label of another size than its image.
    """
    predictor = Predictor(deploy_dir, backend, device_target)
    for note in getattr(predictor.model, 'notes', ()):
        log(note)
    spec = predictor.spec
    files = list_images(images)[:max_images]
    if labels is not None:
        if not osp.isdir(labels):
            raise InputError(f'{labels}: no such label folder')
        missing = [label_path_for(f, labels) for f in files
                   if not osp.isfile(label_path_for(f, labels))]
        if missing:
            raise InputError(f'{labels}: no label for {len(missing)} image(s), e.g. {missing[0]}')
    palette = flat_palette(spec.palette, ignore_index=spec.ignore_index)
    n = spec.num_classes
    hist = np.zeros((n, n), np.int64)
    start = time.perf_counter()
    for path in track(files, description=f'{spec.backend} {device_target}'):
        image = read_image(path)
        pred = predictor.predict(image)
        stem = osp.splitext(osp.basename(path))[0]
        write_label_png(osp.join(out_dir, f'{stem}.png'), pred, palette)
        gt = None
        if labels is not None:
            label_file = label_path_for(path, labels)
            gt = read_label_png(label_file, n, spec.ignore_index)
            check_label_size(gt.shape, image.shape, label_file, path)
            hist += confusion_matrix(gt, pred, n, spec.ignore_index)
        save_rgb(osp.join(out_dir, 'overlays', f'{stem}.png'),
                 overlay_image(image, pred, spec.palette, gt, opacity))
    seconds = time.perf_counter() - start
    result = {'images': len(files), 'seconds': seconds,
              'images_per_second': len(files) / seconds if seconds else float('nan'),
              'metrics': None}
    if labels is not None:
        scores = scores_from_confusion(hist)
        metrics = scores.as_percent_dict(spec.classes)
        log('per class results:\n' + class_table(hist, scores, spec.classes))
        paths = save_confusion_matrix(hist, spec.classes, out_dir, title=(
            f'{spec.backend}: rows normalised; aAcc {metrics["aAcc"]:.2f}, '
            f'mIoU {metrics["mIoU"]:.2f}'))
        write_json(osp.join(out_dir, 'metrics.json'),
                   {**metrics, 'labelled_pixels': int(hist.sum()), 'images': len(files),
                    'backend': spec.backend, 'device_target': device_target,
                    'confusion_matrix': paths['npy']})
        result['metrics'] = metrics
    log(f'{len(files)} image(s) in {seconds:.1f} s ({result["images_per_second"]:.2f} images/s); '
        f'predictions and overlays in {out_dir}')
    return result


__all__ = ['infer_folder', 'FileFormatError']
