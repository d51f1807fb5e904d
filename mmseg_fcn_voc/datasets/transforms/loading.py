# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``LoadSBDAnnotations``: train on SBD without converting its ``.mat`` labels to PNG."""
from typing import Optional

import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from ..voc_format import VOID_LABEL, read_sbd_mat


@TRANSFORMS.register_module()
class LoadSBDAnnotations(LoadAnnotations):
    """Load semantic segmentation labels from SBD ``cls/<id>.mat`` files.

    A drop-in replacement for mmseg's ``LoadAnnotations``: a ``seg_map_path`` ending in ``.mat`` is
    read as an SBD label (the ``GTcls.Segmentation`` uint8 map); any other path is handed to
    ``LoadAnnotations`` unchanged, so one pipeline serves a ``ConcatDataset`` of VOC PNG labels and
    SBD ``.mat`` labels. For ``.mat`` files the result is what ``LoadAnnotations`` gives for the
    same map stored as a PNG: ``reduce_zero_label`` and the dataset's ``label_map`` are applied the
    same way, ``results['gt_seg_map']`` is an ``(H, W)`` uint8 array and ``'gt_seg_map'`` is
    appended to ``results['seg_fields']``.

    Required keys: ``seg_map_path``, ``reduce_zero_label``, ``seg_fields``; optional ``label_map``.
    Added keys: ``gt_seg_map``.

    Args:
        reduce_zero_label (bool, optional): as in ``LoadAnnotations``; None takes the dataset's.
        backend_args (dict, optional): mmengine file backend arguments (local, petrel, http...).
        imdecode_backend (str): decoder for non-``.mat`` labels, as in ``LoadAnnotations``.
        num_classes (int, optional): if given, a ``.mat`` label holding values outside
            ``[0, num_classes)`` (other than ``ignore_index``) raises an error naming the file.
            Defaults to None (no value check, like ``LoadAnnotations``).
        ignore_index (int): the value accepted besides the classes by that check. Defaults to 255.

    Raises:
        fcn_voc_core.imageio.FileFormatError: an undecodable ``.mat`` file, one without a ``GTcls``
            struct or ``Segmentation`` field, or out-of-range values; the message names the file.
    """

    def __init__(self,
                 reduce_zero_label: Optional[bool] = None,
                 backend_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow',
                 num_classes: Optional[int] = None,
                 ignore_index: int = VOID_LABEL) -> None:
        super().__init__(
            reduce_zero_label=reduce_zero_label,
            backend_args=backend_args,
            imdecode_backend=imdecode_backend)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        """Load ``results['seg_map_path']`` into ``results['gt_seg_map']``."""
        path = results['seg_map_path']
        if not str(path).lower().endswith('.mat'):
            super()._load_seg_map(results)
            return
        raw = fileio.get(path, backend_args=self.backend_args)
        gt = read_sbd_mat(
            raw, name=path, num_classes=self.num_classes, ignore_index=self.ignore_index).copy()

        if self.reduce_zero_label is None:
            self.reduce_zero_label = results['reduce_zero_label']
        if self.reduce_zero_label != results['reduce_zero_label']:
            raise ValueError(
                f'{path}: the dataset was built with reduce_zero_label='
                f"{results['reduce_zero_label']} but LoadSBDAnnotations uses "
                f'reduce_zero_label={self.reduce_zero_label}')
        if self.reduce_zero_label:
            # 0 becomes ignored (255), every other class moves down by one; 255 stays 255.
            gt = np.where(gt == 0, 255, gt - 1).astype(np.uint8)
            gt[gt == 254] = 255
        label_map = results.get('label_map')
        if label_map is not None:
            source = gt.copy()  # map from the original values, so chains like 1->2, 2->3 stay exact
            for old_id, new_id in label_map.items():
                gt[source == old_id] = new_id
        results['gt_seg_map'] = gt
        results['seg_fields'].append('gt_seg_map')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(reduce_zero_label={self.reduce_zero_label}, '
                f"imdecode_backend='{self.imdecode_backend}', backend_args={self.backend_args}, "
                f'num_classes={self.num_classes}, ignore_index={self.ignore_index})')
