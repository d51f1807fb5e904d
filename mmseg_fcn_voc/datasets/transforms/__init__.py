# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Data transforms registered in mmseg's ``TRANSFORMS``."""
from .loading import LoadSBDAnnotations

__all__ = ['LoadSBDAnnotations']
