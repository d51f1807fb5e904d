# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .bilinear_deconv_neck import BilinearDeconvNeck

__all__ = ['BilinearDeconvNeck']
