# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore checkpoint and MINDIR I/O with the checks MindSpore itself does not make.

``load_param_into_net`` only *warns* about parameters it did not load, so a port that forgot a layer
would run with initial weights. :func:`load_params_exact` refuses that: both of its returned lists
must be empty, the names and shapes must match, and every parameter must afterwards hold exactly the
values given.
"""
import contextlib
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import mindspore as ms
import numpy as np
from mindspore import nn

from fcn_voc_core.fileio import atomic_output, write_sha256_sidecar
from fcn_voc_runtime.backends.mindspore import configure_cpu  # noqa: F401  (re-exported)

from ..checkpoint import CheckpointError, verify_checkpoint_file
from ..network.layouts import compare_keys, format_keys, key_mismatch

#: Entries of training checkpoints that are optimizer / loop state, not network weights: MindSpore's
#: optimizers prefix their per-parameter slots (``moments.conv1.0.weight``), and the scalars below
#: are what ``Model.train`` / ``ModelCheckpoint`` append.
OPTIMIZER_PREFIXES = ('moments.', 'moment1.', 'moment2.', 'accum.', 'linear.', 'velocity.',
                      'mean_grad.', 'mean_square.', 'vhat.', 'learning_rate.')
OPTIMIZER_SCALARS = ('learning_rate', 'global_step', 'momentum', 'beta1_power', 'beta2_power',
                     'scale_sense', 'loss_scale', 'epoch_num', 'step_num', 'current_iterator_step',
                     'last_overflow_iterator_step', 'weight_decay')


def is_optimizer_entry(name: str) -> bool:
    """True for optimizer / training-loop entries of a MindSpore training checkpoint."""
    return name in OPTIMIZER_SCALARS or name.startswith(OPTIMIZER_PREFIXES)


def to_mindspore_params(arrays: Dict[str, np.ndarray]) -> Dict:
    """``{name: array}`` -> ``{name: mindspore.Parameter}`` (float32 arrays keep their bits)."""
    return {name: ms.Parameter(ms.Tensor(np.ascontiguousarray(a)), name=name)
            for name, a in arrays.items()}


def cell_parameters(cell) -> Dict[str, Tuple[int, ...]]:
    """``{parameter name: shape}`` of every parameter of ``cell`` (moving statistics included)."""
    return {p.name: tuple(p.shape) for p in cell.get_parameters(expand=True)}


def load_params_exact(cell, arrays: Dict[str, np.ndarray], source: str) -> None:
    """Load ``arrays`` into ``cell`` and prove that every parameter now holds them.

    Raises:
        CheckpointError: names differ (listing the cell's parameters the source lacks and the
            source's entries the cell lacks), shapes differ, ``load_param_into_net`` reports
            anything not loaded, or a parameter's value afterwards differs from the source.
    """
    expected = cell_parameters(cell)
    missing, unexpected = compare_keys(expected, arrays)
    if missing or unexpected:
        raise CheckpointError(f'{source}: does not fit the MindSpore network '
                              f'{type(cell).__name__}: {key_mismatch(missing, unexpected)}')
    wrong = [f'{k} {tuple(arrays[k].shape)} (network: {s})' for k, s in expected.items()
             if tuple(arrays[k].shape) != s]
    if wrong:
        raise CheckpointError(f'{source}: shapes differ from the MindSpore network: '
                              f'{format_keys(wrong)}')
    not_loaded, not_used = ms.load_param_into_net(cell, to_mindspore_params(arrays),
                                                  strict_load=True)
    if not_loaded or not_used:
        raise CheckpointError(f'{source}: load_param_into_net left network parameters not loaded '
                              f'{format_keys(not_loaded)} and source entries unused '
                              f'{format_keys(not_used)}')
    differ = [p.name for p in cell.get_parameters(expand=True)
              if not np.array_equal(p.asnumpy(), arrays[p.name])]
    if differ:
        raise CheckpointError(f'{source}: after loading, these MindSpore parameters do not hold '
                              f'the source values: {format_keys(differ)}')


def _mem_available() -> Optional[int]:
    """Linux's ``MemAvailable`` (free memory plus what the kernel can reclaim) in bytes, or None."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextlib.contextmanager
def _page_cache_counts_as_available():
    """Let ``mindspore.load_checkpoint``'s memory pre-check count the reclaimable page cache.

    MindSpore 2.10 refuses a ``.ckpt`` larger than the *free* memory (``SC_AVPHYS_PAGES``), which
    leaves out the page cache. Right after writing a few 0.5 GB files, free memory can be a few
    hundred MB on a machine with many GB available, and reading an FCN checkpoint then fails for no
    reason. While this context is active the check uses the larger of MindSpore's figure and
    ``MemAvailable``; where either is unknown it is left as it is.
    """
    try:
        from mindspore.train import serialization
    except ImportError:  # pragma: no cover - another MindSpore layout: keep its own check
        yield
        return
    original = getattr(serialization, '_get_available_memory', None)
    if original is None or _mem_available() is None:
        yield
        return

    def available():
        own, linux = original(), _mem_available()
        return own if linux is None else max(own or 0, linux)

    serialization._get_available_memory = available
    try:
        yield
    finally:
        serialization._get_available_memory = original


def load_mindspore_checkpoint(path: str) -> Dict:
    """``mindspore.load_checkpoint(path)`` -> ``{name: Parameter}``, with errors that name the file.

    Raises:
        CheckpointError: the file is missing, does not match its declared sha256, is truncated or
            corrupted, empty, or larger than the memory available to read it.
    """
    verify_checkpoint_file(path)  # exists, matches its declared sha256
    try:
        with _page_cache_counts_as_available():
            params = ms.load_checkpoint(path)
    except MemoryError as e:
        raise CheckpointError(f'{path}: not enough memory to read the checkpoint') from e
    except (ValueError, RuntimeError, TypeError, OSError) as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        problem = 'not enough memory to read it' if 'exceeds current available memory' in first \
            else 'not a readable MindSpore checkpoint (truncated or corrupted?)'
        raise CheckpointError(f'{path}: {problem}: {first}') from e
    if not params:
        raise CheckpointError(f'{path}: the MindSpore checkpoint holds no parameters')
    return params


def read_mindspore_checkpoint(path: str) -> Dict[str, np.ndarray]:
    """Read a MindSpore ``.ckpt`` into ``{name: array}``.

    Raises:
        CheckpointError: naming the file, as :func:`load_mindspore_checkpoint` does, and for NaN/Inf
            values in any floating-point entry.
    """
    params = load_mindspore_checkpoint(path)
    arrays = {}
    for name in list(params):  # one copy at a time: an FCN checkpoint is 0.5 GB
        arrays[name] = params.pop(name).asnumpy()
    bad = [k for k, a in arrays.items()
           if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all()]
    if bad:
        raise CheckpointError(f'{path}: non-finite (NaN/Inf) values in {len(bad)} entr(y/ies): '
                              f'{format_keys(bad, 10)}')
    return arrays


def save_mindspore_checkpoint(cell, path: str) -> str:
    """Write every parameter of ``cell`` to ``path`` atomically, with a ``.sha256`` sidecar."""
    with atomic_output(path, suffix='.ckpt') as tmp:
        ms.save_checkpoint(cell, tmp)
    write_sha256_sidecar(path)
    return path


def export_mindir(cell, input_shape: Sequence[Optional[int]], path: str) -> str:
    """Export ``cell`` as MINDIR for ``input_shape`` (N, C, H, W); ``None`` for H and W exports one
    graph for any height and width. Written atomically; returns the file."""
    if not path.endswith('.mindir'):
        raise ValueError(f'{path}: a MINDIR file name must end in .mindir')
    if any(d is None for d in input_shape):
        example = ms.Tensor(shape=list(input_shape), dtype=ms.float32)
    else:
        example = ms.Tensor(np.zeros(tuple(input_shape), dtype=np.float32))
    with atomic_output(path, suffix='.mindir') as tmp:
        ms.export(cell, example, file_name=tmp[:-len('.mindir')], file_format='MINDIR')
        if not osp.isfile(tmp):
            raise RuntimeError(f'mindspore.export did not write {tmp}')
    return path


def load_mindir(path: str):
    """``nn.GraphCell(mindspore.load(path))``: the exported graph, runnable like a cell."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such MINDIR file')
    return nn.GraphCell(ms.load(path))


def run_cell(cell, inputs: np.ndarray) -> np.ndarray:
    """Run a cell (or GraphCell) on a float32 (N, C, H, W) array; returns the output array."""
    return cell(ms.Tensor(np.ascontiguousarray(inputs, dtype=np.float32))).asnumpy()
