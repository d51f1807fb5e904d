# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .overlays import write_overlays

__all__ = ['write_overlays']
