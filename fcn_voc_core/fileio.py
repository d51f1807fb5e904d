# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Safe file writes and image listing: the one implementation the whole project uses.

Every file the project writes (labels, splits, checkpoints, reports, exported models) goes through
:func:`atomic_output`: the bytes land in a temporary file next to the target, which is renamed onto
it only when writing succeeded, so a reader never sees a half-written file under its final name and
an interrupted run leaves at most a recognisable ``.<name>.tmp-<pid>`` behind.
"""
import contextlib
import json
import os
import os.path as osp
from typing import Iterator, List, Union

from .errors import InputError

PathLike = Union[str, os.PathLike]

#: Image file suffixes the tools accept when they list a folder (lower case).
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


@contextlib.contextmanager
def atomic_output(path: PathLike, suffix: str = '') -> Iterator[str]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    Args:
        path: the final file.
        suffix: appended to the temporary name, for writers that insist on a suffix
            (``mindspore.save_checkpoint`` wants ``.ckpt``, ``mindspore.export`` adds ``.mindir``).

    The temporary name starts with ``.`` and contains ``.tmp-`` so that leftovers of a killed run
    are easy to recognise (:func:`remove_stale_temporaries`).
    """
    path = os.fspath(path)
    directory, name = osp.split(path)
    os.makedirs(directory or '.', exist_ok=True)
    tmp = osp.join(directory, f'.{name}.tmp-{os.getpid()}{suffix}')
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


def remove_stale_temporaries(directory: PathLike) -> int:
    """Delete the leftovers of :func:`atomic_output` in ``directory`` (not recursive).

    Returns:
        The number of files removed.
    """
    directory = os.fspath(directory)
    if not osp.isdir(directory):
        return 0
    removed = 0
    for entry in os.scandir(directory):
        if entry.name.startswith('.') and '.tmp-' in entry.name and entry.is_file():
            os.remove(entry.path)
            removed += 1
    return removed


def write_json(path: PathLike, obj, indent: int = 2) -> str:
    """Write ``obj`` as JSON atomically; returns the path."""
    with atomic_output(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=indent)
            f.write('\n')
    return os.fspath(path)


def list_images(path: PathLike) -> List[str]:
    """The image files of a folder (sorted by name), or ``[path]`` for a single file.

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist or the folder holds no images.
        InputError: two images whose names differ only in their extension (both named).
    """
    path = os.fspath(path)
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such image file or folder')
    files = sorted(osp.join(path, f) for f in os.listdir(path)
                   if f.lower().endswith(IMG_EXTENSIONS) and not f.startswith('.'))
    if not files:
        raise FileNotFoundError(f'{path}: no images ({", ".join(IMG_EXTENSIONS)}) in this folder')
    clashes = stem_clashes(files)
    if clashes:
        raise InputError(f'{path}: {len(clashes)} image name(s) differ only in their extension, '
                         'so their predictions and labels (<name>.png) would collide: '
                         + '; '.join(' and '.join(osp.basename(f) for f in group)
                                     for group in clashes[:20])
                         + (' ...' if len(clashes) > 20 else ''))
    return files


def stem_clashes(files: List[str]) -> List[List[str]]:
    """Groups of ``files`` whose names without the extension are equal (``a.jpg`` and ``a.png``),
    in name order; every output and label is named after that stem."""
    groups: dict = {}
    for f in files:
        groups.setdefault(osp.splitext(osp.basename(f))[0], []).append(f)
    return [group for _, group in sorted(groups.items()) if len(group) > 1]


# --------------------------------------------------------------------------------------------------
# sha256: sidecar files and publish_model-style names
# --------------------------------------------------------------------------------------------------
#: Suffix of the hash sidecar written beside a file (``sha256sum`` format: ``<hex>  <name>``).
SHA256_SUFFIX = '.sha256'


def file_digest(path: PathLike, algorithm: str = 'sha256', chunk_size: int = 1 << 22) -> str:
    """The hex digest of a file's bytes (``hashlib`` algorithm name), read in chunks."""
    import hashlib
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    return file_digest(path, 'sha256')


def write_sha256_sidecar(path: PathLike) -> str:
    """Write ``<path>.sha256`` for ``path`` (as ``sha256sum`` prints it); returns the hash."""
    path = os.fspath(path)
    sha = file_sha256(path)
    with atomic_output(path + SHA256_SUFFIX) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(f'{sha}  {osp.basename(path)}\n')
    return sha


def expected_sha256(path: PathLike) -> Union[str, None]:
    """The hash a file declares: its ``.sha256`` sidecar, else the 8-hex-digit prefix that
    mmseg's ``publish_model`` puts in the name (``name-1a2b3c4d.pth``); None if neither."""
    import re
    path = os.fspath(path)
    sidecar = path + SHA256_SUFFIX
    if osp.isfile(sidecar):
        with open(sidecar, encoding='utf-8') as f:
            text = f.read().split()
        if not text or not re.fullmatch(r'[0-9a-f]{64}', text[0]):
            raise InputError(f'{sidecar}: not a sha256 sidecar (expected "<64 hex digits>  name")')
        return text[0]
    match = re.search(r'-([0-9a-f]{8})\.[A-Za-z]+$', osp.basename(path))
    return match.group(1) if match else None


def verify_sha256(path: PathLike) -> Union[str, None]:
    """Check ``path`` against the hash it declares (see :func:`expected_sha256`).

    Returns:
        The file's sha256 when a hash was declared and matches; None when none is declared.

    Raises:
        InputError: naming the file when its bytes do not match the declared hash.
    """
    expected = expected_sha256(path)
    if expected is None:
        return None
    actual = file_sha256(path)
    if not actual.startswith(expected):
        raise InputError(f'{os.fspath(path)}: sha256 mismatch: the file hashes to {actual[:16]}..., '
                         f'its {"sidecar" if len(expected) == 64 else "name"} declares '
                         f'{expected[:16]}...; the file was modified or corrupted after it was '
                         'written')
    return actual
