# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from mmseg.registry import MODELS

from .fcn_skip_head import FCNSkipHead


@MODELS.register_module()
class FCN32sHead(FCNSkipHead):
    """FCN-32s: ``score_fr`` (``conv_seg``) on fc7, then ``upscore`` (64x64, stride 32).

    One input, e.g. ``in_channels=4096, in_index=-1`` on ``FCNVGG``'s fc7 (stride 32).
    Output (N, num_classes, H, W); Caffe geometry crops at offset 19.
    See :class:`FCNSkipHead` for the arguments.
    """

    def __init__(self, in_channels=4096, channels=None, **kwargs):
        super().__init__(in_channels, channels, num_skips=0, **kwargs)
