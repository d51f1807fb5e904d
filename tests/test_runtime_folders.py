"""The deploy runtime on folders as users have them, on a tiny real ONNX model (seconds, not
minutes): inputs checked before anything is written, clashing names refused, resume, shards and
their merge equal to one run, flat memory."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fcn_voc_core.errors import InputError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
def infer(*args, cwd=REPO):
    return subprocess.run([sys.executable, '-m', 'fcn_voc_runtime', *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _metrics(out):
    with open(osp.join(out, 'metrics.json')) as f:
        return json.load(f)


def _expected_hist(labels_dir, images_dir):
    """The confusion matrix computed here: prediction = brightest channel, void not counted."""
    hist = np.zeros((3, 3), np.int64)
    for name in sorted(os.listdir(images_dir)):
        pred = np.array(Image.open(osp.join(images_dir, name))).argmax(-1)
        gt = np.array(Image.open(osp.join(labels_dir, name)))
        keep = gt != 255
        np.add.at(hist, (gt[keep], pred[keep]), 1)
    return hist


@pytest.fixture
def tiny(tmp_path, tiny_deploy, tiny_dataset):
    deploy = tiny_deploy(str(tmp_path / 'deploy'))
    images, labels = tiny_dataset(tmp_path / 'data', 7)
    return deploy, images, labels


def test_a_run_scores_what_the_test_computes(tiny, tmp_path):
    deploy, images, labels = tiny
    out = tmp_path / 'out'
    proc = infer(deploy, images, '--out-dir', out, '--labels', labels)
    assert proc.returncode == 0, proc.stderr
    hist = np.load(out / 'confusion_matrix.npy')
    np.testing.assert_array_equal(hist, _expected_hist(labels, images))
    metrics = _metrics(out)
    assert metrics['labelled_pixels'] == int(hist.sum()) and metrics['images'] == 7
    assert (metrics['backend'], metrics['device_target'], metrics['precision']) == (
        'onnxruntime', 'CPU', 'float32')
    assert metrics['aAcc'] == pytest.approx(100 * np.trace(hist) / hist.sum())
    assert 'onnxruntime on CPU, float32' in proc.stdout


def test_shards_merge_into_the_single_run(tiny, tmp_path):
    deploy, images, labels = tiny
    single = tmp_path / 'single'
    assert infer(deploy, images, '--out-dir', single, '--labels', labels).returncode == 0
    shards = []
    for i in range(3):  # 7 images: slices of 2, 2, 3
        shards.append(tmp_path / f'shard{i}')
        proc = infer(deploy, images, '--out-dir', shards[-1], '--labels', labels, '--shard',
                     f'{i}/3')
        assert proc.returncode == 0, proc.stderr
    names = [json.load(open(s / 'run.json'))['images'] for s in shards]
    assert sorted(sum(names, [])) == sorted(os.listdir(images))  # a partition
    merged = tmp_path / 'merged'
    proc = infer('--merge', *shards, '--out-dir', merged)
    assert proc.returncode == 0, proc.stderr
    assert _metrics(merged) == _metrics(single)  # every key, every value
    np.testing.assert_array_equal(np.load(merged / 'confusion_matrix.npy'),
                                  np.load(single / 'confusion_matrix.npy'))
    # refused: a shard missing, or one given twice
    for bad in (shards[:2], [shards[0], shards[0], shards[1], shards[2]]):
        proc = infer('--merge', *bad, '--out-dir', tmp_path / 'bad')
        assert proc.returncode == 3 and 'Traceback' not in proc.stderr, proc.stderr
    assert not (tmp_path / 'bad' / 'metrics.json').exists()


def test_resume_skips_complete_outputs_only(tiny, tmp_path):
    deploy, images, labels = tiny
    out = tmp_path / 'out'
    assert infer(deploy, images, '--out-dir', out, '--labels', labels).returncode == 0
    first = _metrics(out)
    os.remove(out / 'img003.png')  # an image whose output is missing
    os.remove(out / 'overlays' / 'img005.png')  # and one whose overlay is missing
    untouched = os.stat(out / 'img001.png').st_mtime_ns
    proc = infer(deploy, images, '--out-dir', out, '--labels', labels, '--resume')
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 2 prediction(s)' in proc.stdout and '5 were complete already' in proc.stdout
    assert os.stat(out / 'img001.png').st_mtime_ns == untouched
    assert (out / 'img003.png').is_file() and (out / 'overlays' / 'img005.png').is_file()
    assert _metrics(out) == first


def test_every_input_problem_is_listed_before_anything_is_written(tiny, tmp_path):
    deploy, images, labels = tiny
    open(osp.join(images, 'img000.png'), 'wb').write(b'not a png')  # undecodable
    Image.fromarray(np.zeros((5, 5), np.uint8), 'L').save(osp.join(labels, 'img002.png'))
    Image.fromarray(np.full((24, 32), 7, np.uint8), 'L').save(osp.join(labels, 'img004.png'))
    os.remove(osp.join(labels, 'img006.png'))
    out = tmp_path / 'out'
    proc = infer(deploy, images, '--out-dir', out, '--labels', labels)
    assert proc.returncode == 3, proc.stderr
    err = proc.stderr
    assert '4 problem(s)' in err and 'Traceback' not in err
    for text in ('img000.png: cannot decode image', 'img002.png', '5x5',
                 'img004.png: label values outside 0..2', 'img006.png: no label'):
        assert text in err, text
    assert not out.exists()  # nothing written


def test_names_differing_only_in_extension_are_refused_before_work(tiny, tmp_path):
    deploy, images, labels = tiny
    Image.open(osp.join(images, 'img001.png')).convert('RGB').save(osp.join(images, 'img001.jpg'))
    Image.open(osp.join(images, 'img002.png')).save(osp.join(images, 'img002.bmp'))
    out = tmp_path / 'out'
    proc = infer(deploy, images, '--out-dir', out, '--labels', labels)
    assert proc.returncode == 3
    assert 'img001.jpg and img001.png' in proc.stderr and 'img002.bmp and img002.png' in proc.stderr
    assert not out.exists()
    from fcn_voc_core.fileio import list_images
    with pytest.raises(InputError, match='differ only in their extension'):
        list_images(images)


def test_memory_stays_flat_in_the_number_of_images(tmp_path, tiny_deploy, tiny_dataset):
    """Peak memory of a run over 15 and over 150 images of 256x256 (a run that kept images or
    predictions would grow by ~40 MB)."""
    deploy = tiny_deploy(str(tmp_path / 'deploy'))
    peaks = {}
    for n in (15, 150):
        images, labels = tiny_dataset(tmp_path / f'd{n}', n, size=(256, 256))
        code = ('import resource, sys; from fcn_voc_runtime.__main__ import main; '
                f'code = main([{deploy!r}, {images!r}, "--out-dir", {str(tmp_path / f"o{n}")!r}, '
                f'"--labels", {labels!r}]); '
                'print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); '
                'sys.exit(code)')
        proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        peaks[n] = int(proc.stdout.split('PEAK')[-1].split()[0])  # KiB
    assert peaks[150] - peaks[15] < 15 * 1024, peaks
