# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The libraries a host needs, and what to install when one is missing.

A host set up with one command (``pip install './runtime[onnxruntime]'``, see
``runtime/pyproject.toml``) has them all; a host that is not gets one line naming the missing
library and the command that installs it (exit status 3), never a traceback.
"""
import importlib
from typing import Iterable

from .errors import InputError

#: ``{module: what installs it}`` for every library the runtime may import.
INSTALL = {
    'numpy': "pip install ./runtime (numpy < 2)",
    'PIL': "pip install ./runtime (Pillow)",
    'cv2': "pip install ./runtime (opencv-python-headless==4.11.0.86, as the training stack's)",
    'onnxruntime': "pip install './runtime[onnxruntime]' (CPU) or './runtime[onnxruntime-cann]' "
                   '(Ascend, through CANN)',
    'mindspore': "pip install './runtime[mindspore]' (on Ascend: the MindSpore build of your "
                 'CANN version)',
    'ais_bench': "ais_bench from CANN's msit tools (the aclruntime and ais_bench wheels built for "
                 'your CANN; not on the package registry): see docs/deploy_ascend.md',
}
#: What every run of the runtime imports.
BASE_MODULES = ('numpy', 'PIL', 'cv2')


class MissingDependencyError(InputError):
    """A library the command needs is not installed on this host (exit status 3)."""


def require(module: str, purpose: str = ''):
    """Import ``module``, or refuse naming it and what installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        hint = INSTALL.get(module.split('.')[0], f'pip install {module}')
        raise MissingDependencyError(
            f'{module}{f" ({purpose})" if purpose else ""} is not installed on this host '
            f'({type(e).__name__}: {e}); install it: {hint}') from None


def require_all(modules: Iterable[str] = BASE_MODULES) -> None:
    """:func:`require` each of ``modules``."""
    for module in modules:
        require(module)
