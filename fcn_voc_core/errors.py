# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The error every tool reports as "bad input" (exit status 3, see :mod:`.cli`)."""


class InputError(ValueError):
    """A file or argument that cannot be used; the message names it and says what is wrong.

    The project's specific errors derive from it: ``FileFormatError`` (images, labels, split
    files), ``CheckpointError``, ``UnsupportedModelError``, ``KeyMapError``, ``DeployError``,
    the data-preparation errors.
    """
