# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""PASCAL VOC 2012 + SBD in mmseg's layout, by concern: the layout and official counts
(:mod:`.layout`), the sources (:mod:`.sources`, :mod:`.download`), placing files
(:mod:`.placement`), the split lists (:mod:`.splits`), validation (:mod:`.check`) and the steps
that put them together (:mod:`.pipeline`)."""
from .errors import DataPreparationError
from .pipeline import PrepareOptions, PrepareResult, prepare_voc

__all__ = ['DataPreparationError', 'PrepareOptions', 'PrepareResult', 'prepare_voc']
