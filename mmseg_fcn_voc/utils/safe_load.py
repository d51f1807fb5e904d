# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Load mmengine checkpoints under ``torch.load(weights_only=True)``.

torch >= 2.6 unpickles checkpoints with ``weights_only=True``: only tensors, containers and
allow-listed globals. mmengine 0.10.7 calls ``torch.load`` without the argument, and the checkpoints
its Runner saves hold a ``message_hub`` with ``HistoryBuffer`` objects whose logs are numpy arrays
and scalars, so ``--resume``, ``load_from`` and ``mim test`` fail with ``UnpicklingError``.

Setting ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` would make them work by letting *any* file run code
when loaded. Instead this module adds to torch's allow-list exactly the globals such a checkpoint
needs, under the names numpy 1.x and numpy 2.x write them, and nothing callable beyond numpy's array
and scalar reconstructors (which build arrays from bytes and run no user code).

A ``HistoryBuffer`` pickles its statistics methods as ``builtins.getattr(buffer, 'mean')``.
Allow-listing the real ``getattr`` would let a file fetch any attribute of anything it has built;
instead ``builtins.getattr`` resolves to :func:`history_buffer_getattr`, which only returns the
registered statistics methods of a ``HistoryBuffer`` and refuses everything else. Everything else a
pickle may name (``os.system``, ``builtins.eval``, arbitrary classes) is still refused.
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_registered = False
# The statistics HistoryBuffer registers for itself (on first instantiation).
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _numpy_aliases(obj, *qualnames):
    """``(obj, name)`` pairs so that the pickled name from either numpy generation resolves."""
    return [(obj, name) for name in qualnames]


def history_buffer_getattr(obj, name):
    """``getattr`` restricted to the statistics methods of ``HistoryBuffer`` (min, max, ...).

    ``_statistics_methods`` maps names to ``HistoryBuffer.min`` etc., which pickle as
    ``getattr(HistoryBuffer, 'min')``.
    """
    if obj is HistoryBuffer and isinstance(name, str) \
            and (name in _BUILTIN_STATISTICS or name in HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refused builtins.getattr({obj!r:.60}, {name!r:.60}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods may be fetched')


def checkpoint_safe_globals() -> list:
    """The allow-list entries for mmengine checkpoints, as ``add_safe_globals`` takes them."""
    multiarray = np.core.multiarray if hasattr(np, 'core') else np._core.multiarray
    entries = [(HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
               (history_buffer_getattr, 'builtins.getattr')]
    entries += _numpy_aliases(multiarray._reconstruct, 'numpy.core.multiarray._reconstruct',
                              'numpy._core.multiarray._reconstruct')
    entries += _numpy_aliases(multiarray.scalar, 'numpy.core.multiarray.scalar',
                              'numpy._core.multiarray.scalar')
    entries += [(np.ndarray, 'numpy.ndarray'), (np.dtype, 'numpy.dtype')]
    # numpy >= 1.25 pickles a dtype as its class in ``numpy.dtypes`` (numpy 2 always does).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            cls = getattr(dtypes, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                entries.append((cls, f'numpy.dtypes.{name}'))
    return entries


def register_checkpoint_safe_globals() -> None:
    """Allow-list (once per process) what mmengine checkpoints need under ``weights_only=True``."""
    global _registered
    if _registered:
        return
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _registered = True
