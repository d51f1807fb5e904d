"""Training through mmengine's Runner under torch 2.13: the loss drops, checkpoints resume.

Slow-ish end-to-end runs (a few seconds each on 2 cores): VGG-16 FCN-8s with narrow fc6/fc7
(conftest's ``narrow_fcn_config``) on 24x24 inputs.
"""
import os.path as osp

import pytest
import torch
from torch.utils.data import DataLoader


def _tiny_loader(n=2, size=24):
    """Two fixed images whose labels are a learnable function of the pixels."""
    from mmengine.dataset import pseudo_collate
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        img = torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
        label = (img[0:1].long() > 127).long() * 3  # class 3 where the B channel is bright
        label[:, :2] = 255  # an ignored border, as VOC has
        items.append(dict(inputs=img, data_samples=SegDataSample(
            gt_sem_seg=PixelData(data=label), metainfo=dict(img_shape=(size, size)))))
    return DataLoader(items, batch_size=n, shuffle=False, collate_fn=pseudo_collate)


MODEL = 'configs/_base_/models/fcn8s_vgg16.py'


@pytest.fixture
def model_cfg(load_config, narrow_fcn_config):
    return lambda: load_config(narrow_fcn_config(MODEL))


def _runner(model_cfg, work_dir, max_iters, resume=False, load_from=None):
    from mmengine.runner import Runner
    cfg = model_cfg()
    return Runner(
        model=cfg.model,
        work_dir=work_dir,
        train_dataloader=_tiny_loader(),
        # un-normalised 0-255 input through a random VGG gives large fc7 activations: small lr
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-5, momentum=0.9)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmseg',
        resume=resume,
        load_from=load_from,
        randomness=dict(seed=0),
        log_level='WARNING')


@pytest.mark.slow
def test_train_lowers_loss_and_resumes_under_weights_only(model_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    work_dir = str(tmp_path)
    runner = _runner(model_cfg, work_dir, max_iters=4)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 4
    # zero-initialised score layers: the first loss is exactly ln(21) (uniform over 21 classes,
    # averaged over the non-ignored pixels)
    assert losses[0] == pytest.approx(torch.log(torch.tensor(21.)).item(), abs=1e-5)
    assert losses[-1] < 0.8 * losses[0]
    trained = {k: v.clone() for k, v in runner.model.state_dict().items()}

    ckpt = osp.join(work_dir, 'iter_4.pth')
    assert osp.isfile(ckpt)
    # --resume: the same Runner path as `mim train ... --resume`, weights_only on (torch default)
    resumed = _runner(model_cfg, work_dir, max_iters=5, resume=True, load_from=ckpt)
    resumed.train()
    assert resumed.iter == 5
    assert len(resumed.message_hub.get_scalar('train/loss').data[0]) == 5

    # load_checkpoint: the path of `mim test --checkpoint` and `load_from`
    fresh = _runner(model_cfg, work_dir, max_iters=1)
    fresh.load_checkpoint(ckpt)
    for k, v in fresh.model.state_dict().items():
        assert torch.equal(v, trained[k]), k


@pytest.mark.slow
def test_nan_loss_stops_before_a_nan_checkpoint(model_cfg, tmp_path):
    import glob

    from mmengine.runner import Runner

    from mmseg_fcn_voc.engine import InvalidLossError
    cfg = model_cfg()
    runner = Runner(
        model=cfg.model,
        work_dir=str(tmp_path),
        train_dataloader=_tiny_loader(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e6, momentum=0.9)),  # diverges
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=20),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)),
        custom_hooks=[dict(type='InvalidLossGuardHook')],
        default_scope='mmseg',
        randomness=dict(seed=0),
        log_level='WARNING')
    with pytest.raises(InvalidLossError, match=r'non-finite training loss at iteration (\d+)'):
        runner.train()
    assert runner.iter < 20
    saved = glob.glob(str(tmp_path / 'iter_*.pth'))
    for path in saved:  # every checkpoint on disk is finite: the bad iteration was never saved
        state = torch.load(path, map_location='cpu')['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert not osp.isfile(tmp_path / f'iter_{runner.iter + 1}.pth')


DEMO_CONFIG = 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'


def _demo_cfg(narrow_fcn_config, data_root, work_dir, resume=False):
    """The demo config (narrow fc6/fc7) as ``mim train`` builds it: its own hooks, optimizer and
    schedulers; the data pointed at ``data_root``, two iterations, a checkpoint after the second."""
    from mmengine.config import Config
    cfg = Config.fromfile(narrow_fcn_config(DEMO_CONFIG))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
        cfg[loader].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir, cfg.launcher, cfg.resume, cfg.load_from = work_dir, 'none', resume, None
    cfg.log_level = 'WARNING'
    return cfg


def test_resume_continues_from_the_last_checkpoint(narrow_fcn_config, demo_voc, tmp_path,
                                                   monkeypatch):
    """The quick guard of ``mim train CONFIG --resume`` (mmseg's train.py sets ``cfg.resume``
    and no ``load_from``): the demo config's Runner trains two iterations; a new Runner of the
    same config with ``resume`` finds the last checkpoint in the work folder and continues at
    iteration 2 with its weights, optimizer moments and learning-rate schedule, under torch's
    ``weights_only`` loading. A resume that silently restarted would be at iteration 0 with
    fresh weights."""
    from mmengine.runner import Runner
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    work_dir = str(tmp_path)
    first = Runner.from_cfg(_demo_cfg(narrow_fcn_config, demo_voc, work_dir))
    first.train()
    saved = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu')  # weights_only
    assert open(osp.join(work_dir, 'last_checkpoint')).read().strip().endswith('iter_2.pth')

    # the same two-iteration schedule: train() builds the optimizer and schedulers, resumes,
    # and has no iteration left to run, so what it holds afterwards is what it resumed
    resumed = Runner.from_cfg(_demo_cfg(narrow_fcn_config, demo_voc, work_dir, resume=True))
    fresh = {k: v.clone() for k, v in resumed.model.state_dict().items()}
    resumed.train()
    assert resumed.iter == 2
    state = resumed.model.state_dict()
    for key, value in saved['state_dict'].items():
        assert torch.equal(state[key], value), key
    changed = [k for k, v in saved['state_dict'].items()
               if v.is_floating_point() and not torch.equal(fresh[k], v)]
    assert len(changed) > 10  # the saved weights are not a fresh model's
    optimizer = resumed.optim_wrapper.optimizer.state_dict()
    assert optimizer['state'] and all(int(s['step']) == 2 for s in optimizer['state'].values())
    lr = resumed.optim_wrapper.get_lr()['lr'][0]
    assert lr == pytest.approx(saved['optimizer']['param_groups'][0]['lr'])
    assert lr != pytest.approx(first.cfg.optim_wrapper.optimizer.lr * 0.1)  # not the warm-up start
