# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Where the raw VOC 2012, SBD and VOC 2011 data live: an official archive or its extracted folder.

A folder may be given at any level of the official layout (``VOCdevkit`` or ``VOCdevkit/VOC2012``;
``benchmark_RELEASE`` or ``benchmark_RELEASE/dataset``; ``TrainVal``, ``TrainVal/VOCdevkit`` or
``.../VOC2011``). An archive is streamed once and only the members prepare_voc needs are written,
each atomically, into a folder of the output directory; a re-run skips members already extracted
and, once an archive is complete, does not read it again (a stamp records its size and mtime).
"""
import json
import logging
import os
import os.path as osp
import re
import shutil
import tarfile
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from fcn_voc_core.console import Progress
from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import atomic_output

from .download import fetch_official

logger = logging.getLogger(__name__)


class SourceError(InputError):
    """A source path that is not the expected archive or folder."""


@dataclass(frozen=True)
class SourceKind:
    """One kind of raw data and how to recognise it.

    Attributes:
        name: key (``voc2012``, ``sbd``, ``voc2011``).
        title: human-readable name for messages.
        candidates: folders, relative to a given path, that may be the data root.
        markers: relative paths that must exist under the data root.
        member_pattern: regex over archive member names; group 1 is the path relative to the root.
            Only matching regular files are extracted.
        extract_to: folder under the output directory that receives the archive's root.
    """

    name: str
    title: str
    candidates: Tuple[str, ...]
    markers: Tuple[str, ...]
    member_pattern: str
    extract_to: str


VOC2012 = SourceKind(
    name='voc2012',
    title='PASCAL VOC 2012 trainval (VOCtrainval_11-May-2012.tar)',
    candidates=('', 'VOC2012', 'VOCdevkit/VOC2012'),
    markers=('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation/train.txt',
             'ImageSets/Segmentation/val.txt'),
    member_pattern=r'(?:^|/)VOC2012/(JPEGImages/[^/]+\.jpg|SegmentationClass/[^/]+\.png|'
    r'ImageSets/Segmentation/[^/]+\.txt)$',
    extract_to='VOC2012')
SBD = SourceKind(
    name='sbd',
    title='SBD (benchmark.tgz)',
    candidates=('', 'dataset', 'benchmark_RELEASE/dataset'),
    markers=('cls', 'train.txt', 'val.txt'),
    member_pattern=r'(?:^|/)dataset/(cls/[^/]+\.mat|img/[^/]+\.jpg|train\.txt|val\.txt)$',
    extract_to='SBD')
VOC2011 = SourceKind(
    name='voc2011',
    title='PASCAL VOC 2011 trainval (VOCtrainval_25-May-2011.tar)',
    candidates=('', 'VOC2011', 'VOCdevkit/VOC2011', 'TrainVal/VOCdevkit/VOC2011'),
    markers=('ImageSets/Segmentation/val.txt', ),
    member_pattern=r'(?:^|/)VOC2011/(ImageSets/Segmentation/[^/]+\.txt)$',
    extract_to='VOC2011')

ARCHIVE_SUFFIXES = ('.tar', '.tgz', '.tar.gz')


def looks_like_archive(path: str) -> bool:
    """True if ``path`` names an archive file (by suffix), whether or not it exists yet."""
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def locate_folder(kind: SourceKind, path: str) -> str:
    """Find the data root of ``kind`` in or under the folder ``path``.

    Raises:
        SourceError: no candidate folder holds all the markers; the message lists what is missing.
    """
    if not osp.isdir(path):
        raise SourceError(f'{path}: {kind.title} folder not found')
    tried = []
    for candidate in kind.candidates:
        root = osp.normpath(osp.join(path, candidate))
        missing = [m for m in kind.markers if not osp.exists(osp.join(root, m))]
        if not missing:
            return root
        if osp.isdir(root):
            tried.append(f'{root} (missing {", ".join(missing)})')
    raise SourceError(f'{path}: not a {kind.title} folder; looked at ' +
                      ('; '.join(tried) if tried else ', '.join(
                          osp.join(path, c) or path for c in kind.candidates)))


class _CountingReader:
    """A read-only file wrapper that reports how many bytes have been read."""

    def __init__(self, fileobj, callback: Optional[Callable[[int], None]]) -> None:
        self._fileobj = fileobj
        self._callback = callback
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fileobj.read(size)
        self.position += len(data)
        if self._callback is not None:
            self._callback(self.position)
        return data


def _stamp_path(out_dir: str, archive: str) -> str:
    return osp.join(out_dir, '.prepare_voc', osp.basename(archive) + '.extracted.json')


def _archive_signature(archive: str) -> dict:
    stat = os.stat(archive)
    return {'archive': osp.abspath(archive), 'size': stat.st_size, 'mtime_ns': stat.st_mtime_ns}


def _already_extracted(kind: SourceKind, root: str, stamp: str, signature: dict) -> bool:
    """A stamp of this very archive (size and time) and the kind's marker files in place."""
    if not osp.isfile(stamp):
        return False
    with open(stamp, encoding='utf-8') as f:
        done = json.load(f)
    return done.get('signature') == signature and all(
        osp.exists(osp.join(root, m)) for m in kind.markers)


def _extract_members(kind: SourceKind, archive: str, root: str,
                     progress: Optional[Callable[[int, int], None]]) -> Tuple[int, int]:
    """Stream the archive, writing each member of ``kind.member_pattern`` under ``root``;
    returns ``(written, skipped)``."""
    pattern = re.compile(kind.member_pattern)
    size = osp.getsize(archive)
    written = skipped = 0
    with open(archive, 'rb') as raw:
        reader = _CountingReader(raw, (lambda pos: progress(pos, size)) if progress else None)
        with tarfile.open(fileobj=reader, mode='r|*') as tar:
            for member in tar:
                match = pattern.search(member.name)
                if match is None or not member.isfile():
                    continue
                dest = osp.join(root, *match.group(1).split('/'))
                if osp.isfile(dest) and osp.getsize(dest) == member.size:
                    skipped += 1
                    continue
                with atomic_output(dest) as tmp, open(tmp, 'wb') as f:
                    shutil.copyfileobj(tar.extractfile(member), f, 1 << 20)
                written += 1
    return written, skipped


def extract_archive(kind: SourceKind,
                    archive: str,
                    out_dir: str,
                    progress: Optional[Callable[[int, int], None]] = None) -> Tuple[str, int, int]:
    """Extract the members of ``archive`` that prepare_voc needs into ``out_dir/kind.extract_to``.

    Members are matched by :attr:`SourceKind.member_pattern`; only regular files are written (links,
    devices and paths outside the pattern are never extracted). Each member is written atomically
    and skipped when a file of the same size is already there, so an interrupted extraction resumes.

    Args:
        kind: what the archive should contain.
        archive: the ``.tar`` / ``.tgz`` file.
        out_dir: prepare_voc's output directory.
        progress: called with (compressed bytes read, archive size).

    Returns:
        ``(root, written, skipped)``: the extracted data root and member counts (both 0 when a stamp
        shows the archive was fully extracted before).

    Raises:
        SourceError: not a readable tar archive, or it lacks the expected files.
    """
    root = osp.join(out_dir, kind.extract_to)
    stamp = _stamp_path(out_dir, archive)
    signature = _archive_signature(archive)
    if _already_extracted(kind, root, stamp, signature):
        return root, 0, 0
    try:
        written, skipped = _extract_members(kind, archive, root, progress)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise SourceError(f'{archive}: cannot read as a {kind.title} archive: {e}') from e
    missing = [m for m in kind.markers if not osp.exists(osp.join(root, m))]
    if missing:
        raise SourceError(f'{archive}: not a {kind.title} archive; after extraction '
                          f'{root} lacks {", ".join(missing)}')
    os.makedirs(osp.dirname(stamp), exist_ok=True)
    with atomic_output(stamp) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        json.dump({'signature': signature, 'written': written, 'skipped': skipped}, f)
    return root, written, skipped


def materialise_source(kind: SourceKind, path: Optional[str], out_dir: str, download: bool,
                       download_dir: str, mirror: Optional[str] = None) -> Optional[str]:
    """Turn a source argument into its data root folder: download it (``download``, when not given
    or missing), extract an archive into ``out_dir``, or locate the folder; None when not given
    (VOC 2011 is optional)."""
    wanted = path is not None
    if path == '' and not download:
        raise SourceError(f'{kind.title}: no path given; pass one, or --download to fetch it')
    if download and (not path or not osp.exists(path)) and (wanted or kind is not VOC2011):
        path = fetch_official(kind.name, path, download_dir, mirror)
    if not path:
        return None
    if osp.isfile(path):
        if not tarfile.is_tarfile(path):
            raise SourceError(f'{path}: not a tar archive (expected {kind.title} or its folder)')
        with Progress(f'extracting {osp.basename(path)}', unit='B') as bar:
            root, written, skipped = extract_archive(kind, path, out_dir, bar.update)
        state = (f'{written} files extracted, {skipped} already there'
                 if written or skipped else 'already extracted')
        logger.info(f'{kind.title}: {path} -> {root} ({state})')
        return root
    if osp.isdir(path):
        root = locate_folder(kind, path)
        logger.info(f'{kind.title}: folder {root}')
        return root
    hint = '' if download else ' (or pass --download to fetch it)'
    raise SourceError(f'{path}: not found; give {kind.title} or the folder it extracts to{hint}')
