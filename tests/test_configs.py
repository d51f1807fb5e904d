"""Every config under configs/ builds, takes one training step and predicts on a tiny input.

The VGG-16 configs with fc6/fc7 narrowed to 64 channels (conftest's ``narrow_fc``): the rest of each
config is what it ships; the full-width networks are built with their published parameter counts
by tools/analysis_tools/model_summary.py (run by the demo test).
"""
import glob
import os.path as osp

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT) for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                                                 recursive=True)
    if '_base_' not in p)


def test_expected_configs_exist():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'fcn32s_vgg16_voc.py', 'fcn16s_vgg16_voc.py', 'fcn8s_vgg16_voc.py',
            'fcn8s-atonce_vgg16_voc.py', 'fcn8s_vgg16bn_voc.py',
            'fcn8s_vgg16_4xb4-40k_voc12aug-512x512.py'} <= names


def _tiny_batch(num_classes, size=(64, 64), n=2):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, *size), generator=gen, dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, *size), generator=gen)
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=label),
                                     metainfo=dict(img_shape=size, ori_shape=size)))
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_one_step_and_predicts(config, load_config, narrow_fc):
    from mmengine.dataset import Compose
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import METRICS, MODELS
    cfg = load_config(config)
    assert 'mmseg_fcn_voc' in cfg.custom_imports['imports']
    cfg.model.pop('pretrained', None)  # no downloads: weights are not what is tested here
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    narrow_fc(cfg.model)
    preprocessor = cfg.model.data_preprocessor
    if preprocessor.get('size'):
        preprocessor.size = (64, 64)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        Compose(cfg[key].dataset.pipeline)  # every transform is registered
    METRICS.build(cfg.val_evaluator)

    model = revert_sync_batchnorm(MODELS.build(cfg.model))  # SyncBN needs a process group
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    num_classes = model.decode_head.num_classes
    model.train()
    log_vars = model.train_step(_tiny_batch(num_classes), optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    model.eval()
    with torch.no_grad():
        results = model.val_step(_tiny_batch(num_classes, size=(40, 56), n=1))
    assert results[0].seg_logits.data.shape == (num_classes, 40, 56)
    assert results[0].pred_sem_seg.data.shape == (1, 40, 56)
