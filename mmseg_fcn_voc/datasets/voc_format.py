# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Reading, validating and writing the PASCAL VOC / SBD file formats.

One place for every file format the data tools touch:

* VOC images: ``JPEGImages/<id>.jpg`` (RGB JPEG);
* VOC labels: ``SegmentationClass/<id>.png``, palette ("P") PNGs whose pixel values are class
  indices, 255 marking the void border around objects (grey-scale "L" PNGs, as other converters
  write them, are accepted too);
* SBD labels: ``cls/<id>.mat``, MATLAB files holding a struct ``GTcls`` whose field ``Segmentation``
  is the uint8 class map (no void border);
* split files: one image id per line.

Every reader raises :class:`fcn_voc_core.imageio.FileFormatError`, whose message starts with the
offending file, so a broken file is never skipped silently. Images and PNG labels are decoded by
:mod:`fcn_voc_core.imageio` (shared with the converters and the deployment runtime); writers go
through :func:`fcn_voc_core.fileio.atomic_output`, so an interrupted run never leaves a
half-written file under its final name.
"""
import io
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmseg.datasets import PascalVOCDataset

from fcn_voc_core import imageio
from fcn_voc_core.fileio import PathLike, atomic_output
from fcn_voc_core.imageio import FileFormatError, pair_problems

#: The 21 VOC class names (index = label value), from mmseg's ``PascalVOCDataset``.
VOC_CLASSES = tuple(PascalVOCDataset.METAINFO['classes'])
#: Number of VOC classes including background.
NUM_VOC_CLASSES = len(VOC_CLASSES)
#: Label value of the void border ("don't care") in VOC labels.
VOID_LABEL = 255
#: Colour of the void label in the official VOC palette.
VOID_COLOUR = (224, 224, 192)

__all__ = [
    'VOC_CLASSES', 'NUM_VOC_CLASSES', 'VOID_LABEL', 'VOID_COLOUR', 'voc_palette', 'read_split',
    'write_split', 'write_voc_label', 'read_sbd_mat', 'read_label', 'validate_sample'
]


def voc_palette() -> List[int]:
    """The flat 768-entry PIL palette of VOC label PNGs.

    Classes 0-20 take mmseg's ``PascalVOCDataset`` palette, 255 the VOC void colour; other entries
    are black (they never occur in valid labels).
    """
    return imageio.flat_palette(PascalVOCDataset.METAINFO['palette'], VOID_COLOUR, VOID_LABEL)


# --------------------------------------------------------------------------------------------------
# split files
# --------------------------------------------------------------------------------------------------
def read_split(path: PathLike) -> List[str]:
    """Read a split file (one image id per line, blank lines ignored).

    Raises:
        FileFormatError: the file is missing or unreadable, or an id repeats or contains whitespace.
    """
    if not osp.isfile(path):
        raise FileFormatError(path, 'split file not found')
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FileFormatError(path, f'cannot read split file: {e}') from e
    ids: List[str] = []
    seen = set()
    for lineno, line in enumerate(lines, 1):
        image_id = line.strip()
        if not image_id:
            continue
        if len(image_id.split()) != 1:
            raise FileFormatError(path, f'line {lineno}: expected one image id, got {line!r}')
        if image_id in seen:
            raise FileFormatError(path, f'line {lineno}: image id {image_id!r} is listed twice')
        seen.add(image_id)
        ids.append(image_id)
    return ids


def write_split(path: PathLike, ids: Sequence[str]) -> None:
    """Write ``ids`` one per line, atomically."""
    with atomic_output(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.writelines(f'{image_id}\n' for image_id in ids)


# --------------------------------------------------------------------------------------------------
# images and labels
# --------------------------------------------------------------------------------------------------
def write_voc_label(path: PathLike, label: np.ndarray) -> None:
    """Write a class-index map as a VOC palette PNG, atomically.

    Raises:
        ValueError: ``label`` is not a 2-D array with values in 0..255.
    """
    imageio.write_label_png(path, label, voc_palette())


def read_sbd_mat(source: Union[PathLike, bytes],
                 name: Optional[PathLike] = None,
                 num_classes: Optional[int] = NUM_VOC_CLASSES,
                 ignore_index: int = VOID_LABEL) -> np.ndarray:
    """Read ``GTcls.Segmentation`` from an SBD ``cls/<id>.mat`` file.

    Args:
        source: the file's path or its raw bytes.
        name: the file's name for error messages (defaults to ``source`` when it is a path).
        num_classes: if not None, values must lie in ``[0, num_classes)`` (or be ``ignore_index``).
        ignore_index: a value accepted besides the classes.

    Returns:
        The ``(H, W)`` uint8 class map.

    Raises:
        FileFormatError: undecodable file, no ``GTcls`` struct, no ``Segmentation`` field, a field
        that is not a 2-D integer map within uint8, or out-of-range values.
    """
    from scipy.io import loadmat  # scipy is imported lazily: only SBD users need it

    if isinstance(source, (bytes, bytearray, memoryview)):
        fileobj, label_name = io.BytesIO(bytes(source)), name or '<bytes>'
    else:
        fileobj, label_name = source, name or source
        if not osp.isfile(source):
            raise FileFormatError(label_name, 'SBD .mat label not found')
    try:
        mat = loadmat(fileobj, variable_names=['GTcls'], squeeze_me=True, struct_as_record=False)
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError, OSError, ...
        raise FileFormatError(label_name, f'cannot decode SBD .mat file: {e}') from e
    if 'GTcls' not in mat:
        raise FileFormatError(label_name,
                             "no 'GTcls' struct in the .mat file (not an SBD cls label)")
    seg = getattr(mat['GTcls'], 'Segmentation', None)
    if seg is None:
        raise FileFormatError(label_name, "the 'GTcls' struct has no 'Segmentation' field")
    seg = np.asarray(seg)
    if seg.ndim != 2 or not np.issubdtype(seg.dtype, np.integer):
        raise FileFormatError(
            label_name, f"'GTcls.Segmentation' must be a 2-D integer map, got {seg.dtype} "
            f'of shape {seg.shape}')
    if seg.size and (seg.min() < 0 or seg.max() > 255):
        raise FileFormatError(label_name, "'GTcls.Segmentation' values do not fit in uint8")
    seg = seg.astype(np.uint8, copy=False)
    if num_classes is not None:
        imageio.check_label_values(seg, label_name, num_classes, ignore_index)
    return seg


def read_label(path: PathLike,
               num_classes: Optional[int] = NUM_VOC_CLASSES,
               ignore_index: int = VOID_LABEL) -> np.ndarray:
    """Read a label of either format, chosen by suffix (``.mat``: SBD, anything else: PNG)."""
    if os.fspath(path).lower().endswith('.mat'):
        return read_sbd_mat(path, num_classes=num_classes, ignore_index=ignore_index)
    return imageio.read_label_png(path, num_classes=num_classes, ignore_index=ignore_index)


def validate_sample(image_path: PathLike,
                    label_path: PathLike,
                    num_classes: int = NUM_VOC_CLASSES,
                    ignore_index: int = VOID_LABEL) -> List[str]:
    """Fully decode one image/label pair and return every problem found (empty list: valid).

    Checked: the image decodes, the label decodes (PNG or SBD ``.mat``), label values lie within the
    classes or equal ``ignore_index``, and both have the same height and width. Each problem is a
    message starting with the offending file.
    """
    return pair_problems(image_path, label_path,
                         lambda path: read_label(path, num_classes, ignore_index))[0]
