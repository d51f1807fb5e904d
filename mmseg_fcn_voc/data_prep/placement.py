# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Putting files where mmseg expects them: linked or copied sources, converted SBD labels and the
``SBD`` link, each written atomically and skipped when already up to date."""
import os
import os.path as osp
import shutil
from typing import Optional, Tuple

from fcn_voc_core.fileio import atomic_output
from fcn_voc_core.imageio import FileFormatError

from ..datasets.voc_format import read_sbd_mat, write_voc_label
from .layout import LINK_MODES, SBD_LINK


def up_to_date(source: str, dest: str) -> bool:
    """``dest`` is ``source`` itself, or was made from it after its last change."""
    if not osp.exists(dest):
        return False
    if osp.samefile(source, dest):
        return True
    return os.stat(dest).st_mtime_ns >= os.stat(source).st_mtime_ns


def place_file(source: str, dest: str, mode: str = 'hardlink') -> bool:
    """Put ``source`` at ``dest`` (hard link, copy or symlink), atomically; skip if up to date.

    Returns:
        True if ``dest`` was (re)written.
    """
    if mode not in LINK_MODES:
        raise ValueError(f'link mode must be one of {LINK_MODES}, got {mode!r}')
    if up_to_date(source, dest) and osp.getsize(source) == osp.getsize(dest):
        return False
    with atomic_output(dest) as tmp:
        if mode == 'symlink':
            os.symlink(osp.abspath(source), tmp)
        elif mode == 'hardlink':
            try:
                os.link(source, tmp)
            except OSError:  # another file system, or links not supported: copy
                shutil.copy2(source, tmp)
        else:
            shutil.copy2(source, tmp)
    return True


def convert_sbd_label(task: Tuple[str, str]) -> Optional[str]:
    """Convert one SBD ``.mat`` label (``task = (mat, png)``) to a palette PNG; return the
    problem, or None."""
    mat, png = task
    try:
        write_voc_label(png, read_sbd_mat(mat))
    except FileFormatError as e:
        return str(e)
    except OSError as e:
        return f'{png}: cannot write: {e}'
    return None


def link_sbd(sbd_root: str, out_dir: str) -> str:
    """Make ``out_dir/SBD`` the SBD dataset folder (for configs that read ``.mat`` directly);
    returns the report line."""
    link = osp.join(out_dir, SBD_LINK)
    if osp.abspath(sbd_root) == osp.abspath(link):
        return f'{SBD_LINK}/: SBD extracted here (cls/*.mat for LoadSBDAnnotations configs)'
    if osp.exists(link) and not osp.islink(link):
        if osp.samefile(link, sbd_root):
            return f'{SBD_LINK}/: is the given SBD folder'
        return (f'WARNING: {link} is a folder, not a link to {sbd_root}; configs that read SBD '
                '.mat labels directly read that folder')
    with atomic_output(link) as tmp:
        os.symlink(osp.abspath(sbd_root), tmp)
    return f'{SBD_LINK} -> {osp.abspath(sbd_root)} (cls/*.mat for LoadSBDAnnotations configs)'
