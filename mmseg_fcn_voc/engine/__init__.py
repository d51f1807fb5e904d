# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .invalid_loss_hook import InvalidLossError, InvalidLossGuardHook
from .load_from_hint_hook import LoadFromHintHook

__all__ = ['InvalidLossError', 'InvalidLossGuardHook', 'LoadFromHintHook']
