# Tests of FCNIoUMetric and the paper's formulas, against hand computations, closed forms and mmseg.
import csv
import json
import math
import os
import os.path as osp
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from fcn_voc_core.confusion import save_confusion_matrix
from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion
from mmseg_fcn_voc.evaluation import FCNIoUMetric

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
               'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def sample(gt, pred, name='x.jpg'):
    """A data sample as the Evaluator passes it to ``process``."""
    return dict(
        img_path=name,
        gt_sem_seg=dict(data=torch.as_tensor(gt)[None].long()),
        pred_sem_seg=dict(data=torch.as_tensor(pred)[None].long()))


def reference_hist(gt, pred, n, ignore_index=255):
    """Pixel-by-pixel loop: the definition of the confusion matrix."""
    hist = np.zeros((n, n), np.int64)
    for g, p in zip(np.asarray(gt).ravel(), np.asarray(pred).ravel()):
        if 0 <= g < n and g != ignore_index:
            hist[g, p] += 1
    return hist


def reference_scores(hist):
    """The FCN authors' score.py expressions."""
    hist = hist.astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        acc = np.diag(hist).sum() / hist.sum()
        acc_cls = np.nanmean(np.diag(hist) / hist.sum(1))
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
        mean_iu = np.nanmean(iu)
        freq = hist.sum(1) / hist.sum()
        fwavacc = (freq[freq > 0] * iu[freq > 0]).sum()
    return acc, acc_cls, mean_iu, fwavacc, iu


# --------------------------------------------------------------------------------------------------
# the confusion matrix
# --------------------------------------------------------------------------------------------------
def test_hand_computed_confusion_matrix():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 1], [0, 9, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 1], [0, 0, 2, 2]])
    # (gt, pred) pairs: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) [255 ignored] (1,1) (0,0) [9: outside
    # the 3 classes, ignored] (1,2) (2,2)
    expected = np.array([[2, 1, 0], [0, 3, 1], [1, 0, 2]])
    np.testing.assert_array_equal(confusion_matrix(gt, pred, 3), expected)
    np.testing.assert_array_equal(confusion_matrix(torch.tensor(gt), torch.tensor(pred), 3),
                                  expected)
    assert confusion_matrix(gt, pred, 3).dtype == np.int64


@pytest.mark.parametrize('dtype', [torch.uint8, torch.int32, torch.int64])
def test_confusion_matrix_matches_the_definition(dtype):
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 23, (41, 37))  # 21, 22: outside the classes
    gt[rng.random(gt.shape) < 0.1] = 255
    pred = rng.integers(0, 21, (41, 37))
    got = confusion_matrix(torch.tensor(gt).to(dtype), torch.tensor(pred).to(dtype), 21)
    np.testing.assert_array_equal(got, reference_hist(gt, pred, 21))


def test_negative_labels_and_an_ignore_index_inside_the_classes():
    gt = np.array([-1, 0, 1, 2, 2, 3])
    pred = np.array([0, 0, 1, 2, 1, 0])
    np.testing.assert_array_equal(confusion_matrix(gt, pred, 3), [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    # ignore_index=0 drops the background row only
    np.testing.assert_array_equal(
        confusion_matrix(gt, pred, 3, ignore_index=0), [[0, 0, 0], [0, 1, 0], [0, 1, 1]])


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(np.zeros((2, 3), int), np.zeros((3, 2), int), 3)
    with pytest.raises(ValueError, match=r'predictions must lie in \[0, 3\)'):
        confusion_matrix(np.zeros(4, int), np.array([0, 1, 3, 0]), 3)
    with pytest.raises(ValueError, match='integer'):
        confusion_matrix(np.zeros(4), np.zeros(4), 3)
    assert confusion_matrix(np.zeros((0, ), int), np.zeros((0, ), int), 3).sum() == 0


# --------------------------------------------------------------------------------------------------
# the four metrics
# --------------------------------------------------------------------------------------------------
def test_closed_form_scores_and_nan_rules():
    # class 0: 6 gt px, 4 right, 2 predicted as 1; class 1: 2 gt px, both right; class 2: never in
    # gt but predicted twice (from class 3); class 3: 2 gt px, both wrong; class 4: nowhere.
    hist = np.zeros((5, 5), np.int64)
    hist[0, 0], hist[0, 1] = 4, 2
    hist[1, 1] = 2
    hist[3, 2] = 2
    s = scores_from_confusion(hist)
    assert s.pixel_accuracy == pytest.approx(6 / 10)
    np.testing.assert_allclose(s.class_accuracy[:4], [4 / 6, 1, np.nan, 0])
    assert math.isnan(s.class_accuracy[2]) and math.isnan(s.class_accuracy[4])
    # IU = tp / (gt + pred - tp): 4/(6+4-4), 2/(2+4-2), 0/(0+2-0), 0/(2+0-0), 0/0
    np.testing.assert_allclose(s.class_iou[:4], [4 / 6, 2 / 4, 0, 0])
    assert math.isnan(s.class_iou[4])  # absent from both: skipped
    assert s.mean_iou == pytest.approx((4 / 6 + 2 / 4 + 0 + 0) / 4)
    assert s.mean_accuracy == pytest.approx((4 / 6 + 1 + 0) / 3)
    # fw IU: only classes present in the ground truth (0, 1, 3), weighted 6/10, 2/10, 2/10
    assert s.fw_iou == pytest.approx(0.6 * 4 / 6 + 0.2 * 2 / 4 + 0.2 * 0)
    ref = reference_scores(hist)
    assert (s.pixel_accuracy, s.mean_accuracy, s.mean_iou, s.fw_iou) == pytest.approx(ref[:4])


def test_empty_confusion_matrix_is_all_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        s = scores_from_confusion(np.zeros((3, 3), np.int64))
    assert all(math.isnan(v) for v in (s.pixel_accuracy, s.mean_accuracy, s.mean_iou, s.fw_iou))


def test_perfect_prediction():
    hist = np.diag([5, 0, 7])
    s = scores_from_confusion(hist)
    assert (s.pixel_accuracy, s.mean_accuracy, s.mean_iou, s.fw_iou) == (1.0, 1.0, 1.0, 1.0)
    metrics = s.as_percent_dict(['a', 'b', 'c'])
    assert metrics['mIoU'] == 100.0 and math.isnan(metrics['IoU.b']) and metrics['Acc.c'] == 100.0


# --------------------------------------------------------------------------------------------------
# the metric
# --------------------------------------------------------------------------------------------------
def random_samples(seed, count=6, n=21):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h, w = rng.integers(17, 90, 2)
        gt = rng.integers(0, n, (h, w))
        gt[rng.random((h, w)) < 0.15] = 255
        pred = np.where(rng.random((h, w)) < 0.6, np.where(gt == 255, 0, gt),
                        rng.integers(0, n, (h, w)))
        out.append(sample(gt, pred, f'{i}.jpg'))
    return out


def make_metric(**kwargs):
    metric = FCNIoUMetric(**kwargs)
    metric.dataset_meta = dict(classes=VOC_CLASSES)
    return metric


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_agrees_with_mmseg_iou_metric_and_the_formulas(seed):
    from mmseg.evaluation import IoUMetric
    samples = random_samples(seed)
    ours, theirs = make_metric(), IoUMetric()
    theirs.dataset_meta = dict(classes=VOC_CLASSES)
    ours.process({}, samples[:2])
    ours.process({}, samples[2:])
    theirs.process({}, samples)
    got, ref = ours.evaluate(len(samples)), theirs.evaluate(len(samples))
    for key in ('aAcc', 'mAcc', 'mIoU'):
        assert abs(got[key] - ref[key]) <= 0.01, key
    # exactly the paper's formulas on the pixel-by-pixel matrix
    hist = sum(
        reference_hist(s['gt_sem_seg']['data'][0].numpy(), s['pred_sem_seg']['data'][0].numpy(),
                       21) for s in samples)
    acc, acc_cls, mean_iu, fw, iu = reference_scores(hist)
    assert got['aAcc'] == pytest.approx(100 * acc, rel=1e-12)
    assert got['mAcc'] == pytest.approx(100 * acc_cls, rel=1e-12)
    assert got['mIoU'] == pytest.approx(100 * mean_iu, rel=1e-12)
    assert got['fwIoU'] == pytest.approx(100 * fw, rel=1e-12)
    for c, name in enumerate(VOC_CLASSES):
        assert got[f'IoU.{name}'] == pytest.approx(100 * iu[c], rel=1e-12, nan_ok=True)
    assert set(got) == {'aAcc', 'mAcc', 'mIoU', 'fwIoU'} | {f'IoU.{c}' for c in VOC_CLASSES} | {
        f'Acc.{c}' for c in VOC_CLASSES}


def test_hand_computed_case_through_the_metric(capsys):
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 1], [0, 9, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 1], [0, 0, 2, 2]])
    metric = FCNIoUMetric()
    metric.dataset_meta = dict(classes=('bg', 'a', 'b'))
    metric.process({}, [sample(gt, pred)])
    m = metric.evaluate(1)
    # hist [[2,1,0],[0,3,1],[1,0,2]]: rows (gt) 3, 4, 3; columns (pred) 3, 4, 3; acc 7/10;
    # class acc 2/3, 3/4, 2/3; IU 2/(3+3-2), 3/(4+4-3), 2/(3+3-2)
    assert m['aAcc'] == pytest.approx(70.0)
    assert m['mAcc'] == pytest.approx(100 * (2 / 3 + 3 / 4 + 2 / 3) / 3)
    assert m['mIoU'] == pytest.approx(100 * (2 / 4 + 3 / 5 + 2 / 4) / 3)
    assert m['fwIoU'] == pytest.approx(100 * (0.3 * 2 / 4 + 0.4 * 3 / 5 + 0.3 * 2 / 4))
    assert m['IoU.a'] == pytest.approx(60.0) and m['Acc.a'] == pytest.approx(75.0)


def test_absent_classes_are_nan_and_skipped():
    metric = FCNIoUMetric()
    metric.dataset_meta = dict(classes=('bg', 'a', 'b', 'c'))
    gt = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])  # 'b' predicted, never present; 'c' nowhere
    metric.process({}, [sample(gt, pred)])
    m = metric.evaluate(1)
    assert m['IoU.b'] == 0.0 and math.isnan(m['Acc.b'])
    assert math.isnan(m['IoU.c']) and math.isnan(m['Acc.c'])
    assert m['mIoU'] == pytest.approx(100 * (1 / 2 + 1 + 0) / 3)
    assert m['mAcc'] == pytest.approx(100 * (1 / 2 + 1) / 2)


def test_basemetric_contract_and_state_resets():
    """One (n, n) matrix per image in ``results``; ``compute_metrics(results)`` (mmengine's
    contract) equals ``evaluate``; evaluation clears the state."""
    metric = make_metric()
    samples = random_samples(3, count=12)
    for s in samples:
        metric.process({}, [s])
    assert len(metric.results) == 12
    for s, hist in zip(samples, metric.results):
        np.testing.assert_array_equal(hist, reference_hist(
            s['gt_sem_seg']['data'][0].numpy(), s['pred_sem_seg']['data'][0].numpy(), 21))
    direct = metric.compute_metrics(metric.results)
    first = metric.evaluate(12)
    assert first == pytest.approx(direct, nan_ok=True)
    assert metric.results == []
    for s in random_samples(3, count=12):
        metric.process({}, [s])
    assert metric.evaluate(12) == pytest.approx(first, nan_ok=True)


def test_padded_repeat_is_dropped_like_collect_results():
    # On one process DefaultSampler never pads, but a size smaller than what was processed
    # (the last sample a repeat) must drop that last sample, as collect_results would.
    samples = random_samples(4, count=3)
    metric = make_metric()
    metric.process({}, samples + [samples[0]])
    padded = metric.evaluate(3)
    metric.process({}, samples)
    assert padded == pytest.approx(metric.evaluate(3), nan_ok=True)


def test_works_through_the_evaluator_with_seg_data_samples():
    from mmengine.evaluator import Evaluator
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    data_samples = []
    for s in random_samples(5, count=3):
        ds = SegDataSample()
        ds.gt_sem_seg = PixelData(data=s['gt_sem_seg']['data'])
        ds.pred_sem_seg = PixelData(data=s['pred_sem_seg']['data'])
        data_samples.append(ds)
    evaluator = Evaluator(dict(type='FCNIoUMetric'))
    evaluator.dataset_meta = dict(classes=VOC_CLASSES)
    evaluator.process(data_samples)
    m = evaluator.evaluate(3)
    metric = make_metric()
    metric.process({}, data_samples)  # SegDataSample objects directly
    assert m == pytest.approx(metric.evaluate(3), nan_ok=True)


def test_errors_name_the_sample():
    metric = make_metric()
    with pytest.raises(ValueError, match=r'^dog\.jpg: ground truth shape'):
        metric.process({}, [sample(np.zeros((3, 4)), np.zeros((4, 3)), 'dog.jpg')])
    with pytest.raises(ValueError, match=r'^cat\.jpg: predictions must lie'):
        metric.process({}, [sample(np.zeros((3, 4)), np.full((3, 4), 21), 'cat.jpg')])
    with pytest.raises(ValueError, match=r'^cow\.jpg: .*needs both'):
        metric.process({}, [dict(img_path='cow.jpg', pred_sem_seg=dict(data=torch.zeros(1, 2, 2)))])
    no_meta = FCNIoUMetric()
    with pytest.raises(ValueError, match='num_classes'):
        no_meta.process({}, random_samples(0, 1))
    explicit = FCNIoUMetric(num_classes=21)
    explicit.process({}, random_samples(0, 1))
    assert 'IoU.class_20' in explicit.evaluate(1)


def test_registered_and_buildable():
    from mmseg.registry import METRICS
    metric = METRICS.build(dict(type='FCNIoUMetric', ignore_index=255))
    assert isinstance(metric, FCNIoUMetric)


def test_prints_a_per_class_table(capsys):
    import uuid

    from mmengine.logging import MMLogger
    # a new logger each time: an earlier one's handler holds the stream of an earlier capture
    MMLogger.get_instance(f'fcn_table_test_{uuid.uuid4().hex}', log_level='INFO')
    metric = make_metric()
    metric.process({}, random_samples(6, count=2))
    metric.evaluate(2)
    out = capsys.readouterr().out
    assert 'per class results' in out
    for word in ('Class', 'IoU', 'Acc', 'pottedplant', 'aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        assert word in out


# --------------------------------------------------------------------------------------------------
# saved confusion matrices
# --------------------------------------------------------------------------------------------------
def test_save_confusion_matrix_files(tmp_path):
    hist = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 0]])
    paths = save_confusion_matrix(hist, ['bg', 'cat', 'dog'], str(tmp_path), stem='cm')
    with pytest.raises(ValueError, match=r'confusion matrix of shape \(3, 3\) for 2 class names'):
        save_confusion_matrix(hist, ['bg', 'cat'], str(tmp_path / 'other'))
    assert not (tmp_path / 'other').exists()
    np.testing.assert_array_equal(np.load(paths['npy']), hist)
    assert np.load(paths['npy']).dtype == np.int64
    with open(paths['csv'], newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['gt \\ pred', 'bg', 'cat', 'dog']
    assert rows[2] == ['cat', '2', '7', '0']
    from PIL import Image
    with Image.open(paths['png']) as img:
        assert img.format == 'PNG' and min(img.size) > 200


def test_confusion_matrix_picture_shows_each_rows_fractions(tmp_path):
    """The picture read back cell by cell: the grid found from its grey outlines, each cell filled
    white -> dark blue (matplotlib's 'Blues' ends) by the fraction of its ground-truth row, a row
    of a class absent from the labels grey, the percentage written in cells of 0.5% or more
    (white on dark cells over 50%, black otherwise) and nothing in the others."""
    from PIL import Image
    hist = np.array([[600, 393, 5, 2, 0], [2, 2, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 5, 15, 0],
                     [0, 1, 0, 0, 0]])  # a class seen on one pixel only: a row of its own
    n = len(hist)
    paths = save_confusion_matrix(hist, ['background', 'cat', 'dog', 'person', 'cow'],
                                  str(tmp_path))
    with Image.open(paths['png']) as img:
        assert img.mode == 'RGB'
        pixels = np.asarray(img).astype(int)
    outline = np.all(pixels == (200, 200, 200), axis=-1)
    # the grid's lines: rows and columns long runs of the outline grey cross (text, anti-aliased,
    # may touch that grey here and there)
    ys, xs = np.nonzero(outline.sum(axis=1) >= 40)[0], np.nonzero(outline.sum(axis=0) >= 40)[0]
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    assert (bottom - top) == (right - left) and (bottom - top) % n == 0
    cell = (bottom - top) // n
    white, blue = np.array([247, 251, 255]), np.array([8, 48, 107])
    for i in range(n):
        for j in range(n):
            y0, x0 = top + i * cell, left + j * cell
            interior = pixels[y0 + 1:y0 + cell - 1, x0 + 1:x0 + cell - 1]
            fill = interior[1, 1]
            row = hist[i].sum()
            if row == 0:
                np.testing.assert_array_equal(fill, (220, 220, 220), err_msg=f'row {i}')
                assert np.all(interior == fill), f'cell {i},{j} of an absent class has text'
                continue
            fraction = hist[i, j] / row
            np.testing.assert_allclose(fill, white + (blue - white) * fraction, atol=0.51,
                                       err_msg=f'cell {i},{j}')
            text = interior[np.any(interior != fill, axis=-1)]
            if fraction < 0.005:
                assert len(text) == 0, f'cell {i},{j} ({fraction:.4f}) should be blank'
                continue
            assert len(text) > 0, f'cell {i},{j} ({fraction:.4f}) has no percentage'
            # anti-aliased glyphs blend the text colour into the fill: all lighter, or all darker
            lighter = text.sum(axis=-1) > fill.sum()
            if fraction > 0.5:
                assert lighter.all() and text.max(axis=0).min() >= 200, \
                    f'cell {i},{j}: white text expected'
            else:
                assert not lighter.any() and text.max(axis=-1).min() <= 60, \
                    f'cell {i},{j}: black text expected'


def test_format_only_writes_voc_server_pngs_without_ground_truth(tmp_path):
    """VOC evaluation-server submission: one palette PNG per image, named after the image, class
    indices as pixel values, VOC's palette (colours from mmseg's own dataset class); no labels."""
    from mmengine.evaluator import Evaluator
    from mmengine.structures import PixelData
    from mmseg.datasets import PascalVOCDataset
    from mmseg.structures import SegDataSample
    from PIL import Image
    with pytest.raises(ValueError, match='needs output_dir'):
        FCNIoUMetric(format_only=True)
    rng = np.random.default_rng(0)
    preds = {'2008_000001': rng.integers(0, 21, (7, 9)), '2009_000002': rng.integers(0, 21, (5, 4))}
    data_samples = []
    for name, pred in preds.items():
        ds = SegDataSample(metainfo=dict(img_path=f'/data/JPEGImages/{name}.jpg'))
        ds.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])  # no gt_sem_seg
        data_samples.append(ds)
    out = tmp_path / 'results' / 'VOC2012' / 'Segmentation' / 'comp6_test_cls'
    evaluator = Evaluator(dict(type='FCNIoUMetric', format_only=True, output_dir=str(out)))
    evaluator.dataset_meta = PascalVOCDataset.METAINFO
    evaluator.process(data_samples)
    assert evaluator.evaluate(2) == {}
    assert sorted(os.listdir(out)) == ['2008_000001.png', '2009_000002.png']  # nothing else
    for name, pred in preds.items():
        with Image.open(out / f'{name}.png') as img:
            assert img.mode == 'P'
            np.testing.assert_array_equal(np.asarray(img), pred)
            palette = np.asarray(img.getpalette()[:3 * 21]).reshape(21, 3)
        assert palette[1].tolist() == [128, 0, 0] and palette[15].tolist() == [192, 128, 128]
    bad = SegDataSample(metainfo=dict(img_path='/data/bad.jpg'))
    bad.pred_sem_seg = PixelData(data=torch.full((1, 2, 2), 21))
    metric = FCNIoUMetric(format_only=True, output_dir=str(tmp_path / 'bad'))
    metric.dataset_meta = PascalVOCDataset.METAINFO
    with pytest.raises(ValueError, match=r'/data/bad\.jpg: predicted classes must be in \[0, 21\)'):
        metric.process({}, [bad])
    assert not osp.exists(tmp_path / 'bad' / 'bad.png')


def test_metric_saves_into_output_dir_and_the_log_dir(tmp_path):
    from mmengine.logging import MessageHub
    # a fresh current MessageHub: no training iteration recorded by an earlier Runner
    MessageHub.get_instance(f'fcn_metric_save_test_{id(tmp_path)}')
    metric = make_metric(output_dir=str(tmp_path / 'cm'))
    samples = random_samples(7, count=2)
    metric.process({}, samples)
    metric.evaluate(2)
    saved = np.load(tmp_path / 'cm' / 'confusion_matrix.npy')
    expected = sum(
        reference_hist(s['gt_sem_seg']['data'][0].numpy(), s['pred_sem_seg']['data'][0].numpy(),
                       21) for s in samples)
    np.testing.assert_array_equal(saved, expected)
    assert (tmp_path / 'cm' / 'confusion_matrix.png').is_file()

    # without output_dir: beside the current log file (the Runner's work_dir/<timestamp>/)
    from mmengine.logging import MMLogger
    log_dir = tmp_path / 'work_dir' / '20260101_000000'
    log_dir.mkdir(parents=True)
    # a new logger each run: one of an earlier run would hold its own log file
    import uuid
    MMLogger.get_instance(f'fcn_metric_save_test_{uuid.uuid4().hex}',
                          log_file=str(log_dir / 'run.log'))
    metric = make_metric(save_confusion_matrix=True)
    metric.process({}, samples)
    metric.evaluate(2)
    assert sorted(os.listdir(log_dir)) == [
        'confusion_matrix.csv', 'confusion_matrix.npy', 'confusion_matrix.png', 'run.log'
    ]
    # during training the files carry the iteration (RuntimeInfoHook records the last one run)
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 1999)
    hub.update_info('loop_stage', 'val')
    metric.process({}, samples)
    metric.evaluate(2)
    assert (log_dir / 'confusion_matrix_iter2000.npy').is_file()


# --------------------------------------------------------------------------------------------------
# distributed: one matrix per rank, sampler padding dropped
# --------------------------------------------------------------------------------------------------
DIST_SCRIPT = r'''
import json, sys
import numpy as np, torch, torch.distributed as dist
from mmengine.dataset import DefaultSampler
from mmengine.logging import MMLogger
import mmseg_fcn_voc
from mmseg_fcn_voc.evaluation import FCNIoUMetric

dist.init_process_group('gloo')
MMLogger.get_instance('dist_test', log_level='WARNING')
rng = np.random.default_rng(0)
samples = []
for i in range(5):
    gt = rng.integers(0, 4, (9 + i, 7))
    pred = rng.integers(0, 4, (9 + i, 7))
    samples.append(dict(gt_sem_seg=dict(data=torch.tensor(gt)[None]),
                        pred_sem_seg=dict(data=torch.tensor(pred)[None])))
sampler = DefaultSampler(list(range(5)), shuffle=False)  # pads 5 -> 6: rank 1 repeats sample 0
metric = FCNIoUMetric(collect_device=sys.argv[1])
metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
mine = list(sampler)
for index in mine:  # batch size 2 on each rank
    metric.process({}, [samples[index]])
size_of_results = len(metric.results)
out = metric.evaluate(5)
print(json.dumps(dict(rank=dist.get_rank(), indices=mine, metrics=out,
                      results=size_of_results)))
dist.destroy_process_group()
'''


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_ranks_equal_one_process(tmp_path, port):
    script = tmp_path / 'dist_metric.py'
    script.write_text(DIST_SCRIPT)
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), WORLD_SIZE='2',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS='1')
    procs = [
        subprocess.Popen([sys.executable, str(script), 'cpu'],
                         env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert results[0]['indices'] == [0, 2, 4] and results[1]['indices'] == [1, 3, 0]
    assert all(r['results'] == 3 for r in results)  # one matrix per image, padding included
    assert results[0]['metrics'] == results[1]['metrics']  # broadcast

    rng = np.random.default_rng(0)
    single = FCNIoUMetric()
    single.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    for i in range(5):
        gt = rng.integers(0, 4, (9 + i, 7))
        pred = rng.integers(0, 4, (9 + i, 7))
        single.process({}, [sample(gt, pred)])
    expected = single.evaluate(5)
    assert results[0]['metrics'] == pytest.approx(expected, rel=1e-12, nan_ok=True)
