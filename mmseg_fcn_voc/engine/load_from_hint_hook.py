# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Say which training stage to run first when a staged recipe's ``load_from`` is missing."""
import os.path as osp

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class LoadFromHintHook(Hook):
    """Fail before training with a hint when ``load_from`` names a file that does not exist.

    The paper's FCN-16s and FCN-8s recipes start from the previous stage's checkpoint; without
    this hook a missing one is mmengine's bare ``FileNotFoundError``. Runs in ``before_run``,
    which precedes mmengine's weight initialisation and ``load_from``. Resumed runs are not
    checked (they load their own checkpoint).

    Args:
        hint (str): what to run to make the file, e.g. the previous stage's ``mim train``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, hint: str):
        self.hint = hint

    def before_run(self, runner) -> None:
        load_from = getattr(runner, '_load_from', None)
        if getattr(runner, '_resume', False) or not load_from or '://' in str(load_from):
            return
        if not osp.isfile(load_from):
            raise FileNotFoundError(f'{load_from}: load_from does not exist. {self.hint} '
                                    '(or point --cfg-options load_from=... at its checkpoint)')
