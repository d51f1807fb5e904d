# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .bilinear import BilinearConvTranspose2d, bilinear_kernel, bilinear_kernel_1d, fill_bilinear_
from .crop import crop_to
from .feature_maps import FeatureMaps, input_size_of
from .geometry import GEOMETRIES, check_geometry
from .small_map_conv import SmallMapConv2d
from .tracing import is_symbolic_tracing

__all__ = [
    'BilinearConvTranspose2d', 'bilinear_kernel', 'bilinear_kernel_1d', 'fill_bilinear_',
    'crop_to', 'FeatureMaps', 'input_size_of', 'GEOMETRIES', 'check_geometry',
    'SmallMapConv2d', 'is_symbolic_tracing'
]
