# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The host's work around the model, overlapped with it: the NPU (or the CPU backend) is never
kept waiting for decoding, preprocessing, writing or scoring.

Three stages run at once, each in order and each with a bounded number of images in flight (so
memory stays flat in the number of images):

1. **read** (``workers`` threads): the image decoded once with OpenCV (it was checked whole, and its
   size and modification time recorded, by the validation: a file changed since is refused), the
   label read, the network input prepared (float32, or uint8 pixels for an AIPP model);
2. **model** (the calling thread): the deployed model;
3. **write** (``workers`` threads): the padding cropped (and for logits the resize back and the
   argmax), the prediction PNG written atomically, the overlay when asked for, the image's
   confusion matrix.

OpenCV's decoding, numpy and Pillow's PNG encoding release the GIL, so the stages use both cores
while the model runs.
"""
import os
import os.path as osp
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterable, Iterator, Optional, Tuple

import numpy as np

from fcn_voc_core.console import track
from fcn_voc_core.errors import InputError
from fcn_voc_core.imageio import (
    FileFormatError,
    decode_color,
    flat_palette,
    read_label_png,
    write_label_png,
)
from fcn_voc_core.metrics import confusion_matrix
from fcn_voc_core.visualize import overlay_image, save_rgb

from .preprocess import postprocess, preprocess

Signature = Tuple[int, int]  # (size in bytes, modification time in ns)


def file_signature(path: str) -> Signature:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


@dataclass
class Loaded:
    """One image after the read stage (``x`` None: its outputs were complete, with resume)."""
    stem: str
    image: np.ndarray
    gt: Optional[np.ndarray]
    x: Optional[np.ndarray] = None
    valid: Tuple[int, int] = (0, 0)
    done: Optional[np.ndarray] = None


def bounded_map(pool: ThreadPoolExecutor, fn: Callable, items: Iterable,
                ahead: int) -> Iterator:
    """``map(fn, items)`` on ``pool``, in order, with at most ``ahead`` calls submitted and not yet
    consumed (what bounds memory)."""
    pending: Deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class HostPipeline:
    """Predict and write a folder's images (see the module).

    Args:
        predictor: a :class:`~.predictor.Predictor` (its folder and model).
        out_dir: where predictions (and ``overlays/``) go.
        signatures: ``{image: (size, mtime)}`` recorded when the images were validated.
        resume: skip images whose outputs are complete.
        overlays: also write ``overlays/<id>.png`` (image and prediction; ground truth | prediction
            with labels).
        workers: threads of the read and of the write stage.
    """

    def __init__(self, predictor, out_dir: str, signatures: Dict[str, Signature],
                 resume: bool = False, overlays: bool = False, opacity: float = 0.6,
                 workers: int = 2):
        self.predictor, self.deploy = predictor, predictor.deploy
        self.out_dir, self.signatures = out_dir, signatures
        self.resume, self.overlays, self.opacity = resume, overlays, opacity
        self.workers = max(1, workers)
        self.palette = flat_palette(self.deploy.palette, ignore_index=self.deploy.ignore_index)
        self.uint8 = bool(getattr(predictor.model, 'takes_uint8', False))

    def run(self, pairs, description: str = '') -> Tuple[np.ndarray, int]:
        """``(summed confusion matrix, images predicted)`` over ``pairs`` of (image, label)."""
        n = self.deploy.num_classes
        hist, predicted = np.zeros((n, n), np.int64), 0
        ahead = 2 * self.workers + 2
        with ThreadPoolExecutor(self.workers) as readers, \
                ThreadPoolExecutor(self.workers) as writers:
            writes: Deque = deque()
            for item in track(bounded_map(readers, self.read, pairs, ahead), len(pairs),
                              description):
                if item.done is None:
                    out, predicted = self.predictor.model(item.x, item.valid), predicted + 1
                    writes.append(writers.submit(self.write, item, out))
                else:
                    writes.append(writers.submit(self.score, item, item.done))
                while len(writes) >= ahead:
                    hist += writes.popleft().result()
            while writes:
                hist += writes.popleft().result()
        return hist, predicted

    def read(self, pair) -> Loaded:
        path, label_file = pair
        if file_signature(path) != self.signatures.get(path):
            raise InputError(f'{path}: changed since it was checked; run again')
        image = decode_color(path)
        gt = None if label_file is None else read_label_png(
            label_file, self.deploy.num_classes, self.deploy.ignore_index)
        item = Loaded(osp.splitext(osp.basename(path))[0], image, gt)
        item.done = self.complete(item.stem, image.shape[:2]) if self.resume else None
        if item.done is None:
            item.x, item.valid = preprocess(image, self.deploy, self.uint8)
        return item

    def complete(self, stem: str, shape: Tuple[int, int]) -> Optional[np.ndarray]:
        """The prediction already written for ``stem`` if its outputs are complete (written
        atomically: present means whole), else None."""
        pred_file = osp.join(self.out_dir, f'{stem}.png')
        overlay = osp.join(self.out_dir, 'overlays', f'{stem}.png')
        if not osp.isfile(pred_file) or (self.overlays and not osp.isfile(overlay)):
            return None
        try:
            pred = read_label_png(pred_file)
        except FileFormatError:
            return None
        return pred if pred.shape == tuple(shape) else None

    def write(self, item: Loaded, out: np.ndarray) -> np.ndarray:
        pred = postprocess(out, item.valid, item.image.shape[:2])
        write_label_png(osp.join(self.out_dir, f'{item.stem}.png'), pred, self.palette,
                        compress_level=1)
        if self.overlays:
            save_rgb(osp.join(self.out_dir, 'overlays', f'{item.stem}.png'),
                     overlay_image(item.image, pred, self.deploy.palette, item.gt, self.opacity))
        return self.score(item, pred)

    def score(self, item: Loaded, pred: np.ndarray) -> np.ndarray:
        n = self.deploy.num_classes
        if item.gt is None:
            return np.zeros((n, n), np.int64)
        return confusion_matrix(item.gt, pred, n, self.deploy.ignore_index)
