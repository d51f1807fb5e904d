# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""No command writes over what it was given: outputs are kept apart from inputs.

Every command line calls :func:`check_outputs_apart` before it does any work. An output location
(a folder the command writes into, or a file it writes) is refused when it **is**, **contains** or
**lies inside** one of the command's inputs (images, labels, a deploy folder, a checkpoint, a
config, dataset sources), since a file written there could replace an input file: predictions
named like the images, a merged report over a shard's own, a checkpoint over its source. Paths are
compared after resolving symbolic links (``os.path.realpath``); two names of one file (a hard
link) count as the same file. Writing into an empty or unrelated folder stays allowed.
"""
import os
import os.path as osp
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .errors import InputError

PathLike = Union[str, os.PathLike]
#: ``{label: path}``; a label is how the command line names the argument (``'--out-dir'``,
#: ``'IMAGES'``); None paths (options not given) are skipped.
Paths = Mapping[str, Optional[PathLike]]


class OutputOverInputError(InputError):
    """An output location that is, contains or lies inside an input (both are named)."""


def _real(path: PathLike) -> str:
    return osp.realpath(osp.abspath(os.fspath(path)))


def _inside(path: str, folder: str) -> bool:
    """``path`` lies strictly inside ``folder`` (both resolved)."""
    return path != folder and path.startswith(folder.rstrip(os.sep) + os.sep)


def _same_file(a: PathLike, b: PathLike) -> bool:
    try:
        return osp.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def relation(output: PathLike, input_path: PathLike) -> Optional[str]:
    """How ``output`` overlaps ``input_path``: ``'is'``, ``'contains'``, ``'lies inside'`` or
    None (apart)."""
    out, inp = _real(output), _real(input_path)
    if out == inp or _same_file(output, input_path):
        return 'is'
    if _inside(inp, out):
        return 'contains'
    if _inside(out, inp):
        return 'lies inside'
    return None


def overlaps(outputs: Paths, inputs: Paths) -> List[Tuple[str, str, str]]:
    """Every ``(output label, relation, input label)`` of :func:`relation` that is not apart
    (inputs that do not exist are skipped: nothing is there to lose, and the command names them
    as missing)."""
    found = []
    for out_label, out in outputs.items():
        if out is None:
            continue
        for in_label, inp in inputs.items():
            if inp is None or inp == '' or not osp.lexists(inp):
                continue  # not given, or nothing there yet that could be written over
            how = relation(out, inp)
            if how is not None:
                found.append((out_label, how, in_label))
    return found


def check_outputs_apart(outputs: Paths, inputs: Paths) -> None:
    """Refuse outputs that are, contain or lie inside an input, before any work.

    Args:
        outputs: ``{label: path}`` of the folders and files the command writes.
        inputs: ``{label: path}`` of everything it reads (files or folders).

    Raises:
        OutputOverInputError: naming both paths of every overlap (exit status 3).
    """
    found = overlaps(outputs, inputs)
    if not found:
        return
    lines = [f'{out_label} {os.fspath(outputs[out_label])!r} {how} the input {in_label} '
             f'{os.fspath(inputs[in_label])!r}' for out_label, how, in_label in found]
    raise OutputOverInputError(
        '; '.join(lines) + ': a file written there could replace an input file, so nothing was '
        'done; write the output somewhere else (an empty or unrelated folder)')


def numbered(label: str, paths: Iterable[Optional[PathLike]]) -> Dict[str, Optional[PathLike]]:
    """``{'LABEL 1': p1, 'LABEL 2': p2, ...}`` for an argument that takes several paths."""
    return {f'{label} {i}': p for i, p in enumerate(paths, start=1)}
