# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Reading and writing images and class-index label maps with errors that name the file.

The data tools, the converters and the deployment runtime all read images and labels through these
functions, so a broken file gets the same message everywhere and is never skipped silently.

* images: decoded as mmcv's ``LoadImageFromFile`` decodes them (OpenCV), returned as ``(H, W, 3)``
  uint8 RGB; every file is first decoded whole by Pillow, so a truncated or corrupt file is refused
  instead of being half-decoded;
* labels: palette ("P") PNGs whose pixel values are class indices (VOC's ``SegmentationClass``),
  grey-scale ("L") PNGs accepted too; a value of ``ignore_index`` (255) marks pixels not scored.
"""
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .errors import InputError
from .fileio import PathLike, atomic_output


class FileFormatError(InputError):
    """A data file that cannot be used, with the file named first.

    Args:
        path: the offending file.
        problem: what is wrong with it.
    """

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f'{self.path}: {problem}')


def decode(path: PathLike, what: str, rgb: bool) -> Tuple[np.ndarray, str]:
    """Fully decode an image file; return its pixels (RGB if ``rgb``) and its original mode.

    Every failure (missing, truncated, not an image) becomes a :class:`FileFormatError`.
    """
    if not osp.isfile(path):
        raise FileFormatError(path, f'{what} not found')
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            pixels = np.array(img.convert('RGB') if rgb and mode != 'RGB' else img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise FileFormatError(path, f'cannot decode {what}: {e}') from e
    return pixels, mode


def read_image(path: PathLike) -> np.ndarray:
    """Decode an image to an ``(H, W, 3)`` uint8 RGB array, pixel for pixel as mmcv's
    ``LoadImageFromFile`` does (``cv2.imdecode(..., cv2.IMREAD_COLOR)``: the EXIF orientation
    applied, 16-bit samples scaled to 8 bits, grey replicated, CMYK converted, alpha dropped),
    then BGR -> RGB.

    Raises:
        FileFormatError: missing, truncated or undecodable file.
    """
    verify_image(path, 'image')
    return decode_color(path)


def decode_color(path: PathLike) -> np.ndarray:
    """The OpenCV half of :func:`read_image` alone (one decode): for a file that
    :func:`verify_image` has already checked whole.

    Raises:
        FileFormatError: OpenCV cannot read it as a colour image.
    """
    import cv2  # opencv-python(-headless), what mmcv decodes with

    pixels = cv2.imdecode(np.fromfile(os.fspath(path), np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise FileFormatError(path, 'cannot decode image: OpenCV cannot read it as a colour image')
    return np.ascontiguousarray(pixels[..., ::-1])


def verify_image(path: PathLike, what: str = 'image') -> None:
    """Decode the whole file with Pillow and drop the pixels: a missing, empty, truncated or
    non-image file raises :class:`FileFormatError` naming it."""
    if not osp.isfile(path):
        raise FileFormatError(path, f'{what} not found')
    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise FileFormatError(path, f'cannot decode {what}: {e}') from e


def check_label_values(label: np.ndarray, path: PathLike, num_classes: int,
                       ignore_index: int = 255) -> None:
    """Raise :class:`FileFormatError` naming ``path`` if ``label`` holds values outside
    ``[0, num_classes)`` other than ``ignore_index``."""
    if label.dtype == np.uint8:  # a histogram finds the values present without a sort
        values = np.flatnonzero(np.bincount(label.reshape(-1), minlength=256))
    else:
        values = np.unique(label)
    bad = values[((values < 0) | (values >= num_classes)) & (values != ignore_index)]
    if bad.size:
        shown = ', '.join(str(v) for v in bad[:10]) + (' ...' if bad.size > 10 else '')
        raise FileFormatError(
            path, f'label values outside 0..{num_classes - 1} and {ignore_index}: {shown}')


def read_label_png(path: PathLike,
                   num_classes: Optional[int] = None,
                   ignore_index: int = 255) -> np.ndarray:
    """Decode a label PNG to an ``(H, W)`` uint8 array of class indices.

    Args:
        path: a palette ("P") or grey-scale ("L") PNG.
        num_classes: if not None, values must lie in ``[0, num_classes)`` or equal ``ignore_index``.
        ignore_index: the label of pixels that are not scored.

    Raises:
        FileFormatError: missing or undecodable file, a colour (RGB) label, or out-of-range values.
    """
    label, mode = decode(path, 'label', rgb=False)
    if mode not in ('P', 'L'):
        raise FileFormatError(
            path, f"label must be a palette ('P') or grey-scale ('L') PNG of class indices, "
            f'got mode {mode!r}')
    if num_classes is not None:
        check_label_values(label, path, num_classes, ignore_index)
    return label


def pair_problems(image_path: PathLike, label_path: Optional[PathLike],
                  read_label: Callable[[PathLike], np.ndarray]
                  ) -> Tuple[List[str], Optional[Tuple[int, int]]]:
    """Fully decode an image and its label (``read_label(label_path)``; None: no label) and list
    every problem, each message naming its file: undecodable files, label values outside the
    classes, a label of another size. Returns ``(problems, (H, W) of the image or None)``."""
    problems: List[str] = []
    image = label = None
    try:
        image = read_image(image_path)
    except FileFormatError as e:
        problems.append(str(e))
    if label_path is not None:
        try:
            label = read_label(label_path)
        except FileFormatError as e:
            problems.append(str(e))
    if image is not None and label is not None:
        try:
            check_label_size(label.shape, image.shape, label_path, image_path)
        except FileFormatError as e:
            problems.append(str(e))
    return problems, None if image is None else tuple(image.shape[:2])


def check_label_size(label_shape: Sequence[int], image_shape: Sequence[int],
                     label_path: PathLike, image_path: PathLike) -> None:
    """Raise :class:`FileFormatError` naming both files when a label's height and width differ
    from its image's (shapes ``(H, W, ...)``)."""
    (lh, lw), (ih, iw) = tuple(label_shape[:2]), tuple(image_shape[:2])
    if (lh, lw) != (ih, iw):
        raise FileFormatError(
            label_path, f'label size {lw}x{lh} (WxH) differs from image {os.fspath(image_path)} '
            f'size {iw}x{ih}')


def flat_palette(colours: Sequence[Sequence[int]], void_colour: Sequence[int] = (224, 224, 192),
                 ignore_index: int = 255) -> list:
    """The flat 768-entry PIL palette for class ``colours`` (index = class), with
    ``ignore_index`` drawn in ``void_colour`` and every other entry black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:len(colours)] = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    if 0 <= ignore_index < 256:
        table[ignore_index] = void_colour
    return table.reshape(-1).tolist()


def write_label_png(path: PathLike, label: np.ndarray, palette: Sequence[int],
                    compress_level: int = 6) -> None:
    """Write a class-index map as a palette PNG (``palette``: 768 ints), atomically
    (``compress_level``: zlib's, 1 fastest, 9 smallest; the runtime's predictions take 1).

    Raises:
        ValueError: ``label`` is not a 2-D array with values in 0..255.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'{os.fspath(path)}: a label map must be 2-D, got shape {label.shape}')
    if label.dtype != np.uint8:
        if label.size and (label.min() < 0 or label.max() > 255):
            raise ValueError(f'{os.fspath(path)}: label values must fit in uint8')
        label = label.astype(np.uint8)
    height, width = label.shape
    img = Image.frombytes('P', (width, height), np.ascontiguousarray(label).tobytes())
    img.putpalette(list(palette))
    with atomic_output(path) as tmp:
        img.save(tmp, format='PNG', optimize=False, compress_level=compress_level)
