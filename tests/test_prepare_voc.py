# Tests of prepare_voc on generated data in the official layouts: folders and archives, the derived
# lists, counts, idempotence, resumption, every bad-input case, and the CLI.
import filecmp
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from mmseg_fcn_voc.data_prep.errors import DataPreparationError
from mmseg_fcn_voc.data_prep.layout import PREPARED_LISTS
from mmseg_fcn_voc.data_prep.pipeline import PrepareOptions, prepare_voc
from mmseg_fcn_voc.data_prep.sources import SBD as SBD_KIND
from mmseg_fcn_voc.data_prep.sources import SourceError, extract_archive
from mmseg_fcn_voc.data_prep.splits import SourceSplits, compare_counts, derive_lists
from mmseg_fcn_voc.datasets.voc_format import read_label, read_sbd_mat, read_split, write_voc_label
from mmseg_fcn_voc.testing.demo_voc import make_demo_voc

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SETS = 'VOC2012/ImageSets/Segmentation'


@pytest.fixture(scope='module')
def raw(tmp_path_factory):
    """A generated raw dataset (folders and archives) and its splits."""
    root = tmp_path_factory.mktemp('raw')
    splits = make_demo_voc(str(root), num_images=20, seed=1, archives=True)
    return root, splits


def folder_options(root, out, **kwargs):
    return PrepareOptions(out_dir=str(out), voc=str(root / 'VOCdevkit'),
                          sbd=str(root / 'benchmark_RELEASE'), voc2011=str(root / 'TrainVal'),
                          nproc=kwargs.pop('nproc', 1), **kwargs)


def archive_options(root, out, **kwargs):
    return PrepareOptions(out_dir=str(out), voc=str(root / 'VOCtrainval_11-May-2012.tar'),
                          sbd=str(root / 'benchmark.tgz'),
                          voc2011=str(root / 'VOCtrainval_25-May-2011.tar'),
                          nproc=kwargs.pop('nproc', 1), **kwargs)


def run(options):
    """prepare_voc, and the lines it logged."""
    import logging
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger('mmseg_fcn_voc')
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        result = prepare_voc(options)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return result, lines


def all_files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.fixture
def copy_raw(raw, tmp_path):
    """A private copy of the raw folders, to damage."""
    root, splits = raw
    for name in ('VOCdevkit', 'benchmark_RELEASE', 'TrainVal'):
        shutil.copytree(root / name, tmp_path / 'raw' / name)
    return tmp_path / 'raw', splits


# --------------------------------------------------------------------------------------------------
# layout, lists, labels, counts
# --------------------------------------------------------------------------------------------------
def test_folders_prepare_the_mmseg_layout(raw, tmp_path):
    root, s = raw
    out = tmp_path / 'VOCdevkit'
    result, _ = run(folder_options(root, out, nproc=2))

    # lists, computed independently from the raw split files
    voc_train = set(read_split(root / 'VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt'))
    voc_val = set(read_split(root / 'VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt'))
    sbd_train = set(read_split(root / 'benchmark_RELEASE/dataset/train.txt'))
    sbd_val = set(read_split(root / 'benchmark_RELEASE/dataset/val.txt'))
    voc11_val = set(read_split(root / 'TrainVal/VOCdevkit/VOC2011/ImageSets/Segmentation/val.txt'))
    expected = {
        'train': voc_train, 'val': voc_val, 'trainval': voc_train | voc_val,
        'aug': (sbd_train | sbd_val) - voc_train - voc_val,
        'trainaug': (voc_train | sbd_train | sbd_val) - voc_val,
        'sbd_train': sbd_train, 'sbd_val': sbd_val, 'seg11valid': voc11_val - sbd_train,
    }
    for name, ids in expected.items():
        assert set(read_split(out / SETS / f'{name}.txt')) == ids, name
        assert result.counts[name] == len(ids)
    assert sorted(expected) == sorted(n[:-4] for n in PREPARED_LISTS)
    assert {k: result.counts[k] for k in s.expected_counts() if k != 'train_aug'} == {
        k: v for k, v in s.expected_counts().items() if k != 'train_aug'}
    assert result.counts['trainaug'] == s.expected_counts()['train_aug']

    # every list's (image, label) exists; labels are the right ones
    for name, label_dir in PREPARED_LISTS.items():
        for i in read_split(out / SETS / name):
            assert (out / 'VOC2012/JPEGImages' / f'{i}.jpg').is_file()
            assert (out / 'VOC2012' / label_dir / f'{i}.png').is_file()
    for i in sbd_train | sbd_val:
        np.testing.assert_array_equal(
            read_label(out / 'VOC2012/SegmentationClassSBD' / f'{i}.png'),
            read_sbd_mat(root / 'benchmark_RELEASE/dataset/cls' / f'{i}.mat'))
    for i in expected['trainaug']:
        aug = out / 'VOC2012/SegmentationClassAug' / f'{i}.png'
        source = (root / 'VOCdevkit/VOC2012/SegmentationClass' / f'{i}.png'
                  if i in voc_train else out / 'VOC2012/SegmentationClassSBD' / f'{i}.png')
        assert filecmp.cmp(aug, source, shallow=False)
    # VOC's own labels keep their void border in the Aug folder
    assert any(255 in read_label(out / 'VOC2012/SegmentationClassAug' / f'{i}.png')
               for i in voc_train)

    # the SBD folder is linked for the .mat configs; report written; no temporaries
    assert osp.samefile(out / 'SBD', root / 'benchmark_RELEASE/dataset')
    report = (out / 'prepare_voc_report.txt').read_text()
    assert 'trainaug.txt' in report and 'MISMATCH' in report and '--strict-counts' in report
    assert len(result.mismatches) == len(result.counts)
    assert not [f for f in all_files(out / 'VOC2012') if '.tmp-' in f]


def test_archives_give_the_same_output_as_folders(raw, tmp_path):
    root, _ = raw
    run(folder_options(root, tmp_path / 'a'))
    _, lines = run(archive_options(root, tmp_path / 'b'))
    assert any('extracted' in line for line in lines)
    files_a, files_b = all_files(tmp_path / 'a' / 'VOC2012'), all_files(tmp_path / 'b' / 'VOC2012')
    assert files_a == files_b
    for rel in files_a:
        assert filecmp.cmp(tmp_path / 'a/VOC2012' / rel, tmp_path / 'b/VOC2012' / rel,
                           shallow=False), rel
    # the archive's SBD lands in OUT/SBD itself (only what is needed: cls, img, lists)
    assert sorted(os.listdir(tmp_path / 'b' / 'SBD')) == ['cls', 'img', 'train.txt', 'val.txt']
    assert not osp.islink(tmp_path / 'b' / 'SBD')


def test_rerun_is_idempotent(raw, tmp_path):
    root, _ = raw
    out = tmp_path / 'out'
    run(archive_options(root, out))
    labels = out / 'VOC2012/SegmentationClassSBD'
    before = {f: os.stat(labels / f).st_mtime_ns for f in os.listdir(labels)}
    first_lists = {n: (out / SETS / n).read_text() for n in PREPARED_LISTS}
    _, lines = run(archive_options(root, out))
    assert sum('already extracted' in line for line in lines) == 3
    assert any(line.startswith('JPEGImages: 0 placed') for line in lines)
    assert any(line.startswith('SegmentationClassSBD: 0 converted') for line in lines)
    assert any(line.startswith('SegmentationClassAug: 0 placed') for line in lines)
    assert before == {f: os.stat(labels / f).st_mtime_ns for f in os.listdir(labels)}
    assert first_lists == {n: (out / SETS / n).read_text() for n in PREPARED_LISTS}


def test_rerun_redoes_missing_stale_and_half_written_files(raw, tmp_path):
    root, s = raw
    src = tmp_path / 'raw'
    shutil.copytree(root / 'benchmark_RELEASE', src / 'benchmark_RELEASE')
    out = tmp_path / 'out'
    opts = PrepareOptions(out_dir=str(out), voc=str(root / 'VOCdevkit'),
                          sbd=str(src / 'benchmark_RELEASE'), nproc=1)
    run(opts)
    labels = out / 'VOC2012/SegmentationClassSBD'
    (labels / f'{s.sbd_train[0]}.png').unlink()  # lost
    mat = src / 'benchmark_RELEASE/dataset/cls' / f'{s.sbd_train[1]}.mat'
    os.utime(mat, ns=(os.stat(mat).st_atime_ns, os.stat(labels / f'{s.sbd_train[1]}.png')
                      .st_mtime_ns + 10**9))  # the source changed after the conversion
    stale = labels / f'.{s.sbd_train[2]}.png.tmp-99999'  # a killed writer's leftover
    stale.write_bytes(b'\x89PNG half')
    _, lines = run(opts)
    assert any(line.startswith('SegmentationClassSBD: 2 converted') for line in lines)
    assert not stale.exists()
    np.testing.assert_array_equal(read_label(labels / f'{s.sbd_train[0]}.png'),
                                  read_sbd_mat(src / 'benchmark_RELEASE/dataset/cls' /
                                               f'{s.sbd_train[0]}.mat'))


def test_interrupted_extraction_resumes(raw, tmp_path):
    root, _ = raw
    archive = str(root / 'benchmark.tgz')
    size = os.path.getsize(archive)

    def interrupt(position, total):
        if position > size // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_archive(SBD_KIND, archive, str(tmp_path), progress=interrupt)
    partial = all_files(tmp_path / 'SBD')
    assert partial and not [f for f in partial if '.tmp-' in f]
    assert not (tmp_path / '.prepare_voc').exists()  # not marked complete
    # a file truncated by some other tool is redone too (its size differs from the member's)
    victim = tmp_path / 'SBD' / partial[0]
    good = (root / 'benchmark_RELEASE/dataset' / partial[0]).read_bytes()
    victim.write_bytes(good[:10])
    _, written, skipped = extract_archive(SBD_KIND, archive, str(tmp_path))
    assert skipped == len(partial) - 1 and written >= 1
    assert victim.read_bytes() == good
    assert all_files(tmp_path / 'SBD') == sorted(
        rel for rel in all_files(root / 'benchmark_RELEASE/dataset'))
    assert extract_archive(SBD_KIND, archive, str(tmp_path))[1:] == (0, 0)  # stamp: not re-read


# --------------------------------------------------------------------------------------------------
# counts
# --------------------------------------------------------------------------------------------------
#: The official list sizes (VOC 2012 segmentation, SBD, train_aug, the FCN paper's seg11valid),
#: written out here rather than imported from the code under test.
OFFICIAL = {'train': 1464, 'val': 1449, 'trainval': 2913, 'aug': 9118, 'trainaug': 10582,
            'sbd_train': 8498, 'sbd_val': 2857, 'seg11valid': 736}


def test_official_sizes_give_the_official_counts():
    """Synthetic id lists with the official sizes and overlaps give 10,582 / 9,118 / 736."""
    ids = [f'2010_{k:06d}' for k in range(20000)]
    voc_train, voc_val = ids[:1464], ids[1464:2913]
    # SBD: 11,355 images, among them 1,137 of VOC train and 1,100 of VOC val (376 of those in SBD
    # train); the other 9,118 are in neither VOC segmentation set
    voc_val_in_sbd, others = ids[1464:2564], ids[2913:2913 + 9118]
    sbd_train = sorted(ids[327:1464] + voc_val_in_sbd[:376] + others[:6985])
    sbd_val = sorted(voc_val_in_sbd[376:] + others[6985:])
    # VOC 2011 seg val: 1,112 images of VOC val, 376 of them in SBD train
    not_in_sbd_train = sorted(set(voc_val) - set(sbd_train))
    voc2011_val = sorted(voc_val_in_sbd[:376] + not_in_sbd_train[:736])
    assert (len(sbd_train), len(sbd_val), len(voc2011_val)) == (8498, 2857, 1112)
    lists = derive_lists(SourceSplits(voc_train, voc_val, sbd_train, sbd_val, voc2011_val))
    counts = {name: len(v) for name, v in lists.items()}
    # the official sizes, written out: train_aug, VOC val, SBD train, seg11valid (and the rest)
    assert counts == OFFICIAL
    rows, mismatches = compare_counts(counts)
    assert mismatches == [] and all(row[-1] == 'ok' for row in rows)
    assert counts['trainaug'] == 10582 and counts['seg11valid'] == 736


def test_strict_counts_fail_on_the_demo(raw, tmp_path):
    root, _ = raw
    with pytest.raises(DataPreparationError, match='strict-counts') as e:
        run(folder_options(root, tmp_path / 'o', strict_counts=True))
    assert any('trainaug.txt has' in p and '10582' in p for p in e.value.problems)


def test_without_voc2011_no_seg11valid(raw, tmp_path):
    root, _ = raw
    opts = folder_options(root, tmp_path / 'o')
    opts.voc2011 = None
    result, lines = run(opts)
    assert 'seg11valid' not in result.counts
    assert not (tmp_path / 'o' / SETS / 'seg11valid.txt').exists()
    assert any('seg11valid.txt is not written' in line for line in lines)


# --------------------------------------------------------------------------------------------------
# bad input: every problem named by file
# --------------------------------------------------------------------------------------------------
def test_split_file_naming_a_missing_id(copy_raw, tmp_path):
    root, _ = copy_raw
    train = root / 'VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt'
    train.write_text(train.read_text() + '2099_000001\n')
    sbd_val = root / 'benchmark_RELEASE/dataset/val.txt'
    sbd_val.write_text(sbd_val.read_text() + '2099_000002\n')
    with pytest.raises(DataPreparationError) as e:
        run(folder_options(root, tmp_path / 'o'))
    text = str(e.value)
    assert f"{train}: lists '2099_000001' but its image" in text
    assert f"{train}: lists '2099_000001' but its label" in text
    assert f"{sbd_val}: lists '2099_000002'" in text and '2099_000002.mat does not exist' in text
    assert 'nothing was written' in text
    assert not (tmp_path / 'o' / 'VOC2012').exists()


def test_mat_without_gtcls_fails_the_conversion(copy_raw, tmp_path):
    root, s = copy_raw
    bad = root / 'benchmark_RELEASE/dataset/cls' / f'{s.sbd_val[0]}.mat'
    savemat(str(bad), {'GTinst': {'Segmentation': np.zeros((4, 4), np.uint8)}})
    bad2 = root / 'benchmark_RELEASE/dataset/cls' / f'{s.sbd_train[0]}.mat'
    savemat(str(bad2), {'GTcls': {'Segmentation': np.full((4, 4), 77, np.uint8)}})
    with pytest.raises(DataPreparationError, match='2 SBD label') as e:
        run(folder_options(root, tmp_path / 'o'))
    assert any(p.startswith(f"{bad}: no 'GTcls'") for p in e.value.problems)
    assert any(p.startswith(f'{bad2}: label values outside') for p in e.value.problems)


def damage_everything(root, s):
    """One of each bad-input case; returns the files that must be named."""
    voc = root / 'VOCdevkit/VOC2012'
    undecodable = voc / 'JPEGImages' / f'{s.voc_train[0]}.jpg'
    undecodable.write_bytes(b'not a jpeg at all')
    bad_values = voc / 'SegmentationClass' / f'{s.voc_train[1]}.png'
    label = read_label(bad_values)
    label[0, 0] = 42
    write_voc_label(bad_values, label)
    resized = voc / 'SegmentationClass' / f'{s.voc_val[0]}.png'
    write_voc_label(resized, read_label(resized)[:-3])
    bad_label = voc / 'SegmentationClass' / f'{s.voc_val[1]}.png'
    bad_label.write_bytes(b'\x89PNG\r\n\x1a\nbroken')
    no_gtcls = root / 'benchmark_RELEASE/dataset/cls' / f'{s.sbd_train[0]}.mat'
    savemat(str(no_gtcls), {'something': np.zeros((2, 2))})
    split = voc / 'ImageSets/Segmentation/val.txt'
    split.write_text(split.read_text() + '2099_000003\n')
    return dict(undecodable=undecodable, bad_values=bad_values, resized=resized,
                bad_label=bad_label, no_gtcls=no_gtcls, split=split)


def test_check_lists_every_problem_at_once(copy_raw, tmp_path):
    root, s = copy_raw
    named = damage_everything(root, s)
    with pytest.raises(DataPreparationError) as e:
        run(folder_options(root, tmp_path / 'o', check=True, nproc=2))
    problems = e.value.problems
    expected_starts = {
        'undecodable': f"{named['undecodable']}: cannot decode image",
        'bad_values': f"{named['bad_values']}: label values outside 0..20 and 255: 42",
        'resized': f"{named['resized']}: label size",
        'bad_label': f"{named['bad_label']}: cannot decode label",
        'no_gtcls': f"{named['no_gtcls']}: no 'GTcls' struct",
        'split': f"{named['split']}: lists '2099_000003'",
    }
    for what, start in expected_starts.items():
        assert any(p.startswith(start) for p in problems), (what, problems)
    assert not (tmp_path / 'o' / 'VOC2012').exists()  # nothing written


def test_check_an_already_prepared_directory(raw, tmp_path):
    root, s = raw
    out = tmp_path / 'o'
    run(folder_options(root, out))
    result, _ = run(PrepareOptions(out_dir=str(out), check=True, nproc=1))
    assert result.problems == [] and result.counts['trainaug'] == s.expected_counts()['train_aug']
    aug = out / 'VOC2012/SegmentationClassAug' / f'{s.sbd_val[0]}.png'
    aug.unlink()
    write_voc_label(aug, np.full((3, 3), 99, np.uint8))
    image = out / 'VOC2012/JPEGImages' / f'{s.voc_val[0]}.jpg'
    image.unlink()
    with pytest.raises(DataPreparationError) as e:
        run(PrepareOptions(out_dir=str(out), check=True, nproc=1))
    assert any(p.startswith(f'{aug}: label values outside') for p in e.value.problems)
    assert any(p.startswith(f'{out / SETS / "val.txt"}: lists') and str(image) in p
               for p in e.value.problems)
    with pytest.raises(DataPreparationError, match='nothing prepared'):
        run(PrepareOptions(out_dir=str(tmp_path / 'empty'), check=True))


def test_bad_sources(raw, tmp_path):
    root, _ = raw
    with pytest.raises(SourceError, match='not found'):
        run(PrepareOptions(out_dir=str(tmp_path / 'o'), voc=str(tmp_path / 'nope'),
                           sbd=str(root / 'benchmark_RELEASE')))
    with pytest.raises(SourceError, match=r'not a PASCAL VOC 2012 .* folder.*missing'):
        run(PrepareOptions(out_dir=str(tmp_path / 'o'), voc=str(root / 'benchmark_RELEASE'),
                           sbd=str(root / 'benchmark_RELEASE')))
    fake = tmp_path / 'VOCtrainval_11-May-2012.tar'
    fake.write_bytes(b'\x00' * 10 + b'garbage' * 100)
    with pytest.raises(SourceError, match='not a tar archive'):
        run(PrepareOptions(out_dir=str(tmp_path / 'o'), voc=str(fake),
                           sbd=str(root / 'benchmark_RELEASE')))
    # the VOC 2011 archive given as SBD
    with pytest.raises(SourceError, match=r'not a SBD .* archive'):
        run(PrepareOptions(out_dir=str(tmp_path / 'o'), voc=str(root / 'VOCdevkit'),
                           sbd=str(root / 'VOCtrainval_25-May-2011.tar')))
    with pytest.raises(SourceError, match='give --voc and --sbd'):
        run(PrepareOptions(out_dir=str(tmp_path / 'o')))


def test_folders_accepted_at_any_level(raw, tmp_path):
    root, s = raw
    result, _ = run(PrepareOptions(
        out_dir=str(tmp_path / 'o'), voc=str(root / 'VOCdevkit/VOC2012'),
        sbd=str(root / 'benchmark_RELEASE/dataset'),
        voc2011=str(root / 'TrainVal/VOCdevkit/VOC2011'), nproc=1))
    assert result.counts['seg11valid'] == s.expected_counts()['seg11valid']


def test_copy_and_symlink_modes(raw, tmp_path):
    root, _ = raw
    run(folder_options(root, tmp_path / 'c', link='copy'))
    run(folder_options(root, tmp_path / 's', link='symlink'))
    jpg = sorted(os.listdir(tmp_path / 'c/VOC2012/JPEGImages'))[0]
    copied = tmp_path / 'c/VOC2012/JPEGImages' / jpg
    linked = tmp_path / 's/VOC2012/JPEGImages' / jpg
    assert not osp.islink(copied) and os.stat(copied).st_nlink == 1
    assert osp.islink(linked) and filecmp.cmp(copied, linked, shallow=False)


# --------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------
def cli(*args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.run([sys.executable, osp.join(REPO, 'tools/dataset_converters/prepare_voc.py'), *args],
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cli_on_the_demo(raw, tmp_path):
    root, s = raw
    args = ['--voc', str(root / 'VOCdevkit'), '--sbd', str(root / 'benchmark_RELEASE'),
            '--voc2011', str(root / 'TrainVal'), '--out-dir', str(tmp_path / 'o'), '--nproc', '2']
    ok = cli(*args, '--check')
    assert ok.returncode == 0, ok.stderr
    assert re.search(rf"\| trainaug\.txt +\| +{s.expected_counts()['train_aug']} \| +10582 \| "
                     r"MISMATCH \|", ok.stdout), ok.stdout
    assert 'WARNING' in ok.stdout
    strict = cli(*args, '--strict-counts')
    assert strict.returncode == 1 and 'strict-counts' in strict.stderr
    checked = cli('--out-dir', str(tmp_path / 'o'), '--check')
    assert checked.returncode == 0 and '0 problem(s)' in checked.stdout
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(
        tmp_path / 'o/VOC2012/SegmentationClass' / f'{s.voc_val[0]}.png')
    broken = cli('--out-dir', str(tmp_path / 'o'), '--check')
    assert broken.returncode == 1
    assert f'{s.voc_val[0]}.png: label must be a palette' in broken.stderr
