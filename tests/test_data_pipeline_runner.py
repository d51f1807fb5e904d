# End to end through mmengine's Runner: the demo data, prepared by prepare_voc, read by the dataset
# configs, scored by FCNIoUMetric during training (confusion matrices saved per evaluation) and in a
# standalone test run. The model is a tiny mmseg segmentor so this stays CI-sized on 2 CPU cores.
import copy
import os

import pytest
from mmengine.config import Config

from mmseg_fcn_voc.data_prep.pipeline import PrepareOptions, prepare_voc
from mmseg_fcn_voc.testing.demo_voc import make_demo_voc

TINY_MODEL = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[104.00699, 116.66877, 122.67892], std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size_divisor=32),
    backbone=dict(
        type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, num_stages=4,
        out_indices=(3, ), dilations=(1, 1, 1, 1), strides=(1, 2, 2, 2),
        norm_cfg=dict(type='BN', requires_grad=True)),
    decode_head=dict(
        type='FCNHead', in_channels=64, channels=16, num_convs=1, concat_input=False,
        num_classes=21, norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize('dataset_config', ['voc_fcn_paper.py', 'voc_fcn_paper_sbdmat.py'])
def test_train_val_test_with_the_dataset_configs(tmp_path, repo_root, dataset_config):
    from mmengine.runner import Runner
    raw, data_root = tmp_path / 'raw', tmp_path / 'VOCdevkit'
    make_demo_voc(str(raw), num_images=12, seed=4)
    prepare_voc(
        PrepareOptions(out_dir=str(data_root), voc=str(raw / 'VOCdevkit'),
                       sbd=str(raw / 'benchmark_RELEASE'), voc2011=str(raw / 'TrainVal'),
                       nproc=1))

    cfg = Config.fromfile(os.path.join(repo_root, 'configs/_base_/datasets', dataset_config))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = copy.deepcopy(cfg[key])
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
        cfg[key] = loader
    cfg.val_evaluator = dict(type='FCNIoUMetric', save_confusion_matrix=True)
    cfg.test_evaluator = cfg.val_evaluator
    cfg.merge_from_dict(
        dict(
            model=TINY_MODEL,
            work_dir=str(tmp_path / 'work_dir'),
            default_scope='mmseg',
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=4, val_interval=2),
            val_cfg=dict(type='ValLoop'),
            test_cfg=dict(type='TestLoop'),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=4, save_best='mIoU'),
                logger=dict(type='LoggerHook', interval=1)),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            log_level='WARNING'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    scores = runner.test()
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU', 'IoU.person', 'Acc.background'):
        assert key in scores
    log_dir = runner.log_dir
    saved = set(os.listdir(log_dir))
    for stem in ('confusion_matrix_iter2', 'confusion_matrix_iter4', 'confusion_matrix'):
        assert {f'{stem}.npy', f'{stem}.csv', f'{stem}.png'} <= saved, saved
    # the best checkpoint is chosen by the metric's mIoU
    assert any(name.startswith('best_mIoU') for name in os.listdir(runner.work_dir))
