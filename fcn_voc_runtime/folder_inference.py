# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Run a deployed model over a folder of images and score it (``python -m fcn_voc_runtime``).

Writes, for images ``<id>.<ext>``:

* ``OUT/<id>.png``: the predicted classes as a palette PNG (the dataset's colours);
* with ``overlays``, ``OUT/overlays/<id>.png``: the image with the prediction (ground truth |
  prediction with labels);
* ``OUT/run.json``: what ran (backend, device, precision, the model's sha256, the shard and its
  image names);
* with labels (``LABELS/<id>.png``, VOC palette PNGs): ``OUT/metrics.json`` (``aAcc``, ``mAcc``,
  ``mIoU``, ``fwIoU``, per-class ``IoU.<class>`` / ``Acc.<class>``: the keys and formulas of
  ``FCNIoUMetric``, from :mod:`fcn_voc_core.metrics`), ``OUT/confusion_matrix.{npy,csv,png}`` and
  a printed per-class table.

:class:`FolderInference` runs it as named steps, each saying what it did: :meth:`~FolderInference.
load`, :meth:`~FolderInference.collect` (sorted images, this shard's slice), :meth:`~FolderInference.
validate` (every image decodes, every label exists with its image's size and valid values: all
problems listed at once, before anything is written), :meth:`~FolderInference.predict` (the
overlapped host pipeline of :mod:`.host_pipeline`; skipping, with ``resume``, images whose outputs
are complete; every file is written atomically) and
:meth:`~FolderInference.score`. :func:`merge_shards` sums the confusion matrices of shards that
scored disjoint slices of one image list into the metrics of a single run.
"""
import json
import logging
import os
import os.path as osp
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from fcn_voc_core.confusion import save_confusion_matrix
from fcn_voc_core.console import track
from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import list_images, write_json
from fcn_voc_core.imageio import pair_problems, read_label_png
from fcn_voc_core.metrics import class_table, scores_from_confusion
from fcn_voc_core.output_guard import check_outputs_apart, numbered

from .choices import CONFUSION_STEM, METRICS_FILE, RUN_FILE
from .geared_model import pick_gear
from .host_pipeline import HostPipeline, bounded_map, file_signature
from .predictor import Predictor
from .preprocess import input_sizes

logger = logging.getLogger(__name__)
Pair = Tuple[str, Optional[str]]


def label_path_for(image: str, labels_dir: str) -> str:
    return osp.join(labels_dir, osp.splitext(osp.basename(image))[0] + '.png')


def parse_shard(text: str) -> Tuple[int, int]:
    """``'I/N'`` -> ``(I, N)`` with ``0 <= I < N``."""
    try:
        index, count = (int(v) for v in text.split('/'))
    except ValueError:
        raise InputError(f'--shard {text!r}: expected I/N, e.g. 0/4') from None
    if count < 1 or not 0 <= index < count:
        raise InputError(f'--shard {text!r}: I must be 0..N-1 and N at least 1')
    return index, count


def shard_slice(items: Sequence, index: int, count: int) -> List:
    """Shard ``index`` of ``count``: a contiguous slice of ``items``; the shards partition it."""
    n = len(items)
    return list(items[n * index // count:n * (index + 1) // count])


@dataclass
class InferenceOptions:
    """What :class:`FolderInference` is asked to do (the command line's options, as one object).

    Attributes:
        deploy_dir: the folder the converters wrote (``deploy.json`` and the model file).
        images: an image folder, or one image.
        out_dir: where predictions, overlays and the reports go.
        labels: label PNGs named like the images; given, the model is scored.
        backend: ``'mindspore'`` or ``'onnxruntime'``; None: the folder's.
        device_target: ``'CPU'``, ``'GPU'`` or ``'Ascend'``.
        device_id: which device of that kind (one process per NPU scores one shard).
        max_images: the first N images (sorted by name) only.
        shard: ``(I, N)``: score slice I of N of the sorted image list.
        resume: skip images whose prediction (and overlay) are already complete in ``out_dir``.
        overlays: also write ``overlays/<id>.png``.
        opacity: overlay colour opacity.
        workers: threads of the host pipeline's read and write stages.
    """
    deploy_dir: str
    images: str
    out_dir: str
    labels: Optional[str] = None
    backend: Optional[str] = None
    device_target: str = 'CPU'
    device_id: int = 0
    max_images: Optional[int] = None
    shard: Optional[Tuple[int, int]] = None
    resume: bool = False
    overlays: bool = False
    opacity: float = 0.6
    workers: int = 2


def fit_problems(path: str, size: Tuple[int, int], deploy) -> List[str]:
    """Why a ``size`` (H, W) image cannot run on a static model or on any gear ([] if it can)."""
    (h, w), (padded_h, padded_w) = input_sizes(*size, deploy)
    if deploy.gears:
        if pick_gear([g for g, _ in deploy.gears], padded_h, padded_w) is None:
            gears = ', '.join(f'{a}x{b}' for (a, b), _ in deploy.gears)
            return [f'{path}: {size[0]}x{size[1]} (network input {padded_h}x{padded_w}) is '
                    f'larger than every gear of the model ({gears})']
    elif padded_h < h or padded_w < w:
        return [f'{path}: {size[0]}x{size[1]} does not fit the static model input '
                f'{padded_h}x{padded_w}']
    return []


class FolderInference:
    """Predict (and score) a folder with a deployed model; :meth:`run` runs the steps in order."""

    def __init__(self, options: InferenceOptions):
        self.options = options
        #: ``{image: (size, mtime)}`` when validated: the pipeline refuses a file changed since
        self.signatures: Dict = {}

    def load(self) -> Predictor:
        """Read and check the deploy folder and load the model on the device asked for."""
        o = self.options
        predictor = Predictor(o.deploy_dir, o.backend, o.device_target, o.device_id)
        for note in predictor.model.notes:
            logger.info(note)
        deploy = predictor.deploy
        loaded = (f'{len(deploy.gears)} gear models of {deploy.folder}' if deploy.gears
                  else deploy.model_file)
        logger.info(f'loaded {loaded}: {predictor.model.backend} on '
                 f'{predictor.model.device}, {predictor.model.precision}')
        return predictor

    def collect(self) -> List[Pair]:
        """The (image, label or None) pairs, sorted by name: the first ``max_images``, then this
        shard's slice. Names that differ only in their extension are refused (both listed)."""
        o = self.options
        files = list_images(o.images)[:o.max_images]
        if o.shard is not None:
            files = shard_slice(files, *o.shard)
        if o.labels is not None and not osp.isdir(o.labels):
            raise InputError(f'{o.labels}: no such label folder')
        pairs = [(f, None if o.labels is None else label_path_for(f, o.labels)) for f in files]
        logger.info(f'{len(pairs)} image(s) from {o.images}'
                 + (f' (shard {o.shard[0]}/{o.shard[1]})' if o.shard else '')
                 + (f', labels from {o.labels}' if o.labels else ''))
        return pairs

    def validate(self, predictor: Predictor, pairs: List[Pair]) -> None:
        """Decode every image and label and check them, before anything is written.

        Raises:
            InputError: listing every problem (undecodable images, missing labels, labels of
                another size or with values outside the classes, images below the network's
                minimum size).
        """
        deploy, problems = predictor.deploy, []

        def read_label(path):
            return read_label_png(path, deploy.num_classes, deploy.ignore_index)

        def check(pair):
            path, label_file = pair
            found = []
            if label_file is not None and not osp.isfile(label_file):
                found.append(f'{label_file}: no label for {path}')
                label_file = None
            signature = file_signature(path) if osp.isfile(path) else None
            decoded, size = pair_problems(path, label_file, read_label)
            found += decoded
            if size is not None and min(size) < deploy.min_size:
                found.append(f'{path}: {size[0]}x{size[1]} is smaller than the '
                             f"network's minimum input {deploy.min_size}")
            elif size is not None:
                found += fit_problems(path, size, deploy)
            return path, signature, found

        with ThreadPoolExecutor(max(1, self.options.workers)) as pool:
            for path, signature, found in track(
                    bounded_map(pool, check, pairs, 2 * self.options.workers + 2), len(pairs),
                    'checking inputs'):
                self.signatures[path] = signature
                problems += found
        if problems:
            raise InputError(f'{len(problems)} problem(s) in the inputs; nothing was written:\n  '
                             + '\n  '.join(problems))
        logger.info(f'{len(pairs)} image(s){" and labels" if self.options.labels else ""} checked')

    def predict(self, predictor: Predictor, pairs: List[Pair]) -> Tuple[np.ndarray, int]:
        """Predict every image and write its prediction (and overlay) through the overlapped host
        pipeline (:mod:`.host_pipeline`); return the summed ``(K, K)`` confusion matrix over the
        labelled pixels (zeros without labels) and how many images were predicted (the others
        were complete already, with ``resume``)."""
        o = self.options
        pipeline = HostPipeline(predictor, o.out_dir, self.signatures, o.resume, o.overlays,
                                o.opacity, o.workers)
        hist, predicted = pipeline.run(pairs, f'{predictor.model.backend} {o.device_target}')
        logger.info(f'wrote {predicted} prediction(s){" and overlay(s)" if o.overlays else ""} '
                    f'to {o.out_dir}'
                    + (f'; {len(pairs) - predicted} were complete already' if o.resume else ''))
        return hist, predicted

    def score(self, predictor: Predictor, hist: np.ndarray, images: int) -> Dict:
        """The four metrics (and per class) of ``hist``: ``metrics.json``, the confusion-matrix
        files and the per-class table."""
        model = predictor.model
        return write_scores(hist, predictor.deploy.classes, self.options.out_dir, images,
                            dict(backend=model.backend, device_target=model.device,
                                 precision=model.precision))

    def write_run(self, predictor: Predictor, pairs: List[Pair]) -> str:
        """``run.json``: what ran on which images (what :func:`merge_shards` checks)."""
        o, model = self.options, predictor.model
        return write_json(osp.join(o.out_dir, RUN_FILE), {
            'backend': model.backend, 'device_target': model.device, 'device_id': o.device_id,
            'precision': model.precision, 'model_sha256': predictor.deploy.raw.get(
                'model', {}).get('sha256'), 'classes': predictor.deploy.classes,
            'shard': list(o.shard) if o.shard else [0, 1], 'labelled': o.labels is not None,
            'images': [osp.basename(p) for p, _ in pairs]})

    def run(self) -> Dict:
        """load -> collect -> validate -> predict -> score (with labels).

        Returns:
            ``{'images', 'predicted', 'seconds', 'images_per_second', 'backend', 'device',
            'precision', 'metrics': {...} or None}``.

        Raises:
            InputError: naming the file(s), before any output is written: an incomplete or
                mismatched deploy folder, images whose names clash, unreadable images, missing,
                unreadable or mis-sized labels.
        """
        o = self.options
        check_outputs_apart({'--out-dir': o.out_dir},
                            {'DIR': o.deploy_dir, 'IMAGES': o.images, '--labels': o.labels})
        predictor = self.load()
        pairs = self.collect()
        self.validate(predictor, pairs)
        os.makedirs(self.options.out_dir, exist_ok=True)
        start = time.perf_counter()
        hist, predicted = self.predict(predictor, pairs)
        seconds = time.perf_counter() - start
        self.write_run(predictor, pairs)
        metrics = self.score(predictor, hist, len(pairs)) if self.options.labels else None
        rate = predicted / seconds if seconds and predicted else float('nan')
        logger.info(f'{predicted} image(s) predicted in {seconds:.1f} s ({rate:.2f} images/s)')
        return {'images': len(pairs), 'predicted': predicted, 'seconds': seconds,
                'images_per_second': rate, 'backend': predictor.model.backend,
                'device': predictor.model.device, 'precision': predictor.model.precision,
                'metrics': metrics}


def write_scores(hist: np.ndarray, classes: Sequence[str], out_dir: str, images: int,
                 ran: Dict) -> Dict:
    """``metrics.json`` (the four metrics, per class, and ``ran``: backend, device, precision),
    ``confusion_matrix.{npy,csv,png}`` and the printed per-class table for ``hist``."""
    scores = scores_from_confusion(hist)
    metrics = scores.as_percent_dict(list(classes))
    logger.info('per class results:\n' + class_table(hist, scores, list(classes)))
    paths = save_confusion_matrix(hist, list(classes), out_dir, stem=CONFUSION_STEM, title=(
        f'{ran["backend"]}: rows normalised; aAcc {metrics["aAcc"]:.2f}, '
        f'mIoU {metrics["mIoU"]:.2f}'))
    path = write_json(osp.join(out_dir, METRICS_FILE), {
        **metrics, 'labelled_pixels': int(hist.sum()), 'images': images, **ran,
        'confusion_matrix': osp.basename(paths['npy'])})  # beside metrics.json
    logger.info(f'wrote {path} and the confusion matrix ({paths["png"]})')
    return metrics


def merge_shards(shard_dirs: Sequence[str], out_dir: str) -> Dict:
    """Sum the confusion matrices of the shards of one scoring run into the metrics of a single
    run over all their images (``metrics.json`` equal to it, key for key).

    Raises:
        InputError: naming the folder: not a labelled shard output, shards of another model,
            classes or device, a shard missing or given twice, images scored twice.
    """
    check_outputs_apart({'--out-dir': out_dir}, numbered('SHARD_OUT', shard_dirs))
    runs, hist, images = [], None, set()
    for folder in shard_dirs:
        path = osp.join(folder, RUN_FILE)
        if not osp.isfile(path):
            raise InputError(f'{folder}: no {RUN_FILE}; not an output folder of infer_deployed.py')
        with open(path, encoding='utf-8') as f:
            run = json.load(f)
        matrix = osp.join(folder, f'{CONFUSION_STEM}.npy')
        if not run.get('labelled') or not osp.isfile(matrix):
            raise InputError(f'{folder}: this shard was not scored (run it with --labels)')
        first = runs[0][1] if runs else run
        for key in ('model_sha256', 'classes', 'backend', 'device_target', 'precision'):
            if run.get(key) != first.get(key):
                raise InputError(f'{folder}: {key} {run.get(key)!r} differs from '
                                 f'{runs[0][0]}\'s {first.get(key)!r}; shards must score one '
                                 'model the same way')
        twice = images & set(run['images'])
        if twice:
            raise InputError(f'{folder}: images scored by another shard too, e.g. '
                             f'{sorted(twice)[0]}')
        images |= set(run['images'])
        counts = np.load(matrix)
        hist = counts.astype(np.int64) if hist is None else hist + counts
        runs.append((folder, run))
    if not runs:
        raise InputError('--merge needs at least one shard output folder')
    indices = sorted(tuple(r['shard']) for _, r in runs)
    count = indices[0][1]
    if indices != [(i, count) for i in range(count)]:
        raise InputError(f'shards {[f"{i}/{n}" for i, n in indices]} do not cover 0..{count - 1}'
                         f'/{count} exactly once')
    first = runs[0][1]
    metrics = write_scores(hist, first['classes'], out_dir, len(images),
                           {k: first[k] for k in ('backend', 'device_target', 'precision')})
    logger.info(f'merged {len(runs)} shard(s), {len(images)} image(s)')
    return metrics


__all__ = ['InferenceOptions', 'FolderInference', 'infer_folder', 'merge_shards',
           'label_path_for', 'parse_shard', 'shard_slice', 'write_scores']


def infer_folder(options: InferenceOptions) -> Dict:
    """:meth:`FolderInference.run` for ``options``."""
    return FolderInference(options).run()
