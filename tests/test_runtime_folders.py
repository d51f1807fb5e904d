"""The deploy runtime on folders as users have them, on a tiny real ONNX model (seconds, not
minutes): inputs checked before anything is written, clashing names refused, resume, shards and
their merge equal to one run, flat memory."""
import json
import os
import os.path as osp
import shutil
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


def _metrics_by_hand(hist):
    """aAcc, mAcc, mIoU, fwIoU in percent, from the paper's formulas written out here."""
    hist = hist.astype(np.float64)
    diag, gt, pred, total = np.diag(hist), hist.sum(1), hist.sum(0), hist.sum()
    with np.errstate(divide='ignore', invalid='ignore'):
        acc, iou = diag / gt, diag / (gt + pred - diag)
    freq = gt / total
    return {'aAcc': 100 * diag.sum() / total, 'mAcc': 100 * np.nanmean(acc),
            'mIoU': 100 * np.nanmean(iou), 'fwIoU': 100 * (freq[gt > 0] * iou[gt > 0]).sum()}


def _hist_from_disk(prediction_dirs, labels_dir):
    """The confusion matrix of the prediction PNGs written in ``prediction_dirs`` against the
    label PNGs, each counted once (void not counted)."""
    hist = np.zeros((3, 3), np.int64)
    for folder in prediction_dirs:
        for name in sorted(f for f in os.listdir(folder) if f.startswith('img')):
            pred = np.array(Image.open(osp.join(folder, name)))
            gt = np.array(Image.open(osp.join(labels_dir, name)))
            keep = gt != 255
            np.add.at(hist, (gt[keep], pred[keep]), 1)
    return hist


def _run_shards(deploy, images, labels, out_dirs, count=None):
    """Each ``out_dirs[i]`` scores shard i of ``count`` (default len(out_dirs)), all at once."""
    count = count or len(out_dirs)
    procs = [subprocess.Popen([sys.executable, '-m', 'fcn_voc_runtime', str(deploy), str(images),
                               '--out-dir', str(out), '--labels', str(labels), '--shard',
                               f'{i}/{count}'], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i, out in out_dirs]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err


def test_shards_merge_into_the_metrics_of_their_predictions(tiny, tmp_path):
    """The merged metrics.json equals the metrics computed here from the shards' prediction PNGs
    and the labels on disk (the test's own confusion matrix and formulas), and a single run's."""
    deploy, images, labels = tiny
    single = tmp_path / 'single'
    shards = [tmp_path / f'shard{i}' for i in range(3)]  # 7 images: slices of 2, 2, 3
    _run_shards(deploy, images, labels, list(enumerate(shards)))
    assert infer(deploy, images, '--out-dir', single, '--labels', labels).returncode == 0
    names = [json.load(open(s / 'run.json'))['images'] for s in shards]
    assert sorted(sum(names, [])) == sorted(os.listdir(images))  # a partition
    merged = tmp_path / 'merged'
    proc = infer('--merge', *shards, '--out-dir', merged)
    assert proc.returncode == 0, proc.stderr
    hist = _hist_from_disk(shards, labels)
    assert hist.sum() == sum(int((np.array(Image.open(osp.join(labels, f))) != 255).sum())
                             for f in os.listdir(labels))  # every labelled pixel once
    np.testing.assert_array_equal(np.load(merged / 'confusion_matrix.npy'), hist)
    metrics = _metrics(merged)
    for key, value in _metrics_by_hand(hist).items():
        assert metrics[key] == pytest.approx(value, abs=1e-9), key
    assert metrics['images'] == 7 and metrics['labelled_pixels'] == int(hist.sum())
    assert _metrics(merged) == _metrics(single)  # every key, every value
    for s in shards:  # the shards' own reports too
        np.testing.assert_array_equal(np.load(s / 'confusion_matrix.npy'), _hist_from_disk([s],
                                                                                         labels))
    printed = proc.stdout.split('aAcc')[-1]
    assert f'{_metrics_by_hand(hist)["mIoU"]:.2f}' in printed.split('mIoU')[1].split()[0]


def _variant(deploy, folder, change):
    """A copy of the tiny deploy folder with ``change(deploy_json)`` applied (hashes kept)."""
    shutil.copytree(deploy, folder)
    path = osp.join(folder, 'deploy.json')
    data = json.load(open(path))
    change(data, folder)
    json.dump(data, open(path, 'w'))
    return folder


def _other_model(data, folder):
    """Another ONNX: the same graph with the colour channels scored in another order."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(osp.join(folder, 'tiny.onnx'))
    w = numpy_helper.to_array(model.graph.initializer[0])[[1, 0, 2]]
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, 'w'))
    onnx.save(model, osp.join(folder, 'tiny.onnx'))
    from fcn_voc_runtime.deploy import file_entry
    data['model'].update(file_entry(folder, osp.join(folder, 'tiny.onnx')))


@pytest.mark.parametrize('kind', ['model', 'precision', 'classes'])
def test_merge_refuses_shards_of_another_model_precision_or_classes(tiny, tmp_path, kind):
    deploy, images, labels = tiny
    change = {
        'model': _other_model,
        'precision': lambda d, f: d.update(precision={'dtype': 'int8'}),
        'classes': lambda d, f: d.update(classes=['background', 'rouge', 'vert']),
    }[kind]
    other = _variant(deploy, str(tmp_path / 'other'), change)
    s0, s1 = tmp_path / 's0', tmp_path / 's1'
    _run_shards(deploy, images, labels, [(0, s0)], count=2)
    _run_shards(other, images, labels, [(1, s1)], count=2)
    key = {'model': 'model_sha256', 'precision': 'precision', 'classes': 'classes'}[kind]
    proc = infer('--merge', s0, s1, '--out-dir', tmp_path / 'merged')
    assert proc.returncode == 3 and 'Traceback' not in proc.stderr, proc.stderr
    assert f'{s1}: {key} ' in proc.stderr and 'shards must score one model the same way' in \
        proc.stderr
    assert not (tmp_path / 'merged').exists()


def test_merge_refuses_missing_repeated_and_overlapping_shards(tiny, tmp_path):
    deploy, images, labels = tiny
    shards = [tmp_path / f'of3_{i}' for i in range(3)]
    _run_shards(deploy, images, labels, list(enumerate(shards)))
    halves = [tmp_path / f'of2_{i}' for i in range(2)]
    _run_shards(deploy, images, labels, list(enumerate(halves)))
    unscored = tmp_path / 'unscored'
    assert infer(deploy, images, '--out-dir', unscored, '--shard', '0/1').returncode == 0
    cases = {
        'missing': (shards[:2], 'do not cover 0..2/3 exactly once'),
        'given twice': ([shards[0], shards[0], shards[1], shards[2]], 'scored by another shard'),
        # shard 0 of 3 (images 0-1) and shard 1 of 2 (images 3-6) with 2 of 3: image overlap
        'overlapping': ([shards[0], halves[1], shards[1]], 'scored by another shard'),
        'mixed counts': ([shards[0], halves[1]], 'do not cover'),
        'not scored': ([unscored], 'was not scored'),
        'not an output': ([tmp_path / 'nothing'], 'no run.json'),
    }
    (tmp_path / 'nothing').mkdir()
    for name, (folders, needle) in cases.items():
        proc = infer('--merge', *folders, '--out-dir', tmp_path / 'bad')
        assert proc.returncode == 3 and 'Traceback' not in proc.stderr, (name, proc.stderr)
        assert needle in proc.stderr, (name, proc.stderr)
    assert not (tmp_path / 'bad').exists()


def test_resume_skips_complete_outputs_only(tiny, tmp_path):
    deploy, images, labels = tiny
    out = tmp_path / 'out'
    assert infer(deploy, images, '--out-dir', out, '--labels', labels, '--overlays'
                 ).returncode == 0
    first = _metrics(out)
    os.remove(out / 'img003.png')  # an image whose output is missing
    os.remove(out / 'overlays' / 'img005.png')  # and one whose overlay is missing
    untouched = os.stat(out / 'img001.png').st_mtime_ns
    proc = infer(deploy, images, '--out-dir', out, '--labels', labels, '--resume', '--overlays')
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
