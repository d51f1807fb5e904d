# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Resumable, checksum-verified downloads of the official VOC / SBD archives."""
import logging
import os
import os.path as osp
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from typing import Callable, Dict, Optional

from fcn_voc_core.console import Progress
from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import file_digest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    """An official archive: its file name, where it lives and its md5."""

    filename: str
    url: str
    md5: str


#: The archives prepare_voc can fetch, with the checksums of the official files.
OFFICIAL_RESOURCES: Dict[str, Resource] = {
    'voc2012': Resource(
        filename='VOCtrainval_11-May-2012.tar',
        url='http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar',
        md5='6cd6e144f989b92b3379bac3b3de84fd'),
    'sbd': Resource(
        filename='benchmark.tgz',
        url='https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/'
        'semantic_contours/benchmark.tgz',
        md5='82b4d87ceb2ed10f6038a1cba92111cb'),
    'voc2011': Resource(
        filename='VOCtrainval_25-May-2011.tar',
        url='http://host.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar',
        md5='6c3384ef61512963050cb5d687e5bf1e'),
}


class DownloadError(InputError):
    """A download that failed for good (after retries) or whose checksum does not match."""


def file_md5(path: str) -> str:
    """The md5 hex digest of a file (the official archives publish md5 sums)."""
    return file_digest(path, 'md5')


ProgressCallback = Callable[[int, Optional[int]], None]  # (bytes done, total bytes or None)


def _content_range_start(header: Optional[str]) -> Optional[int]:
    match = re.match(r'\s*bytes\s+(\d+)-', header or '')
    return int(match.group(1)) if match else None


def download(url: str,
             dest: str,
             md5: Optional[str] = None,
             retries: int = 5,
             timeout: float = 60.0,
             chunk_size: int = 1 << 20,
             progress: Optional[ProgressCallback] = None,
             backoff: float = 2.0) -> str:
    """Download ``url`` to ``dest``, resuming an interrupted download, and verify its md5.

    * An existing ``dest`` whose md5 matches is kept (nothing is fetched).
    * Bytes go to ``dest + '.part'``; a later call (or a retry after a network error) asks the
      server for the rest with an HTTP ``Range`` request and appends. A server that ignores
      ``Range`` (answers 200) is read from the start again.
    * The finished file is checked against ``md5`` before it is moved to ``dest``; on a mismatch the
      partial file is deleted and :class:`DownloadError` names the URL and both checksums.

    Args:
        url: source URL (http, https, file, ...).
        dest: final path.
        md5: expected md5 hex digest, or None to skip the check.
        retries: network errors tolerated (each retry resumes where the last one stopped).
        timeout: socket timeout in seconds.
        chunk_size: read size in bytes.
        progress: called with (bytes done, total or None) after every chunk.
        backoff: seconds to wait before the first retry (doubled each time).

    Returns:
        ``dest``.
    """
    if osp.isfile(dest) and (md5 is None or file_md5(dest) == md5):
        return dest
    os.makedirs(osp.dirname(osp.abspath(dest)), exist_ok=True)
    part = dest + '.part'
    attempt = 0
    while True:
        try:
            _fetch_into(url, part, timeout, chunk_size, progress)
            break
        except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError,
                OSError) as e:
            if isinstance(e, urllib.error.HTTPError) and e.code not in (408, 429, 500, 502, 503,
                                                                        504):
                raise DownloadError(f'{url}: HTTP {e.code} {e.reason}') from e
            attempt += 1
            if attempt > retries:
                raise DownloadError(f'{url}: download failed after {retries} retries: {e}; '
                                    f'{part} is kept and a re-run resumes it') from e
            time.sleep(backoff * 2**(attempt - 1))
    if md5 is not None:
        actual = file_md5(part)
        if actual != md5:
            os.remove(part)
            raise DownloadError(f'{url}: md5 mismatch (expected {md5}, got {actual}); the '
                                'corrupt download was deleted')
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: str, timeout: float, chunk_size: int,
                progress: Optional[ProgressCallback]) -> None:
    """One attempt: append the missing bytes of ``url`` to ``part`` (complete on return)."""
    done = osp.getsize(part) if osp.isfile(part) else 0
    request = urllib.request.Request(url, headers={'User-Agent': 'mmseg-fcn-voc/prepare_voc'})
    if done:
        request.add_header('Range', f'bytes={done}-')
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and done:  # nothing left to send: the partial file is already complete
            return
        raise
    with response:
        status = getattr(response, 'status', 200)
        if done and status == 206 and _content_range_start(
                response.headers.get('Content-Range')) == done:
            mode = 'ab'
        else:  # a fresh download, or the server ignored the Range request: start over
            mode, done = 'wb', 0
        length = response.headers.get('Content-Length')
        total = done + int(length) if length is not None else None
        with open(part, mode) as f:
            while True:
                block = response.read(chunk_size)
                if not block:
                    break
                f.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
    if total is not None and done < total:
        raise ConnectionError(f'{url}: connection closed after {done} of {total} bytes')


def fetch_official(name: str, path: Optional[str], download_dir: str,
                   mirror: Optional[str] = None) -> str:
    """Download the official archive ``name`` (a key of :data:`OFFICIAL_RESOURCES`), md5-checked
    and resumable, with a progress line; returns its local path.

    Args:
        path: where it should go: an archive path, a folder to put it in, or None for
            ``download_dir``.
        mirror: a base URL replacing the official location (the file name is appended).
    """
    resource = OFFICIAL_RESOURCES[name]
    if path and path.endswith(('.tar', '.tgz', '.tar.gz')):
        dest = path
    elif path:
        dest = osp.join(path, resource.filename)
    else:
        dest = osp.join(download_dir, resource.filename)
    url = (mirror.rstrip('/') + '/' + resource.filename) if mirror else resource.url
    logger.info(f'downloading {url} -> {dest} (md5 {resource.md5})')
    with Progress(resource.filename, unit='B') as bar:
        download(url, dest, md5=resource.md5, progress=bar.update)
    return dest
