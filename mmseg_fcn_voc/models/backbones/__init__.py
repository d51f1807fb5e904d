# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .fcn_vgg import FCNVGG

__all__ = ['FCNVGG']
