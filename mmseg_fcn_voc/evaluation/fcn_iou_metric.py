# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``FCNIoUMetric``: the FCN paper's four metrics from one int64 confusion matrix."""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub, MMLogger, print_log
from mmseg.registry import METRICS

from fcn_voc_core.confusion import save_confusion_matrix
from fcn_voc_core.imageio import flat_palette, write_label_png
from fcn_voc_core.metrics import (
    SegmentationScores,
    class_table,
    confusion_matrix,
    scores_from_confusion,
)


def _field(sample: Any, key: str):
    """``sample[key]['data']`` for the dicts the Evaluator passes, or ``sample.key.data`` for a
    ``SegDataSample``; None when absent."""
    if isinstance(sample, dict):
        item = sample.get(key)
        return None if item is None else item['data']
    item = getattr(sample, key, None)
    return None if item is None else item.data


def _img_path(sample: Any) -> Optional[str]:
    """The sample's ``img_path`` (dict or ``SegDataSample``), None when absent."""
    path = sample.get('img_path') if isinstance(sample, dict) else getattr(sample, 'img_path', None)
    return str(path) if path else None


def _name(sample: Any) -> str:
    """The sample's image path for error messages."""
    return _img_path(sample) or '<sample without img_path>'


@METRICS.register_module()
class FCNIoUMetric(BaseMetric):
    """Pixel accuracy, mean accuracy, mean IU and frequency-weighted IU, as scored in the FCN paper.

    :meth:`process` turns each image into its int64 confusion matrix (one ``bincount``; pixels whose
    ground truth is ``ignore_index`` or outside the classes are ignored) and appends it to
    ``self.results``; ``BaseMetric.evaluate`` gathers the per-image matrices of every rank and
    drops the sampler's padded repeats (mmengine's ``collect_results``); :meth:`compute_metrics`
    sums them into one matrix for the whole dataset and computes the metrics once (formulas and NaN
    rules: :mod:`fcn_voc_core.metrics`, the implementation the deployment runtime uses too).
    A matrix is ``num_classes ** 2`` int64 values (3.5 kB for VOC), so a whole VOC val set
    holds 5 MB.

    The returned dict, in percent and not rounded, holds ``aAcc``, ``mAcc``, ``mIoU``, ``fwIoU`` and,
    for every class, ``IoU.<class>`` and ``Acc.<class>``, so the Runner logs all of them; a
    per-class table is printed.

    Args:
        num_classes (int, optional): number of classes; by default ``len(dataset_meta['classes'])``.
        ignore_index (int): ground-truth value to ignore. Defaults to 255.
        save_confusion_matrix (bool): write the summed matrix as ``.npy`` and ``.csv`` and a
            picture ``.png`` at every evaluation: into ``output_dir`` if given, otherwise into the
            run's log directory (``work_dir/<timestamp>/``, beside the log file). Files are named
            ``confusion_matrix_iter<N>`` during training and ``confusion_matrix`` otherwise.
            Defaults to False.
        output_dir (str, optional): directory for those files; giving it implies
            ``save_confusion_matrix=True``. With ``format_only``, the directory of the predictions.
        format_only (bool): only write each prediction as ``<output_dir>/<image name>.png``, a
            palette PNG of class indices in the dataset's palette (what the PASCAL VOC evaluation
            server takes: ``results/VOC2012/Segmentation/comp6_test_cls/``), and compute no
            metrics; ground truth is then not needed (the VOC test split has none). Needs
            ``output_dir``. Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``, as in ``BaseMetric``.
        prefix (str, optional): prefix of the metric names, as in ``BaseMetric``.
        collect_dir (str, optional): tmp dir for CPU collection, as in ``BaseMetric``.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 save_confusion_matrix: bool = False,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if num_classes is not None and num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        if format_only and not output_dir:
            raise ValueError('FCNIoUMetric(format_only=True) needs output_dir, the folder for '
                             'the predicted PNGs')
        self.output_dir = output_dir
        self.format_only = format_only
        self.save_confusion_matrix = not format_only and (save_confusion_matrix
                                                          or output_dir is not None)

    @property
    def class_names(self) -> List[str]:
        """Class names from ``dataset_meta``, or ``class_<i>`` when there is none."""
        names = (self.dataset_meta or {}).get('classes')
        n = self._resolve_num_classes()
        if names is None:
            return [f'class_{i}' for i in range(n)]
        if len(names) != n:
            raise ValueError(f'FCNIoUMetric: num_classes={n} but dataset_meta lists '
                             f'{len(names)} classes')
        return list(names)

    def _resolve_num_classes(self) -> int:
        if self.num_classes is not None:
            return self.num_classes
        meta = self.dataset_meta or {}
        if 'classes' not in meta:
            raise ValueError('FCNIoUMetric needs num_classes or dataset_meta["classes"]')
        return len(meta['classes'])

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append each sample's confusion matrix (``gt_sem_seg`` vs ``pred_sem_seg``).

        Raises:
            ValueError: a sample without ground truth, prediction/ground-truth shapes that differ or
                predictions outside the classes; the message names the sample's image.
        """
        n = self._resolve_num_classes()
        if self.format_only:
            for sample in data_samples:
                self.results.append(self._write_prediction(sample, n))
            return
        for sample in data_samples:
            pred = _field(sample, 'pred_sem_seg')
            gt = _field(sample, 'gt_sem_seg')
            if pred is None or gt is None:
                raise ValueError(f'{_name(sample)}: FCNIoUMetric needs both pred_sem_seg and '
                                 'gt_sem_seg in every data sample')
            try:
                hist = confusion_matrix(gt.squeeze().cpu().numpy(), pred.squeeze().cpu().numpy(),
                                        n, self.ignore_index)
            except ValueError as e:
                raise ValueError(f'{_name(sample)}: {e}') from e
            self.results.append(hist)

    def _write_prediction(self, sample: Any, num_classes: int) -> str:
        """Write one sample's prediction as a palette PNG (``format_only``); returns its path."""
        pred = _field(sample, 'pred_sem_seg')
        path = _img_path(sample)
        if pred is None or path is None:
            raise ValueError(f'{_name(sample)}: FCNIoUMetric(format_only=True) needs '
                             'pred_sem_seg and img_path in every data sample')
        pred = pred.squeeze().cpu().numpy()
        if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
            raise ValueError(f'{path}: predicted classes must be in [0, {num_classes}), got '
                             f'{pred.min()}..{pred.max()}')
        palette = (self.dataset_meta or {}).get('palette')
        colours = palette if palette is not None else [(0, 0, 0)] * num_classes
        out = osp.join(self.output_dir, osp.splitext(osp.basename(path))[0] + '.png')
        write_label_png(out, pred.astype(np.uint8),
                        flat_palette(colours, ignore_index=self.ignore_index))
        return out

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Sum the per-image confusion matrices and compute the metrics.

        Args:
            results: ``(n, n)`` confusion matrices, one per image (``self.results`` on one
                process, or gathered from every rank by ``BaseMetric.evaluate``); with
                ``format_only``, the written PNG paths.

        Returns:
            ``aAcc``, ``mAcc``, ``mIoU``, ``fwIoU`` and per-class ``IoU.<class>``, ``Acc.<class>``,
            in percent, not rounded; NaN where the paper's scoring leaves a value undefined.
            Empty with ``format_only``.
        """
        logger = MMLogger.get_current_instance()
        if self.format_only:
            print_log(f'FCNIoUMetric(format_only=True): {len(results)} predictions written to '
                      f'{self.output_dir}; no metrics computed', logger=logger)
            return {}
        n = self._resolve_num_classes()
        hist = np.zeros((n, n), np.int64)
        for h in results:
            hist += np.asarray(h, dtype=np.int64)
        if hist.sum() == 0:
            print_log('FCNIoUMetric: no labelled pixels were evaluated; every metric is NaN',
                      logger=logger, level=30)
        names = self.class_names
        scores = scores_from_confusion(hist)
        print_log('per class results:', logger=logger)
        print_log('\n' + class_table(hist, scores, names), logger=logger)
        if self.save_confusion_matrix:
            self._save(hist, names, scores)
        return scores.as_percent_dict(names)

    def _save(self, hist: np.ndarray, names: Sequence[str], scores: SegmentationScores) -> None:
        """Write the confusion matrix files (see ``save_confusion_matrix``)."""
        logger = MMLogger.get_current_instance()
        out_dir = self.output_dir
        if out_dir is None:
            log_file = getattr(logger, 'log_file', None)
            if not log_file:
                raise ValueError('FCNIoUMetric(save_confusion_matrix=True) needs output_dir when '
                                 'no Runner log file tells the work dir')
            out_dir = osp.dirname(osp.abspath(log_file))
        stem = 'confusion_matrix'
        hub = MessageHub.get_current_instance()
        # RuntimeInfoHook records 'iter' (index of the last training iteration) once training
        # starts; a standalone val/test run has none.
        if hub.get_info('loop_stage') != 'test' and hub.get_info('iter') is not None:
            stem += f"_iter{int(hub.get_info('iter')) + 1}"
        title = (f'{stem}: rows normalised; aAcc {100 * scores.pixel_accuracy:.2f}, '
                 f'mIoU {100 * scores.mean_iou:.2f}')
        paths = save_confusion_matrix(hist, names, out_dir, stem=stem, title=title)
        print_log(f"confusion matrix saved to {paths['npy']}, {paths['csv']}, {paths['png']}",
                  logger=logger)
