# Tests of the generated demo dataset: official layouts and formats, determinism, learnability.
import filecmp
import os
import os.path as osp
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from mmseg_fcn_voc.datasets.voc_format import read_label, read_sbd_mat, read_split
from mmseg_fcn_voc.testing.demo_voc import DEMO_CLASSES, make_demo_voc, render_image, void_border

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VOC = 'VOCdevkit/VOC2012'
SBD = 'benchmark_RELEASE/dataset'
VOC11 = 'TrainVal/VOCdevkit/VOC2011'


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    splits = make_demo_voc(str(out), num_images=24, seed=5, archives=True)
    return out, splits


def ids_in(folder, suffix):
    return sorted(f[:-len(suffix)] for f in os.listdir(folder) if f.endswith(suffix))


def test_official_layout_and_splits(demo):
    out, s = demo
    sets = out / VOC / 'ImageSets/Segmentation'
    assert read_split(sets / 'train.txt') == s.voc_train
    assert read_split(sets / 'val.txt') == s.voc_val
    assert read_split(sets / 'trainval.txt') == sorted(s.voc_train + s.voc_val)
    assert read_split(out / SBD / 'train.txt') == s.sbd_train
    assert read_split(out / SBD / 'val.txt') == s.sbd_val
    assert read_split(out / VOC11 / 'ImageSets/Segmentation/val.txt') == s.voc2011_val
    # every image is in VOC 2012 JPEGImages; labels exactly for the listed ids
    assert ids_in(out / VOC / 'JPEGImages', '.jpg') == s.all_ids
    assert ids_in(out / VOC / 'SegmentationClass', '.png') == sorted(s.voc_train + s.voc_val)
    sbd_ids = sorted(s.sbd_train + s.sbd_val)
    assert ids_in(out / SBD / 'cls', '.mat') == sbd_ids
    assert ids_in(out / SBD / 'img', '.jpg') == sbd_ids
    # the structure of the real data
    assert not set(s.voc_train) & set(s.voc_val) and not set(s.sbd_train) & set(s.sbd_val)
    assert all(int(i[:4]) <= 2011 for i in sbd_ids)  # SBD is built from VOC 2011
    assert set(s.voc2011_val) <= set(s.voc_val) and set(s.voc2011_train) <= set(s.voc_train)
    assert set(s.voc_val) & set(s.sbd_train)  # some VOC val in SBD train: out of seg11valid
    assert set(s.voc_train) - set(sbd_ids)  # some VOC train images not in SBD
    counts = s.expected_counts()
    assert all(v > 0 for v in counts.values())
    assert counts['seg11valid'] < len(s.voc2011_val)


def test_formats(demo):
    out, s = demo
    sizes = set()
    present = set()
    for image_id in s.voc_train + s.voc_val:
        with Image.open(out / VOC / 'JPEGImages' / f'{image_id}.jpg') as img:
            assert img.format == 'JPEG' and img.mode == 'RGB'
            sizes.add(img.size)
        with Image.open(out / VOC / 'SegmentationClass' / f'{image_id}.png') as lbl:
            assert lbl.mode == 'P' and lbl.size == img.size
        label = read_label(out / VOC / 'SegmentationClass' / f'{image_id}.png')
        present |= set(np.unique(label).tolist())
        assert (label == 255).any()  # void border around objects
        if image_id in s.sbd_train + s.sbd_val:
            sbd = read_sbd_mat(out / SBD / 'cls' / f'{image_id}.mat')
            assert 255 not in sbd  # SBD has no void border
            keep = label != 255
            np.testing.assert_array_equal(sbd[keep], label[keep])
            np.testing.assert_array_equal(label == 255, void_border(sbd))
    assert present <= {0, 255} | set(DEMO_CLASSES)
    assert len(present) >= 4
    widths_heights = [v for size in sizes for v in size]
    assert min(widths_heights) >= 64 and max(widths_heights) <= 160
    assert len(sizes) > 5 and any(v % 2 for v in widths_heights)  # irregular, odd sizes too


def test_sbd_mat_has_the_real_struct_fields(demo):
    from scipy.io import loadmat
    out, s = demo
    mat = loadmat(out / SBD / 'cls' / f'{s.sbd_train[0]}.mat')
    gtcls = mat['GTcls'][0, 0]
    assert set(gtcls.dtype.names) == {'Segmentation', 'Boundaries', 'CategoriesPresent'}
    assert gtcls['Segmentation'].dtype == np.uint8
    assert gtcls['Boundaries'].shape == (20, 1)
    seg = gtcls['Segmentation']
    np.testing.assert_array_equal(
        np.sort(gtcls['CategoriesPresent'].ravel()), [c for c in np.unique(seg) if c])


def test_archives_hold_the_official_member_paths(demo):
    out, s = demo
    with tarfile.open(out / 'VOCtrainval_11-May-2012.tar') as tar:
        names = tar.getnames()
    assert f'{VOC}/JPEGImages/{s.voc_train[0]}.jpg' in names
    assert f'{VOC}/ImageSets/Segmentation/val.txt' in names
    with tarfile.open(out / 'benchmark.tgz', 'r:gz') as tar:
        names = tar.getnames()
    assert f'{SBD}/cls/{s.sbd_val[0]}.mat' in names and f'{SBD}/train.txt' in names
    with tarfile.open(out / 'VOCtrainval_25-May-2011.tar') as tar:
        assert f'{VOC11}/ImageSets/Segmentation/val.txt' in tar.getnames()


def test_deterministic_by_seed(demo, tmp_path, monkeypatch):
    out, _ = demo
    import time
    monkeypatch.setattr(time, 'asctime', lambda *args: 'Thu Jan  1 00:00:00 1970')  # .mat headers
    make_demo_voc(str(tmp_path / 'again'), num_images=24, seed=5, archives=True)
    for name in ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz', 'VOCtrainval_25-May-2011.tar'):
        assert filecmp.cmp(out / name, tmp_path / 'again' / name, shallow=False), name
    a, la = render_image(5, 0)
    b, lb = render_image(6, 0)
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_content_is_learnable_from_colour_alone(demo):
    """A nearest-mean-colour pixel classifier fitted on train_aug-like images already gets most
    object pixels of val right: a small FCN has an easy start."""
    out, s = demo
    train = [i for i in s.voc_train + s.sbd_train + s.sbd_val if i not in s.voc_val]
    classes = [0] + sorted(DEMO_CLASSES)
    sums = {c: np.zeros(3) for c in classes}
    counts = {c: 0 for c in classes}
    for image_id in train:
        rgb = np.asarray(Image.open(out / VOC / 'JPEGImages' / f'{image_id}.jpg'), np.float64)
        label = read_sbd_mat(out / SBD / 'cls' / f'{image_id}.mat') if osp.isfile(
            out / SBD / 'cls' / f'{image_id}.mat') else read_label(
                out / VOC / 'SegmentationClass' / f'{image_id}.png')
        for c in classes:
            sums[c] += rgb[label == c].sum(0)
            counts[c] += int((label == c).sum())
    means = np.stack([sums[c] / max(counts[c], 1) for c in classes])
    right = total = 0
    for image_id in s.voc_val:
        rgb = np.asarray(Image.open(out / VOC / 'JPEGImages' / f'{image_id}.jpg'), np.float64)
        label = read_label(out / VOC / 'SegmentationClass' / f'{image_id}.png')
        pred = np.asarray(classes)[np.argmin(
            ((rgb[..., None, :] - means[None, None]) ** 2).sum(-1), axis=-1)]
        objects = (label != 0) & (label != 255)
        right += int((pred[objects] == label[objects]).sum())
        total += int(objects.sum())
    assert total > 0 and right / total > 0.8


def test_too_few_images_refused(tmp_path):
    with pytest.raises(ValueError, match='at least 8'):
        make_demo_voc(str(tmp_path), num_images=3)


@pytest.mark.slow
def test_cli(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    run = subprocess.run([
        sys.executable, osp.join(REPO, 'tools/dataset_converters/make_demo_voc.py'), '--out-dir',
        str(tmp_path / 'd'), '--num-images', '12', '--seed', '1', '--no-voc2011'
    ], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert 'prepare_voc will report' in run.stdout
    assert (tmp_path / 'd' / VOC / 'ImageSets/Segmentation/train.txt').is_file()
    assert not (tmp_path / 'd' / 'TrainVal').exists()
    bad = subprocess.run([
        sys.executable, osp.join(REPO, 'tools/dataset_converters/make_demo_voc.py'), '--out-dir',
        str(tmp_path / 'e'), '--num-images', '2'
    ], env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and 'at least 8' in bad.stderr
