"""The host runtime's command called in this process (``fcn_voc_runtime.__main__.main``) on tiny
real ONNX models whose predictions the tests compute by hand: a 1x1 convolution, so each pixel's
class scores are ``W @ ((pixel - mean) / std) + b`` of its channels in the network's order.

Fast (no torch, no export), so that mutation testing (``tools/mutation.sh``) sees the runtime's
code run; each test pins one promise: predictions and scores, gears, refusals before work, shards
and their merge, resume, overlays, the console helpers.
"""
import csv
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from fcn_voc_runtime.__main__ import main

#: (K, 3) class weights, biases, mean and std on 0-255 values: every term matters for the argmax
NET = dict(weights=[[0.0, 0.0, 0.0], [1.5, -0.5, 0.0], [-0.5, 0.25, 1.25], [0.3, 0.3, 0.3]],
           bias=[0.2, 0.0, -0.1, -0.4], mean=(120.0, 110.0, 100.0), std=(60.0, 50.0, 40.0))
K = 4
SIZES = [(15, 20), (20, 13), (9, 9)]


def scores_by_hand(rgb, order='RGB'):
    """(K, H, W) float64 class scores of the tiny network for an (H, W, 3) uint8 RGB image."""
    pixels = rgb.astype(np.float64)[..., ::-1] if order == 'BGR' else rgb.astype(np.float64)
    x = (pixels - np.array(NET['mean'])) / np.array(NET['std'])
    return np.einsum('kc,hwc->khw', np.array(NET['weights']), x) + np.array(NET['bias'])[:, None,
                                                                                         None]


def classes_by_hand(rgb, order='RGB'):
    return scores_by_hand(rgb, order).argmax(0).astype(np.uint8)


def clear_margin(rgb, order='RGB'):
    """Pixels whose best two scores differ by more than float32 rounding could change."""
    top = np.sort(scores_by_hand(rgb, order), axis=0)
    return top[-1] - top[-2] > 1e-3


def hist_by_hand(gt, pred):
    hist = np.zeros((K, K), np.int64)
    keep = gt != 255
    np.add.at(hist, (gt[keep].astype(int), pred[keep].astype(int)), 1)
    return hist


@pytest.fixture
def scene(tmp_path):
    """Images of several sizes (PNG: the test knows every pixel) and labels: the hand-computed
    prediction with a tenth of the pixels changed and a void top row."""
    rng = np.random.default_rng(3)
    images, labels = tmp_path / 'images', tmp_path / 'labels'
    images.mkdir()
    labels.mkdir()
    pictures = {}
    for i, size in enumerate(SIZES):
        rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        label = classes_by_hand(rgb)
        label[rng.random(size) < 0.1] = rng.integers(0, K)
        label[0] = 255
        Image.fromarray(rgb).save(images / f'im{i}.png')
        Image.fromarray(label, 'L').save(labels / f'im{i}.png')
        pictures[f'im{i}'] = (rgb, label)
    return str(images), str(labels), pictures


def deploy(tmp_path, tiny_deploy, name='deploy', **kwargs):
    return tiny_deploy(str(tmp_path / name), **NET, **kwargs)


def run(*args):
    return main([str(a) for a in args])


def read_json(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize('order,divisor', [('RGB', 1), ('BGR', 8)])
def test_predictions_and_scores_equal_the_closed_form(tmp_path, tiny_deploy, scene, capsys,
                                                      order, divisor):
    images, labels, pictures = scene
    folder = deploy(tmp_path, tiny_deploy, channel_order=order, size_divisor=divisor)
    out = tmp_path / 'out'
    assert run(folder, images, '--out-dir', out, '--labels', labels) == 0
    hist = np.zeros((K, K), np.int64)
    for stem, (rgb, gt) in pictures.items():
        with Image.open(out / f'{stem}.png') as png:
            assert png.mode == 'P' and png.getpalette()[:3 * K] == [
                0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
            pred = np.array(png)
        assert pred.shape == rgb.shape[:2]
        clear = clear_margin(rgb, order)
        np.testing.assert_array_equal(pred[clear], classes_by_hand(rgb, order)[clear])
        hist += hist_by_hand(gt, pred)
    np.testing.assert_array_equal(np.load(out / 'confusion_matrix.npy'), hist)
    with open(out / 'confusion_matrix.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['gt \\ pred', 'background', 'red', 'green', 'blue']
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == hist.tolist()
    metrics = read_json(out / 'metrics.json')
    diag, gt_total, pred_total = np.diag(hist), hist.sum(1), hist.sum(0)
    iou = diag / (gt_total + pred_total - diag)
    assert metrics['aAcc'] == pytest.approx(100 * diag.sum() / hist.sum())
    assert metrics['mAcc'] == pytest.approx(100 * np.mean(diag / gt_total))
    assert metrics['mIoU'] == pytest.approx(100 * np.mean(iou))
    assert metrics['fwIoU'] == pytest.approx(100 * np.sum(gt_total / hist.sum() * iou))
    assert metrics['IoU.green'] == pytest.approx(100 * iou[2])
    assert metrics['images'] == 3 and metrics['labelled_pixels'] == hist.sum()
    printed = capsys.readouterr().out
    assert f'aAcc {metrics["aAcc"]:.2f}  mAcc {metrics["mAcc"]:.2f}  mIoU {metrics["mIoU"]:.2f}' \
        in printed and 'onnxruntime on CPU, float32' in printed
    record = read_json(out / 'run.json')
    assert record['images'] == ['im0.png', 'im1.png', 'im2.png'] and record['shard'] == [0, 1]
    assert record['labelled'] is True and record['model_sha256'] == read_json(
        osp.join(folder, 'deploy.json'))['model']['sha256']


def test_gears_pad_and_crop_and_refuse_larger_images(tmp_path, tiny_deploy, scene, capsys):
    images, _, pictures = scene
    folder = deploy(tmp_path, tiny_deploy, gears=[(16, 24), (24, 16), (32, 32)])
    out = tmp_path / 'out'
    assert run(folder, images, '--out-dir', out) == 0
    for stem, (rgb, _) in pictures.items():
        pred = np.array(Image.open(out / f'{stem}.png'))
        clear = clear_margin(rgb)
        np.testing.assert_array_equal(pred[clear], classes_by_hand(rgb)[clear])
    assert not osp.exists(out / 'metrics.json')  # no labels: nothing scored
    Image.fromarray(np.zeros((40, 10, 3), np.uint8)).save(osp.join(images, 'tall.png'))
    assert run(folder, images, '--out-dir', tmp_path / 'out2') == 3
    err = capsys.readouterr().err
    assert 'tall.png: 40x10' in err and '16x24, 24x16, 32x32' in err
    assert not osp.exists(tmp_path / 'out2')


def damage(kind, images, labels):
    if kind == 'missing label':
        os.remove(osp.join(labels, 'im1.png'))
        return 'im1.png: no label'
    if kind == 'label value':
        label = np.array(Image.open(osp.join(labels, 'im2.png')))
        label[3, 3] = 9
        Image.fromarray(label, 'L').save(osp.join(labels, 'im2.png'))
        return 'label values outside 0..3 and 255: 9'
    if kind == 'label size':
        Image.fromarray(np.zeros((5, 5), np.uint8), 'L').save(osp.join(labels, 'im0.png'))
        return 'label size 5x5 (WxH) differs from image'
    with open(osp.join(images, 'im0.png'), 'r+b') as f:  # truncated image
        f.truncate(60)
    return 'im0.png: cannot decode image'


@pytest.mark.parametrize('kind', ['missing label', 'label value', 'label size', 'truncated'])
def test_bad_inputs_are_refused_before_anything_is_written(tmp_path, tiny_deploy, scene, capsys,
                                                           kind):
    images, labels, _ = scene
    folder = deploy(tmp_path, tiny_deploy)
    message = damage(kind, images, labels)
    out = tmp_path / 'out'
    assert run(folder, images, '--out-dir', out, '--labels', labels) == 3
    err = capsys.readouterr().err
    assert message in err and '1 problem(s) in the inputs; nothing was written' in err
    assert not out.exists()


@pytest.mark.parametrize('case', ['out is images', 'out in labels', 'bad shard', 'shard index',
                                  'no images', 'no labels'])
def test_bad_arguments_exit_3_naming_them(tmp_path, tiny_deploy, scene, capsys, case):
    images, labels, _ = scene
    given = images
    folder = deploy(tmp_path, tiny_deploy)
    out, extra, named = tmp_path / 'out', [], None
    if case == 'out is images':
        out, named = images, '--out-dir'
    elif case == 'out in labels':
        out, extra, named = osp.join(labels, 'preds'), ['--labels', labels], '--labels'
    elif case == 'bad shard':
        extra, named = ['--shard', 'x'], "--shard 'x': expected I/N"
    elif case == 'shard index':
        extra, named = ['--shard', '2/2'], 'I must be 0..N-1'
    elif case == 'no images':
        images, named = str(tmp_path / 'nowhere'), 'nowhere'
    else:
        extra, named = ['--labels', tmp_path / 'nolabels'], 'no such label folder'
    before = {p: open(osp.join(labels, p), 'rb').read() for p in os.listdir(labels)}
    assert run(folder, images, '--out-dir', out, *extra) == 3
    assert named in capsys.readouterr().err
    assert {p: open(osp.join(labels, p), 'rb').read() for p in os.listdir(labels)} == before
    assert sorted(os.listdir(given)) == ['im0.png', 'im1.png', 'im2.png']


@pytest.mark.parametrize('argv', [['--out-dir', 'o'], ['DIR', 'IMAGES', '--merge', 'a', '--out-dir', 'o'],
                                  ['DIR', '--out-dir', 'o']])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_shards_merge_into_the_single_run(tmp_path, tiny_deploy, scene, capsys):
    images, labels, _ = scene
    folder = deploy(tmp_path, tiny_deploy)
    whole = tmp_path / 'whole'
    assert run(folder, images, '--out-dir', whole, '--labels', labels) == 0
    shards = [tmp_path / f's{i}' for i in range(2)]
    for i, shard in enumerate(shards):
        assert run(folder, images, '--out-dir', shard, '--labels', labels, '--shard', f'{i}/2') == 0
    assert [read_json(s / 'run.json')['images'] for s in shards] == [['im0.png'],
                                                                     ['im1.png', 'im2.png']]
    merged = tmp_path / 'merged'
    assert run('--merge', *shards, '--out-dir', merged) == 0
    assert read_json(merged / 'metrics.json') == read_json(whole / 'metrics.json')
    assert f'mIoU {read_json(whole / "metrics.json")["mIoU"]:.2f}' in capsys.readouterr().out
    assert run('--merge', shards[0], '--out-dir', tmp_path / 'm1') == 3  # 1/2 missing
    assert 'do not cover 0..1/2 exactly once' in capsys.readouterr().err
    assert run('--merge', shards[1], shards[1], '--out-dir', tmp_path / 'm2') == 3
    assert 'images scored by another shard too' in capsys.readouterr().err
    assert run('--merge', whole, '--out-dir', tmp_path / 'm3') == 0  # one whole run: itself


def test_resume_redoes_missing_or_damaged_outputs_only(tmp_path, tiny_deploy, scene, capsys):
    images, labels, _ = scene
    folder = deploy(tmp_path, tiny_deploy)
    out = tmp_path / 'out'
    assert run(folder, images, '--out-dir', out, '--labels', labels) == 0
    first = read_json(out / 'metrics.json')
    os.remove(out / 'im0.png')
    with open(out / 'im2.png', 'wb') as f:
        f.write(b'not a png')
    kept = os.stat(out / 'im1.png').st_mtime_ns
    capsys.readouterr()
    assert run(folder, images, '--out-dir', out, '--labels', labels, '--resume') == 0
    assert 'wrote 2 prediction(s)' in capsys.readouterr().out
    assert os.stat(out / 'im1.png').st_mtime_ns == kept
    assert read_json(out / 'metrics.json') == first


def blend_by_hand(rgb, label, opacity):
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.float64)
    mixed = rgb * (1 - opacity) + palette[np.minimum(label, K - 1)] * opacity
    return np.where((label < K)[..., None], np.rint(mixed), rgb).astype(np.uint8)


def test_overlays_show_ground_truth_and_prediction_blended(tmp_path, tiny_deploy, scene):
    images, labels, pictures = scene
    folder = deploy(tmp_path, tiny_deploy)
    out = tmp_path / 'out'
    assert run(folder, images, '--out-dir', out, '--labels', labels, '--overlays',
               '--opacity', 0.25) == 0
    rgb, gt = pictures['im1']
    pred = np.array(Image.open(out / 'im1.png'))
    overlay = np.array(Image.open(out / 'overlays' / 'im1.png'))
    expected = np.concatenate([blend_by_hand(rgb, gt, 0.25), blend_by_hand(rgb, pred, 0.25)], 1)
    np.testing.assert_array_equal(overlay, expected)
    assert not osp.exists(tmp_path / 'plain' / 'overlays')
    assert run(folder, images, '--out-dir', tmp_path / 'plain') == 0
    assert not osp.exists(tmp_path / 'plain' / 'overlays')  # asked for only


def test_max_images_takes_the_first_by_name(tmp_path, tiny_deploy, scene):
    images, _, _ = scene
    folder = deploy(tmp_path, tiny_deploy)
    out = tmp_path / 'out'
    assert run(folder, images, '--out-dir', out, '--max-images', 2, '--workers', 1) == 0
    assert sorted(os.listdir(out)) == ['im0.png', 'im1.png', 'run.json']


def test_text_table_and_progress_lines():
    import io

    from fcn_voc_core.console import Progress, text_table, track
    assert text_table(['class', 'IoU'], [['cat', '1.50'], ['background', '20.00']]) == '\n'.join([
        '+------------+-------+', '| class      |   IoU |', '+------------+-------+',
        '| cat        |  1.50 |', '| background | 20.00 |', '+------------+-------+'])
    stream = io.StringIO()
    assert list(track(iter('abc'), 3, 'items', stream=stream)) == ['a', 'b', 'c']
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith('items [##########....................] 1/3')
    assert lines[2].startswith('items [##############################] 3/3') and 'ETA 0 s' in lines[2]
    stream = io.StringIO()
    with Progress('bytes', 4_000_000, unit='B', stream=stream) as bar:
        for _ in range(4):
            bar.advance(1_000_000)
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith('bytes [##############################] 4.0 MB/4.0 MB')
    assert len(lines) == 4  # one line per twentieth reached, not per update
    stream = io.StringIO()
    with Progress('open-ended', stream=stream) as bar:
        bar.advance(2)
    assert stream.getvalue().splitlines()[-1].startswith('open-ended 2, ')


class _Clock:
    """A stand-in for ``time.perf_counter`` that advances only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_lines_exactly(monkeypatch):
    """The lines by hand at known times: the bar's fill, the count, the rate and the ETA; a
    terminal gets the line redrawn in place (carriage returns, at most every 0.1 s, and always at
    the end) and a final newline."""
    import io

    from fcn_voc_core import console
    clock = _Clock()
    monkeypatch.setattr(console.time, 'perf_counter', clock)
    stream = io.StringIO()
    bar = console.Progress('items', 4, stream=stream, width=8)
    clock.now += 2.0
    bar.advance()  # 1 of 4 after 2 s: 0.5 it/s, 3 left: 6 s
    clock.now += 2.0
    bar.update(3)  # 3 of 4 after 4 s: 0.75 it/s, 1 left: 1.33 s
    bar.close()
    assert stream.getvalue() == ('items [##......] 1/4, 0.50 it/s, ETA 6 s\n'
                                 'items [######..] 3/4, 0.75 it/s, ETA 1 s\n')

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock.now, stream = 0.0, Terminal()
    bar = console.Progress('MB', 10_000_000, unit='B', stream=stream, width=4)
    clock.now += 1.0
    bar.update(2_500_000)          # drawn (first draw)
    clock.now += 0.05
    bar.update(5_000_000)          # not drawn: 0.05 s since the last
    clock.now += 0.05
    bar.update(7_500_000)          # drawn: 0.1 s since the last
    bar.close()                    # drawn again, then the newline
    assert stream.getvalue() == ('\rMB [#...] 2.5 MB/10.0 MB, 2.5 MB/s, ETA 3 s'
                                 '\rMB [###.] 7.5 MB/10.0 MB, 6.8 MB/s, ETA 0 s'
                                 '\rMB [###.] 7.5 MB/10.0 MB, 6.8 MB/s, ETA 0 s\n')
    stream = io.StringIO()         # bytes off a terminal: a line per twentieth of the total
    bar = console.Progress('B', 100_000_000, unit='B', stream=stream)
    for done in (10, 40, 50, 96, 100, 1000):
        bar.update(done * 100_000)  # twentieths 0, 0, 1, 1 (1.92), 2, 20
    bar.close()                    # the last twentieth was drawn already: nothing more
    assert [line.split(', ')[0] for line in stream.getvalue().splitlines()] == [
        'B [' + '.' * 30 + '] 1.0 MB/100.0 MB', 'B [#' + '.' * 29 + '] 5.0 MB/100.0 MB',
        'B [###' + '.' * 27 + '] 10.0 MB/100.0 MB', 'B [' + '#' * 30 + '] 100.0 MB/100.0 MB']
    stream = io.StringIO()         # items off a terminal: a line per item, however many
    assert sum(1 for _ in console.track(range(40), stream=stream)) == 40
    assert len(stream.getvalue().splitlines()) == 40
    stream = io.StringIO()
    assert list(console.track(['a', 'b'], description='listed', stream=stream)) == ['a', 'b']
    assert stream.getvalue().splitlines()[-1].startswith('listed [' + '#' * 30 + '] 2/2, ')


def test_configure_logging_prints_the_projects_records_once(monkeypatch, capsys):
    """From a fresh state: the project's records at INFO and above as bare lines on standard
    output, once however often it is called, not passed on to the root logger; other loggers
    left alone."""
    import logging

    from fcn_voc_core import console
    monkeypatch.setattr(console, '_handler', None)
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level,
                    logging.getLogger(name).propagate) for name in console.PROJECT_LOGGERS}
    for name in console.PROJECT_LOGGERS:  # as in a new process
        logging.getLogger(name).handlers[:] = []
    root_records = []

    class Keep(logging.Handler):
        def emit(self, record):
            root_records.append(record.getMessage())

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        console.configure_logging()
        console.configure_logging()
        logging.getLogger('fcn_voc_runtime.some_module').info('scored %d images', 3)
        logging.getLogger('mmseg_fcn_voc').debug('not shown')
        logging.getLogger('fcn_voc_core').warning('shown')
        assert capsys.readouterr().out == 'scored 3 images\nshown\n'
        assert root_records == []
        assert logging.getLogger('somebody_else').propagate
    finally:
        logging.getLogger().removeHandler(keep)
        for name, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


def test_progress_learns_its_total_late():
    import io

    from fcn_voc_core.console import Progress
    stream = io.StringIO()
    with Progress('late', stream=stream) as bar:
        bar.update(1, total=4)
    assert stream.getvalue().splitlines()[0].startswith('late [' + '#' * 7 + '.' * 23 + '] 1/4, ')


def _square(x):
    return x * x


def test_track_tasks_keeps_the_order_in_worker_processes(capsys):
    from fcn_voc_core.console import track_tasks
    tasks = list(range(7))
    assert track_tasks(_square, tasks, nproc=2, description='squares') == [t * t for t in tasks]
    assert capsys.readouterr().err.splitlines()[-1].startswith('squares [' + '#' * 30 + '] 7/7')
    assert track_tasks(_square, tasks) == [t * t for t in tasks]
    assert track_tasks(_square, [], nproc=2) == []


def test_blend_by_hand_and_what_it_leaves():
    """``blend`` against the formula by hand: the default opacity 0.6, labels outside the palette
    (its length, and 255) left as they are, a label of another size refused naming both."""
    from fcn_voc_core.visualize import blend, colorize, overlay_image
    palette = [[0, 0, 0], [250, 10, 128]]
    image = np.array([[[10, 200, 30], [0, 255, 255], [7, 8, 9], [100, 100, 100]]], np.uint8)
    label = np.array([[0, 1, 2, 255]], np.uint8)
    expected = image.copy()
    for x, cls in ((0, 0), (1, 1)):
        expected[0, x] = np.rint(image[0, x] * 0.4 + np.array(palette[cls]) * 0.6)
    np.testing.assert_array_equal(blend(image, label, palette), expected)
    np.testing.assert_array_equal(colorize(label, palette),
                                  [[[0, 0, 0], [250, 10, 128], [255, 255, 255], [255, 255, 255]]])
    with pytest.raises(ValueError, match=r'image \(1, 4\) and label \(1, 3\) differ in size'):
        blend(image, label[:, :3], palette)
    np.testing.assert_array_equal(overlay_image(image, label, palette),
                                  blend(image, label, palette))  # the same default opacity
    np.testing.assert_array_equal(overlay_image(image, label, palette, gt=label[:, ::-1]),
                                  np.concatenate([blend(image, label[:, ::-1], palette),
                                                  blend(image, label, palette)], axis=1))


def test_a_missing_library_is_one_line_naming_what_to_install():
    from fcn_voc_core.dependencies import MissingDependencyError, require, require_all
    with pytest.raises(MissingDependencyError) as e:
        require('onnxruntime_no_such_build', 'the test')
    assert str(e.value).startswith('onnxruntime_no_such_build (the test) is not installed on '
                                   'this host (ModuleNotFoundError')
    assert str(e.value).endswith('install it: pip install onnxruntime_no_such_build')
    with pytest.raises(MissingDependencyError, match=r"install it: pip install './runtime\["
                       r"mindspore\]'"):
        require('mindspore.no_such_module')
    assert require('numpy') is np
    require_all(('numpy', 'PIL'))
