# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .invalid_loss_hook import InvalidLossError, InvalidLossGuardHook

__all__ = ['InvalidLossError', 'InvalidLossGuardHook']
