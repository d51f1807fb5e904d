# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The MindSpore backend: the pipeline's backend (:mod:`.backend`), the translation of a traced
network into cells (:mod:`.translate`, :mod:`.cells`), checked checkpoint and MINDIR I/O
(:mod:`.io`) and the importer of MindSpore checkpoints (:mod:`.importer`). The only place of the
torch side that imports MindSpore."""
