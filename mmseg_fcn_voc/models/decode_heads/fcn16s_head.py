# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from mmseg.registry import MODELS

from .fcn_skip_head import FCNSkipHead


@MODELS.register_module()
class FCN16sHead(FCNSkipHead):
    """FCN-16s: fc7 scored and upsampled x2 (``upscore2``), plus ``score_pool4`` (Caffe crop 5),
    then ``upscore16`` (32x32, stride 16; Caffe crop 27).

    Two inputs fine to coarse, stride 16 and 32: ``in_channels=[512, 4096]``,
    ``in_index=[0, 1]``, ``input_transform='multiple_select'`` on ``FCNVGG(out_indices=(3, 5))``.
    Output (N, num_classes, H, W). See :class:`FCNSkipHead` for the arguments.
    """

    def __init__(self,
                 in_channels=(512, 4096),
                 channels=None,
                 in_index=(0, 1),
                 input_transform='multiple_select',
                 **kwargs):
        super().__init__(
            in_channels,
            channels,
            num_skips=1,
            in_index=in_index,
            input_transform=input_transform,
            **kwargs)
