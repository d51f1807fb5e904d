# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from mmseg.registry import MODELS

from .fcn_skip_head import FCNSkipHead


@MODELS.register_module()
class FCN8sHead(FCNSkipHead):
    """FCN-8s: as FCN-16s, then the fused stride-16 score upsampled x2 (``upscore_pool4``) plus
    ``score_pool3`` (Caffe crop 9), then ``upscore8`` (16x16, stride 8; Caffe crop 31).

    Three inputs fine to coarse, strides 8, 16, 32: ``in_channels=[256, 512, 4096]``,
    ``in_index=[0, 1, 2]``, ``input_transform='multiple_select'`` on ``FCNVGG(out_indices=(2, 3, 5))``
    or ``[512, 1024, 2048]`` on ``ResNetV1c`` (``geometry='same'``). FCN-8s at-once:
    ``skip_scales=(0.01, 0.0001)``. Output (N, num_classes, H, W).
    See :class:`FCNSkipHead` for the arguments.
    """

    def __init__(self,
                 in_channels=(256, 512, 4096),
                 channels=None,
                 in_index=(0, 1, 2),
                 input_transform='multiple_select',
                 **kwargs):
        super().__init__(
            in_channels,
            channels,
            num_skips=2,
            in_index=in_index,
            input_transform=input_transform,
            **kwargs)
