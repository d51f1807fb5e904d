# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .fcn8s_head import FCN8sHead
from .fcn16s_head import FCN16sHead
from .fcn32s_head import FCN32sHead
from .fcn_skip_head import FCNSkipHead

__all__ = ['FCNSkipHead', 'FCN32sHead', 'FCN16sHead', 'FCN8sHead']
