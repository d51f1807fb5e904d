# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The users' commands, one module each with ``main(argv=None) -> exit status``.

They are the console scripts of ``pyproject.toml`` (``fcn-to-mindspore``, ...) and the bodies of
the documented script paths (``converters/to_mindspore.py``, ``tools/dataset_converters/...``),
which only call ``main``. Exit statuses follow :mod:`fcn_voc_core.cli`.
"""
