# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The MindSpore backend: cells (:mod:`.layers`, :mod:`.fcn`, :mod:`.tutorial`), checked
checkpoint and MINDIR I/O (:mod:`.io`), the exporter (:mod:`.export`) and the importer of MindSpore
checkpoints (:mod:`.load`). The only place of the torch side that imports MindSpore."""
