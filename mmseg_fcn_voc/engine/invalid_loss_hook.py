# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Stop training on a NaN/Inf loss before a checkpoint of the broken weights is written."""
import glob
import os.path as osp
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class InvalidLossError(RuntimeError):
    """The training loss became NaN or infinite."""


@HOOKS.register_module()
class InvalidLossGuardHook(Hook):
    """Raise :class:`InvalidLossError` as soon as the loss is not finite.

    It runs after every training iteration with ``NORMAL`` priority, i.e. before mmengine's
    ``CheckpointHook`` (``VERY_LOW``), so the iteration whose update produced NaN weights is never
    saved and the last checkpoint on disk is a good one to ``--resume`` from (after lowering the
    learning rate, for example). The message names the iteration, every non-finite loss term and
    that checkpoint.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1):
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        bad = {k: float(v) for k, v in outputs.items()
               if isinstance(v, torch.Tensor) and v.numel() == 1 and not torch.isfinite(v)}
        if not bad:
            return
        ckpts = sorted(glob.glob(osp.join(runner.work_dir, 'iter_*.pth')), key=osp.getmtime)
        last = ckpts[-1] if ckpts else 'none written yet'
        raise InvalidLossError(
            f'non-finite training loss at iteration {runner.iter + 1}: {bad}. Training stopped '
            f'before saving the corrupted weights; last checkpoint: {last}. Lower the learning '
            'rate or enable gradient clipping (optim_wrapper.clip_grad) and resume from it.')
