# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A small generated dataset in the raw official VOC 2012 / SBD / VOC 2011 layouts.

Nothing here can download VOC or SBD, so the README's demo and the tests run on this. It writes what
the official archives extract to, file formats included, so ``tools/dataset_converters/prepare_voc.py`` runs on it
unchanged::

    <out>/VOCdevkit/VOC2012/JPEGImages/<id>.jpg              every image (as in the real VOC 2012)
    <out>/VOCdevkit/VOC2012/SegmentationClass/<id>.png       palette PNGs, 255 border around objects
    <out>/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt
    <out>/benchmark_RELEASE/dataset/img/<id>.jpg             SBD images
    <out>/benchmark_RELEASE/dataset/cls/<id>.mat             GTcls struct: Segmentation (uint8, no
                                                              border), Boundaries, CategoriesPresent
    <out>/benchmark_RELEASE/dataset/{train,val}.txt
    <out>/TrainVal/VOCdevkit/VOC2011/...                     (optional) the VOC 2011 segmentation
                                                              subset, as its archive extracts
    <out>/VOCtrainval_11-May-2012.tar, benchmark.tgz,        (optional) the same trees packed like
    <out>/VOCtrainval_25-May-2011.tar                         the official archives

The content is meant to be learnable by a small FCN on CPU in minutes: each image (64-160 px per
side, odd sizes included) shows 1-3 objects of five VOC classes, each class with its own shape,
colour and texture, over a cluttered background of dull-coloured shapes, lines and noise. Everything
is deterministic given the seed (the archives are byte-identical too).

The split structure mirrors the real one: SBD covers (only) images up to 2011, overlapping VOC
2012's segmentation train and val sets; some VOC images are not in SBD; the VOC 2011 segmentation
sets are the pre-2012 part of VOC 2012's. So train_aug, the SBD lists and seg11valid are all
non-empty and the set differences prepare_voc computes are all exercised.
"""
import gzip
import io
import os
import os.path as osp
import tarfile
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from fcn_voc_core.fileio import atomic_output

from ..datasets.voc_format import NUM_VOC_CLASSES, VOID_LABEL, write_split, write_voc_label

#: The VOC classes the demo draws: class index -> (shape, base RGB colour, texture).
DEMO_CLASSES: Dict[int, Tuple[str, Tuple[int, int, int], str]] = {
    1: ('triangle', (235, 235, 245), 'stripes'),  # aeroplane: white triangle, dark stripes
    7: ('box', (30, 80, 215), 'checker'),  # car: blue wide box, checkerboard
    8: ('ellipse', (245, 140, 25), 'spots'),  # cat: orange ellipse, dark spots
    15: ('figure', (230, 60, 150), 'vstripes'),  # person: magenta upright figure, vertical stripes
    16: ('disk', (40, 190, 60), 'rings'),  # pottedplant: green disk, concentric rings
}

#: Archive names and the folder each official archive holds (member prefix).
ARCHIVE_LAYOUT = {
    'VOCtrainval_11-May-2012.tar': 'VOCdevkit/VOC2012',
    'benchmark.tgz': 'benchmark_RELEASE/dataset',
    'VOCtrainval_25-May-2011.tar': 'TrainVal/VOCdevkit/VOC2011',
}

MIN_IMAGES = 8
MAT_HEADER_TEXT_BYTES = 116
MAT_HEADER_TEXT = b'MATLAB 5.0 MAT-file, written by mmseg_fcn_voc make_demo_voc'.ljust(
    MAT_HEADER_TEXT_BYTES)
MIN_SIDE, MAX_SIDE = 64, 160
BORDER_WIDTH = 1  # void band half-width in pixels (VOC's ~5 px at 500 px, scaled to these sizes)


@dataclass
class DemoSplits:
    """The image ids of every split the demo writes."""

    voc_train: List[str] = field(default_factory=list)
    voc_val: List[str] = field(default_factory=list)
    sbd_train: List[str] = field(default_factory=list)
    sbd_val: List[str] = field(default_factory=list)
    voc2011_train: List[str] = field(default_factory=list)
    voc2011_val: List[str] = field(default_factory=list)

    @property
    def all_ids(self) -> List[str]:
        return sorted(set(self.voc_train + self.voc_val + self.sbd_train + self.sbd_val))

    def expected_counts(self) -> Dict[str, int]:
        """The counts prepare_voc must report for this demo (the same set algebra as the paper)."""
        voc_train, voc_val = set(self.voc_train), set(self.voc_val)
        sbd = set(self.sbd_train) | set(self.sbd_val)
        return {
            'train_aug': len((voc_train | sbd) - voc_val),
            'aug': len(sbd - voc_train - voc_val),
            'val': len(voc_val),
            'sbd_train': len(self.sbd_train),
            'seg11valid': len(set(self.voc2011_val) - set(self.sbd_train)),
        }


# --------------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------------
# Membership groups with their share of the images: (VOC seg split, SBD split, year range).
_GROUPS = (
    ('train', 'train', 'old', 0.08),
    ('train', 'val', 'old', 0.03),
    ('train', None, 'new', 0.06),
    ('val', 'train', 'old', 0.06),  # in VOC val and SBD train: out of train_aug and seg11valid
    ('val', 'val', 'old', 0.04),
    ('val', None, 'mixed', 0.10),
    (None, 'train', 'old', 0.45),
    (None, 'val', 'old', 0.18),
)


def make_splits(num_images: int, rng: np.random.Generator) -> Tuple[DemoSplits, List[str]]:
    """Assign ``num_images`` new VOC-style ids (``YYYY_NNNNNN``) to the splits.

    Every membership group gets at least one image, so every split and set difference is non-empty.

    Returns:
        The splits and the list of all ids in generation order.
    """
    if num_images < MIN_IMAGES:
        raise ValueError(f'the demo needs at least {MIN_IMAGES} images, got {num_images}')
    sizes = [max(1, int(round(share * num_images))) for *_, share in _GROUPS]
    # Give or take images on the largest group so the total is exact.
    sizes[6] += num_images - sum(sizes)
    if sizes[6] < 1:
        raise ValueError(f'cannot split {num_images} images over the demo groups')

    used = set()

    def new_id(year: int) -> str:
        while True:
            image_id = f'{year}_{int(rng.integers(1, 9999)):06d}'
            if image_id not in used:
                used.add(image_id)
                return image_id

    splits, order = DemoSplits(), []
    for (voc, sbd, era, _), size in zip(_GROUPS, sizes):
        for k in range(size):
            if era == 'new' or (era == 'mixed' and k % 2 == 1):
                year = 2012
            else:
                year = int(rng.integers(2007, 2012))  # 2007..2011
            image_id = new_id(year)
            order.append(image_id)
            if voc is not None:
                getattr(splits, f'voc_{voc}').append(image_id)
                if year <= 2011:
                    getattr(splits, f'voc2011_{voc}').append(image_id)
            if sbd is not None:
                getattr(splits, f'sbd_{sbd}').append(image_id)
    for name in ('voc_train', 'voc_val', 'sbd_train', 'sbd_val', 'voc2011_train', 'voc2011_val'):
        getattr(splits, name).sort()
    return splits, order


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------
def _dull_colour(rng: np.random.Generator) -> np.ndarray:
    """A low-saturation background colour (kept away from the object colours)."""
    grey = rng.uniform(50, 170)
    return np.clip(grey + rng.normal(0, 12, 3), 0, 255)


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Clutter: a dull gradient, dull shapes and lines, and pixel noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = _dull_colour(rng), _dull_colour(rng)
    angle = rng.uniform(0, np.pi)
    t = (xx * np.cos(angle) + yy * np.sin(angle))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    canvas = c0 * (1 - t[..., None]) + c1 * t[..., None]

    clutter = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(clutter)
    for _ in range(int(rng.integers(6, 16))):
        colour = tuple(int(v) for v in _dull_colour(rng))
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(4, max(5, width // 3)))
        y1 = y0 + int(rng.integers(4, max(5, height // 3)))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, 4)))
    canvas = np.asarray(clutter, dtype=np.float32)
    canvas += rng.normal(0, 7, canvas.shape)
    return canvas


def _shape_mask(shape: str, height: int, width: int, box: Tuple[int, int, int, int],
                rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of one object of the given shape inside ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    mask = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(mask)
    if shape == 'triangle':
        apex = (x0 + (x1 - x0) * rng.uniform(0.3, 0.7), y0)
        if rng.random() < 0.5:  # pointing up or down
            draw.polygon([apex, (x0, y1), (x1, y1)], fill=1)
        else:
            draw.polygon([(x0, y0), (x1, y0), ((x0 + x1) / 2, y1)], fill=1)
    elif shape == 'box':
        draw.rounded_rectangle([x0, y0, x1, y1], radius=max(1, (y1 - y0) // 5), fill=1)
    elif shape == 'ellipse':
        draw.ellipse([x0, y0, x1, y1], fill=1)
    elif shape == 'figure':
        head = (x1 - x0) * 0.45
        cx = (x0 + x1) / 2
        draw.ellipse([cx - head / 2, y0, cx + head / 2, y0 + head], fill=1)
        draw.rounded_rectangle([x0, y0 + head * 0.9, x1, y1], radius=max(1, (x1 - x0) // 4), fill=1)
    elif shape == 'disk':
        side = min(x1 - x0, y1 - y0)
        draw.ellipse([x0, y0, x0 + side, y0 + side], fill=1)
    else:
        raise ValueError(f'unknown demo shape {shape!r}')
    return np.asarray(mask, dtype=bool)


def _texture(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative texture in [0.55, 1] over the whole canvas."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(5, 8)
    if kind == 'stripes':
        on = ((yy + rng.uniform(0, period)) % period) < period * 0.3
    elif kind == 'vstripes':
        on = ((xx + rng.uniform(0, period)) % period) < period * 0.35
    elif kind == 'checker':
        cell = int(period * 0.7)
        on = ((xx // cell + yy // cell) % 2) == 0
    elif kind == 'spots':
        on = (np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)) > 0.6
    elif kind == 'rings':
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        on = (np.hypot(yy - cy, xx - cx) % period) < period * 0.35
    else:
        raise ValueError(f'unknown demo texture {kind!r}')
    return np.where(on, 0.55, 1.0).astype(np.float32)


def void_border(label: np.ndarray, width: int = BORDER_WIDTH) -> np.ndarray:
    """Pixels within ``width`` of a label change (the band VOC marks 255 around objects)."""
    height, wide = label.shape
    padded = np.pad(label, width, mode='edge')
    border = np.zeros(label.shape, dtype=bool)
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            shifted = padded[width + dy:width + dy + height, width + dx:width + dx + wide]
            border |= shifted != label
    return border


def render_image(seed: int, index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Render demo image ``index`` of ``seed``.

    Returns:
        ``(rgb, label)``: an ``(H, W, 3)`` uint8 image and its ``(H, W)`` uint8 class map without
        the void border (SBD-style; :func:`void_border` gives the VOC-style band).
    """
    rng = np.random.default_rng([seed, index])
    height, width = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    canvas = _background(height, width, rng)
    label = np.zeros((height, width), dtype=np.uint8)
    classes = list(DEMO_CLASSES)
    for _ in range(int(rng.integers(1, 4))):
        cls = classes[int(rng.integers(0, len(classes)))]
        shape, colour, texture = DEMO_CLASSES[cls]
        short = min(height, width)
        size = int(short * rng.uniform(0.3, 0.6))
        aspect = {'box': 1.8, 'figure': 0.55}.get(shape, rng.uniform(0.8, 1.3))
        box_w = max(8, min(width - 2, int(size * aspect ** 0.5)))
        box_h = max(8, min(height - 2, int(size / aspect ** 0.5)))
        x0 = int(rng.integers(0, width - box_w))
        y0 = int(rng.integers(0, height - box_h))
        mask = _shape_mask(shape, height, width, (x0, y0, x0 + box_w, y0 + box_h), rng)
        jitter = np.clip(np.asarray(colour) * rng.uniform(0.85, 1.1) + rng.normal(0, 8, 3), 0,
                         255)
        shade = _texture(texture, height, width, rng)[..., None]
        canvas = np.where(mask[..., None], jitter * shade + rng.normal(0, 5, canvas.shape),
                          canvas)
        label[mask] = cls
    rgb = np.clip(canvas, 0, 255).astype(np.uint8)
    return rgb, label


def _write_jpeg(path: str, rgb: np.ndarray) -> None:
    with atomic_output(path) as tmp:
        Image.fromarray(rgb).save(tmp, format='JPEG', quality=92)


def write_sbd_mat(path: str, label: np.ndarray) -> None:
    """Write an SBD ``cls`` ``.mat`` file: struct ``GTcls`` with ``Segmentation`` (uint8),
    ``Boundaries`` (a 20x1 cell of sparse boundary masks) and ``CategoriesPresent``, like the real
    files."""
    from scipy.io import savemat
    from scipy.sparse import csc_matrix

    boundaries = np.empty((NUM_VOC_CLASSES - 1, 1), dtype=object)
    edge = void_border(label, 1)
    for cls in range(1, NUM_VOC_CLASSES):
        boundaries[cls - 1, 0] = csc_matrix(edge & (label == cls))
    present = np.array([c for c in np.unique(label) if c != 0], dtype=np.uint8).reshape(-1, 1)
    gtcls = {'Segmentation': label.astype(np.uint8), 'Boundaries': boundaries,
             'CategoriesPresent': present}
    buffer = io.BytesIO()
    savemat(buffer, {'GTcls': gtcls}, do_compression=True)
    data = bytearray(buffer.getvalue())
    # The 116-byte text header holds a creation time; a fixed one keeps the demo byte-identical.
    data[:MAT_HEADER_TEXT_BYTES] = MAT_HEADER_TEXT
    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


# --------------------------------------------------------------------------------------------------
# trees and archives
# --------------------------------------------------------------------------------------------------
def _write_voc_tree(root: str, ids: Sequence[str], train: Sequence[str], val: Sequence[str],
                    images: Dict[str, np.ndarray], labels: Dict[str, np.ndarray]) -> None:
    """A ``VOCdevkit/VOC20xx`` tree: all ``ids`` as JPEGs, labels for the segmentation sets."""
    for image_id in ids:
        _write_jpeg(osp.join(root, 'JPEGImages', f'{image_id}.jpg'), images[image_id])
    for image_id in sorted(set(train) | set(val)):
        voc_label = labels[image_id].copy()
        voc_label[void_border(voc_label)] = VOID_LABEL
        write_voc_label(osp.join(root, 'SegmentationClass', f'{image_id}.png'), voc_label)
    sets = osp.join(root, 'ImageSets', 'Segmentation')
    write_split(osp.join(sets, 'train.txt'), sorted(train))
    write_split(osp.join(sets, 'val.txt'), sorted(val))
    write_split(osp.join(sets, 'trainval.txt'), sorted(set(train) | set(val)))


def _pack(out_dir: str, archive: str, tree: str) -> str:
    """Pack ``out_dir/tree`` like the official archive (deterministic bytes)."""
    path = osp.join(out_dir, archive)
    files = []
    for directory, dirnames, filenames in os.walk(osp.join(out_dir, tree)):
        dirnames.sort()
        files.extend(osp.join(directory, f) for f in sorted(filenames))

    def add_all(tar: tarfile.TarFile) -> None:
        for file in files:
            info = tarfile.TarInfo(osp.relpath(file, out_dir).replace(os.sep, '/'))
            info.size = osp.getsize(file)
            info.mtime, info.mode, info.uid, info.gid = 1325376000, 0o644, 0, 0
            with open(file, 'rb') as f:
                tar.addfile(info, f)

    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as raw:
            if archive.endswith('.tgz'):
                with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0, filename='') as gz:
                    with tarfile.open(fileobj=gz, mode='w', format=tarfile.GNU_FORMAT) as tar:
                        add_all(tar)
            else:
                with tarfile.open(fileobj=raw, mode='w', format=tarfile.GNU_FORMAT) as tar:
                    add_all(tar)
    return path


def make_demo_voc(out_dir: str,
                  num_images: int = 100,
                  seed: int = 0,
                  voc2011: bool = True,
                  archives: bool = False) -> DemoSplits:
    """Write the demo dataset (see the module docstring for the layout).

    Args:
        out_dir: output directory (created; existing demo files are overwritten).
        num_images: number of distinct images (at least 8).
        seed: random seed; the output is a function of ``(num_images, seed)``.
        voc2011: also write the VOC 2011 tree (for seg11valid).
        archives: also pack the trees into the official archive names.

    Returns:
        The splits written.
    """
    rng = np.random.default_rng(seed)
    splits, order = make_splits(num_images, rng)
    images: Dict[str, np.ndarray] = {}
    labels: Dict[str, np.ndarray] = {}
    for index, image_id in enumerate(order):
        images[image_id], labels[image_id] = render_image(seed, index)

    voc_root = osp.join(out_dir, ARCHIVE_LAYOUT['VOCtrainval_11-May-2012.tar'])
    _write_voc_tree(voc_root, order, splits.voc_train, splits.voc_val, images, labels)

    sbd_root = osp.join(out_dir, ARCHIVE_LAYOUT['benchmark.tgz'])
    for image_id in sorted(set(splits.sbd_train) | set(splits.sbd_val)):
        _write_jpeg(osp.join(sbd_root, 'img', f'{image_id}.jpg'), images[image_id])
        write_sbd_mat(osp.join(sbd_root, 'cls', f'{image_id}.mat'), labels[image_id])
    write_split(osp.join(sbd_root, 'train.txt'), splits.sbd_train)
    write_split(osp.join(sbd_root, 'val.txt'), splits.sbd_val)

    if voc2011:
        voc11_root = osp.join(out_dir, ARCHIVE_LAYOUT['VOCtrainval_25-May-2011.tar'])
        old_ids = [i for i in order if int(i[:4]) <= 2011]
        _write_voc_tree(voc11_root, old_ids, splits.voc2011_train, splits.voc2011_val, images,
                        labels)
    if archives:
        for archive, tree in ARCHIVE_LAYOUT.items():
            if voc2011 or '2011' not in archive:
                _pack(out_dir, archive, tree.split('/')[0])
    return splits


def describe(splits: DemoSplits) -> List[str]:
    """Human-readable summary lines of a generated demo."""
    counts = splits.expected_counts()
    return [
        f'images: {len(splits.all_ids)}',
        f'VOC 2012 segmentation: train {len(splits.voc_train)}, val {len(splits.voc_val)}',
        f'SBD: train {len(splits.sbd_train)}, val {len(splits.sbd_val)}',
        f'VOC 2011 segmentation: train {len(splits.voc2011_train)}, '
        f'val {len(splits.voc2011_val)}',
        'prepare_voc will report: ' + ', '.join(f'{k} {v}' for k, v in counts.items()),
    ]

