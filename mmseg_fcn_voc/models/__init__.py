# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .backbones import *  # noqa: F401,F403
from .decode_heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
