# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .bilinear import (BilinearConvTranspose2d, bilinear_kernel, bilinear_kernel_1d,
                       fill_bilinear_)
from .crop import crop_to
from .geometry import GEOMETRIES, check_geometry

__all__ = [
    'BilinearConvTranspose2d', 'bilinear_kernel', 'bilinear_kernel_1d', 'fill_bilinear_',
    'crop_to', 'GEOMETRIES', 'check_geometry'
]
