# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
from .overlays import list_images, write_overlays

__all__ = ['list_images', 'write_overlays']
