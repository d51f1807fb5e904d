# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``FCNIoUMetric``: the FCN paper's four metrics from one int64 confusion matrix."""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import (broadcast_object_list, collect_results, get_rank, get_world_size,
                           is_main_process)
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub, MMLogger, print_log
from mmseg.registry import METRICS
from prettytable import PrettyTable

from .confusion_io import save_confusion_matrix
from .functional import SegmentationScores, confusion_matrix, scores_from_confusion


def _field(sample: Any, key: str) -> Optional[torch.Tensor]:
    """``sample[key]['data']`` for the dicts the Evaluator passes, or ``sample.key.data`` for a
    ``SegDataSample``; None when absent."""
    if isinstance(sample, dict):
        item = sample.get(key)
        return None if item is None else item['data']
    item = getattr(sample, key, None)
    return None if item is None else item.data


def _name(sample: Any) -> str:
    """The sample's image path for error messages."""
    path = sample.get('img_path') if isinstance(sample, dict) else getattr(sample, 'img_path', None)
    return str(path) if path else '<sample without img_path>'


@METRICS.register_module()
class FCNIoUMetric(BaseMetric):
    """Pixel accuracy, mean accuracy, mean IU and frequency-weighted IU, as scored in the FCN paper.

    Each image updates one int64 confusion matrix with a single ``bincount`` (pixels whose ground
    truth is ``ignore_index`` or outside the classes are ignored); the metrics are computed once
    from the matrix accumulated over the whole dataset (see
    :mod:`mmseg_fcn_voc.evaluation.functional` for the formulas and the NaN rules). The returned
    dict, in percent and not rounded, holds ``aAcc``, ``mAcc``, ``mIoU``, ``fwIoU`` and, for every
    class, ``IoU.<class>`` and ``Acc.<class>``, so the Runner logs all of them; a per-class table is
    printed.

    Memory does not grow with the dataset: each rank keeps one matrix (plus the last image's, see
    below) as the single entry of ``self.results``, and :meth:`evaluate` gathers and sums one matrix
    per rank. mmengine's ``DefaultSampler`` pads the dataset so every rank gets the same number of
    samples, which repeats up to one sample on some ranks (the last one each such rank processes);
    mmengine's ``collect_results`` drops those repeats by position, and so does this metric, with
    the same rank-interleaved ordering: the last image's matrix is kept apart until :meth:`evaluate`
    knows the dataset size.

    Args:
        num_classes (int, optional): number of classes; by default ``len(dataset_meta['classes'])``.
        ignore_index (int): ground-truth value to ignore. Defaults to 255.
        save_confusion_matrix (bool): write the matrix as ``.npy`` and ``.csv`` and a plotted
            ``.png`` at every evaluation: into ``output_dir`` if given, otherwise into the run's log
            directory (``work_dir/<timestamp>/``, beside the log file). Files are named
            ``confusion_matrix_iter<N>`` during training and ``confusion_matrix`` otherwise.
            Defaults to False.
        output_dir (str, optional): directory for those files; giving it implies
            ``save_confusion_matrix=True``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, as in ``BaseMetric``.
        prefix (str, optional): prefix of the metric names, as in ``BaseMetric``.
        collect_dir (str, optional): tmp dir for CPU collection, as in ``BaseMetric``.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 save_confusion_matrix: bool = False,
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if num_classes is not None and num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.output_dir = output_dir
        self.save_confusion_matrix = save_confusion_matrix or output_dir is not None

    # ----------------------------------------------------------------------------------------------
    # state
    # ----------------------------------------------------------------------------------------------
    @property
    def class_names(self) -> List[str]:
        """Class names from ``dataset_meta``, or ``class_<i>`` when there is none."""
        meta = self.dataset_meta or {}
        names = meta.get('classes')
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

    def _state(self) -> Dict[str, Any]:
        """This rank's running state, the single entry of ``self.results``."""
        if not self.results:
            n = self._resolve_num_classes()
            self.results.append(
                dict(hist=np.zeros((n, n), np.int64), last=None, count=0))
        return self.results[0]

    # ----------------------------------------------------------------------------------------------
    # BaseMetric interface
    # ----------------------------------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Add each sample's confusion matrix (``gt_sem_seg`` vs ``pred_sem_seg``).

        Raises:
            ValueError: a sample without ground truth, prediction/ground-truth shapes that differ or
                predictions outside the classes; the message names the sample's image.
        """
        state = self._state()
        n = state['hist'].shape[0]
        for sample in data_samples:
            pred = _field(sample, 'pred_sem_seg')
            gt = _field(sample, 'gt_sem_seg')
            if pred is None or gt is None:
                raise ValueError(f'{_name(sample)}: FCNIoUMetric needs both pred_sem_seg and '
                                 'gt_sem_seg in every data sample')
            pred = pred.squeeze()
            gt = gt.squeeze().to(pred.device)
            try:
                hist = confusion_matrix(gt, pred, n, self.ignore_index)
            except ValueError as e:
                raise ValueError(f'{_name(sample)}: {e}') from e
            if state['last'] is not None:
                state['hist'] += state['last']
            state['last'] = hist.cpu().numpy()
            state['count'] += 1

    def _local_confusion(self, size: int) -> np.ndarray:
        """This rank's matrix without the sampler's padded repeat (see the class docstring)."""
        state = self._state()
        hist = state['hist'].copy()
        if state['last'] is not None:
            position = get_rank() + (state['count'] - 1) * get_world_size()
            if position < size:
                hist += state['last']
        return hist

    def evaluate(self, size: int) -> dict:
        """Gather one matrix per rank, sum them and compute the metrics on the main process.

        Args:
            size (int): length of the whole evaluation dataset (to drop sampler padding).

        Returns:
            dict: the metrics (see :meth:`compute_metrics`), broadcast to every rank.
        """
        local = self._local_confusion(size)
        world_size = get_world_size()
        if self.collect_device == 'cpu':
            gathered = collect_results([local], world_size, 'cpu', tmpdir=self.collect_dir)
        else:
            gathered = collect_results([local], world_size, self.collect_device)
        if is_main_process():
            metrics = self.compute_metrics([np.asarray(h) for h in gathered])
            if self.prefix:
                metrics = {f'{self.prefix}/{k}': v for k, v in metrics.items()}
            output = [metrics]
        else:
            output = [None]
        broadcast_object_list(output)
        self.results.clear()
        return output[0]

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Sum the per-rank confusion matrices and compute the metrics.

        Args:
            results: confusion matrices (one per rank).

        Returns:
            ``aAcc``, ``mAcc``, ``mIoU``, ``fwIoU`` and per-class ``IoU.<class>``, ``Acc.<class>``,
            in percent, not rounded; NaN where the paper's scoring leaves a value undefined.
        """
        logger = MMLogger.get_current_instance()
        hist = np.sum(np.stack(results), axis=0, dtype=np.int64)
        if hist.sum() == 0:
            print_log('FCNIoUMetric: no labelled pixels were evaluated; every metric is NaN',
                      logger=logger, level=30)
        names = self.class_names
        scores = scores_from_confusion(hist)
        print_log('per class results:', logger=logger)
        print_log('\n' + self._class_table(hist, scores, names), logger=logger)
        metrics = scores.as_percent_dict(names)
        if self.save_confusion_matrix:
            self._save(hist, names, scores)
        return metrics

    # ----------------------------------------------------------------------------------------------
    # reporting
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _class_table(hist: np.ndarray, scores: SegmentationScores, names: Sequence[str]) -> str:
        """A per-class table (IoU, Acc, pixel counts) followed by the summary row."""
        table = PrettyTable()
        table.field_names = ['Class', 'IoU', 'Acc', 'GT pixels', 'Pred pixels']
        gt_total, pred_total = hist.sum(axis=1), hist.sum(axis=0)
        for i, name in enumerate(names):
            table.add_row([
                name, f'{100 * scores.class_iou[i]:.2f}', f'{100 * scores.class_accuracy[i]:.2f}',
                int(gt_total[i]), int(pred_total[i])
            ])
        summary = PrettyTable()
        summary.field_names = ['aAcc', 'mAcc', 'mIoU', 'fwIoU']
        summary.add_row([
            f'{100 * v:.2f}' for v in (scores.pixel_accuracy, scores.mean_accuracy,
                                       scores.mean_iou, scores.fw_iou)
        ])
        return table.get_string() + '\n' + summary.get_string()

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
