"""End-to-end runs through the commands users type: mim train / test (1 and 2 processes),
--resume after SIGKILL, inference APIs and tools/infer.py, on the generated demo dataset.

The network is the demo config's FCN-8s with narrow fc6/fc7 (conftest's ``narrow_fcn_config``):
every component and the whole VGG-16 conv stack, without 1.6 GB training checkpoints. The README
demo trains the full-width one (its test, like these, the narrow one).

Slow: each test starts real training/testing processes (VGG-16 FCN-8s, tiny data, CPU).
"""
import glob
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'
MIM = osp.join(osp.dirname(sys.executable), 'mim')
pytestmark = pytest.mark.slow


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return env


def _run(args, timeout=900, **kw):
    proc = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=timeout, **kw)
    assert proc.returncode == 0, f'{args}\n--- stdout\n{proc.stdout[-4000:]}\n' \
                                 f'--- stderr\n{proc.stderr[-4000:]}'
    return proc.stdout + proc.stderr


def _start(args):
    """``args`` started in the background (its output captured); finish it with :func:`_wait`."""
    return subprocess.Popen(args, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait(proc, timeout=900):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f'{proc.args}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}'
    return out + err


def _test_metrics(work_dir):
    """The metrics dict mmengine's LoggerHook dumps after `test` (work_dir/<stamp>/<stamp>.json)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    assert logs, f'no test log json under {work_dir}'
    with open(logs[-1]) as f:
        last = f.read().strip().splitlines()[-1]
    # raw_decode: in a torchrun test every rank dumps the same metrics into this one file
    # (mmengine 0.10.7's LoggerHook.after_test_epoch is not rank-guarded); a shorter second write
    # can leave the tail of the first one behind it ('...}}'), seen once here.
    return json.JSONDecoder().raw_decode(last)[0]


@pytest.fixture(scope='module')
def config(narrow_fcn_config):
    """The demo config with narrow fc6/fc7."""
    return narrow_fcn_config(DEMO_CONFIG)


@pytest.fixture(scope='module')
def trained(config, demo_voc, demo_cfg, tmp_path_factory, port_factory):
    """`mim train ... --launcher pytorch --gpus 2`, 2 iterations of the demo config on two gloo
    ranks: (work_dir, checkpoint, output). The tests of mim test and inference use its
    checkpoint."""
    work_dir = str(tmp_path_factory.mktemp('train'))
    out = _run([MIM, 'train', 'mmseg', config, '--launcher', 'pytorch', '--gpus', '2',
                '--port', str(port_factory()), '--work-dir', work_dir, '--cfg-options',
                *demo_cfg(demo_voc, work_dir, max_iters=2)])
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    yield work_dir, ckpt, out
    shutil.rmtree(work_dir, ignore_errors=True)


def test_mim_train_distributed_on_cpu(trained):
    """`mim train ... --launcher pytorch --gpus 2` runs two gloo ranks on CPU."""
    _, _, out = trained
    # mmengine's environment report: two ranks really ran ("GPU number" is its world size)
    assert 'Distributed training: True' in out and 'GPU number: 2' in out


def test_mim_test_prints_four_metrics_and_table(config, trained, demo_voc, demo_cfg, tmp_path):
    _, ckpt, _ = trained
    out = _run([MIM, 'test', 'mmseg', config, '--checkpoint', ckpt, '--work-dir', str(tmp_path),
                '--cfg-options', *demo_cfg(demo_voc, str(tmp_path))])
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        assert key in out
    metrics = _test_metrics(str(tmp_path))
    assert {'aAcc', 'mAcc', 'mIoU', 'fwIoU'} <= set(metrics)
    assert 0 <= metrics['mIoU'] <= metrics['aAcc'] <= 100
    assert any(k.startswith('IoU.') for k in metrics)
    assert 'background' in out  # the per-class table


def test_two_process_evaluation_counts_every_image_once(config, demo_voc, demo_split, demo_cfg,
                                                       random_fcn_checkpoint, tmp_path, port):
    """torchrun (gloo, 2 ranks) on 7 images of 7 sizes: the sampler pads rank 1 with a repeat,
    which must be dropped. Each image counts once: the summed confusion matrix equals the
    1-process one exactly, and its total is the number of labelled pixels of the 7 images (a rank
    counting an image twice, or the whole set, would exceed it)."""
    from PIL import Image
    ckpt = random_fcn_checkpoint(config, seed=5)  # random weights: predictions vary everywhere
    ann_file, ids = demo_split
    labelled = sum(int((np.array(Image.open(osp.join(
        demo_voc, 'VOC2012/SegmentationClass', f'{i}.png'))) != 255).sum()) for i in ids)
    import mmseg
    test_py = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    procs = {}
    for name, launch in (('one', [sys.executable, test_py]),
                         ('two', [sys.executable, '-m', 'torch.distributed.run',
                                  '--nproc_per_node=2', f'--master_port={port}', test_py])):
        work = str(tmp_path / name)
        extra = [f'test_dataloader.dataset.ann_file={ann_file}',
                 f'test_evaluator.output_dir={work}/cm']
        procs[name] = _start(launch + [config, ckpt, '--work-dir', work]  # both at once
                             + (['--launcher', 'pytorch'] if name == 'two' else [])
                             + ['--cfg-options', *demo_cfg(demo_voc, work, extra=extra)])
    runs = {}
    for name, proc in procs.items():
        _wait(proc)
        work = str(tmp_path / name)
        runs[name] = (_test_metrics(work), np.load(osp.join(work, 'cm', 'confusion_matrix.npy')))
    (m1, h1), (m2, h2) = runs['one'], runs['two']
    assert int(h1.sum()) == labelled and int(h2.sum()) == labelled
    np.testing.assert_array_equal(h2, h1)
    assert len(np.unique(h1.argmax(1))) > 1  # not a constant prediction
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        assert m2[key] == pytest.approx(m1[key], abs=1e-9), key


def _losses(work_dir):
    """``{iteration: loss}`` from every run's ``vis_data/scalars.json`` under ``work_dir``."""
    losses = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        for line in open(path):
            entry = json.loads(line)
            if 'loss' in entry:
                losses[entry['step']] = entry['loss']
    return losses


def _with_kill_point(config, folder, iteration):
    """A config that inherits ``config`` and adds tests/helpers' KillPointHook after
    ``iteration``: returns (config path, the named pipe the hook signals through)."""
    from mmengine.config import Config
    base = Config.fromfile(config)
    fifo = osp.join(folder, 'kill_point.fifo')
    os.mkfifo(fifo)
    hooks = list(base.get('custom_hooks', [])) + [
        dict(type='KillPointHook', iteration=iteration, fifo=fifo)]
    imports = list(base.custom_imports['imports']) + ['kill_point']
    path = osp.join(folder, 'killed_config.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{osp.abspath(config)!r}]\n'
                f'custom_imports = dict(imports={imports!r}, allow_failed_imports=False)\n'
                f'custom_hooks = {hooks!r}\n')
    return path, fifo


def test_sigkill_then_resume_continues_where_it_stopped(config, demo_voc, demo_cfg, tmp_path):
    """A run killed right after iteration 2 (its checkpoint complete: a hook signals through a
    pipe and waits to be killed there) continues from iteration 2 with ``--resume``, and its
    losses and final weights equal an uninterrupted run's with the same seed.

    Tolerance: the two runs do the same float32 operations in the same order on the same machine
    (data: mmengine replays the skipped batches through the same seeded pipeline; optimizer state,
    schedulers and message hub come from the checkpoint), so they agree to float32 rounding; 1e-5
    relative allows for reductions whose order may vary between processes."""
    extra = ['default_hooks.checkpoint.interval=2', 'train_cfg.val_interval=100',
             'default_hooks.logger.interval=1']
    ref_dir, work_dir = str(tmp_path / 'ref'), str(tmp_path / 'killed')
    os.makedirs(work_dir)
    killed_config, fifo = _with_kill_point(config, work_dir, iteration=2)

    def args(cfg, work):
        return [MIM, 'train', 'mmseg', cfg, '--work-dir', work, '--cfg-options',
                *demo_cfg(demo_voc, work, max_iters=4, extra=extra)]

    ref = _start(args(config, ref_dir))  # the uninterrupted run, beside the one that is killed
    env = _env()
    env['PYTHONPATH'] = os.pathsep.join([osp.join(REPO, 'tests', 'helpers'),
                                         env.get('PYTHONPATH', '')])
    proc = subprocess.Popen(args(killed_config, work_dir), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    def unblock_if_dead():  # a run that dies before the kill point: EOF for the reader below
        proc.wait()
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader left: the test has read its line already
            pass

    threading.Thread(target=unblock_if_dead, daemon=True).start()
    try:
        with open(fifo) as f:  # blocks until the hook has reached its point (or the run died)
            signal_line = f.readline()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert signal_line == 'ready 2\n', f'training ended before the kill point (exit {proc.returncode})'
    assert proc.returncode == -signal.SIGKILL
    _wait(ref)
    reference = _losses(ref_dir)
    assert sorted(reference) == [1, 2, 3, 4]
    assert not osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    marker = osp.join(work_dir, 'last_checkpoint')
    last = open(marker).read().strip()
    assert last.endswith('iter_2.pth')
    assert torch.load(last, map_location='cpu')['meta']['iter'] == 2

    out = _run(args(config, work_dir) + ['--resume'])
    assert 'resumed epoch: 0, iter: 2' in out  # mmengine's own report
    after = {k: v for k, v in _losses(work_dir).items() if k > 2}
    assert sorted(after) == [3, 4]  # continued, not restarted at 1
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-5), step
    final = torch.load(osp.join(work_dir, 'iter_4.pth'), map_location='cpu')
    expected = torch.load(osp.join(ref_dir, 'iter_4.pth'), map_location='cpu')
    assert final['meta']['iter'] == 4
    for key, value in expected['state_dict'].items():
        if value.is_floating_point():
            torch.testing.assert_close(final['state_dict'][key], value, rtol=1e-5,
                                       atol=1e-5 * float(value.abs().max()) + 1e-12, msg=key)


def test_inference_apis_and_infer_tool(config, trained, demo_voc, tmp_path):
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    _, ckpt, _ = trained
    img_dir = osp.join(demo_voc, 'VOC2012', 'JPEGImages')
    with open(osp.join(demo_voc, 'VOC2012', 'ImageSets', 'Segmentation', 'val.txt')) as f:
        images = [osp.join(img_dir, f'{i}.jpg') for i in f.read().split()[:3]]
    model = init_model(config, ckpt, device='cpu')
    import mmcv
    result = inference_model(model, images[0])
    h, w = mmcv.imread(images[0]).shape[:2]
    assert result.pred_sem_seg.data.shape == (1, h, w)
    assert model.dataset_meta['classes'][0] == 'background'

    inferencer = MMSegInferencer(model=config, weights=ckpt, device='cpu')
    out = inferencer(images[0], return_datasamples=True)
    assert torch.equal(out.pred_sem_seg.data, result.pred_sem_seg.data)

    single = tmp_path / 'one'
    single.mkdir()
    for p in images:
        os.link(p, single / osp.basename(p))
    out_dir = tmp_path / 'overlays'
    _run([sys.executable, 'tools/infer.py', config, ckpt, str(single), '--out-dir', str(out_dir),
          '--gt-dir', osp.join(demo_voc, 'VOC2012', 'SegmentationClass')])
    written = sorted(os.listdir(out_dir))
    assert written == sorted(osp.basename(p).replace('.jpg', '.png') for p in images)
    overlay = mmcv.imread(str(out_dir / written[0]))
    ref = mmcv.imread(str(single / osp.basename(images[0])))
    assert overlay.shape[0] == ref.shape[0] and overlay.shape[1] == 2 * ref.shape[1]  # GT | pred


def test_infer_tool_reports_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/infer.py', DEMO_CONFIG, 'x.pth',
                           str(tmp_path / 'nope'), '--out-dir', str(tmp_path)], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3 and 'nope: no such image file or folder' in proc.stderr
