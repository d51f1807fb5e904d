"""End-to-end runs through the commands users type: mim train / test (1 and 2 processes),
--resume after SIGKILL, inference APIs and tools/infer.py, on the generated demo dataset.

Slow: each test starts real training/testing processes (full VGG-16 FCN-8s, tiny data, CPU).
"""
import glob
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'
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


def _test_metrics(work_dir):
    """The metrics dict mmengine's LoggerHook dumps after `test` (work_dir/<stamp>/<stamp>.json)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    assert logs, f'no test log json under {work_dir}'
    with open(logs[-1]) as f:
        return json.loads(f.read().strip().splitlines()[-1])


@pytest.fixture(scope='module')
def trained(demo_voc, demo_cfg, tmp_path_factory):
    """`mim train` 2 iterations of the demo config: (work_dir, checkpoint)."""
    work_dir = str(tmp_path_factory.mktemp('train'))
    _run([MIM, 'train', 'mmseg', CONFIG, '--work-dir', work_dir, '--cfg-options',
          *demo_cfg(demo_voc, work_dir, max_iters=2)])
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    yield work_dir, ckpt
    shutil.rmtree(work_dir, ignore_errors=True)  # AdamW checkpoints: ~1.6 GB each


def test_mim_test_prints_four_metrics_and_table(trained, demo_voc, demo_cfg, tmp_path):
    _, ckpt = trained
    out = _run([MIM, 'test', 'mmseg', CONFIG, '--checkpoint', ckpt, '--work-dir', str(tmp_path),
                '--cfg-options', *demo_cfg(demo_voc, str(tmp_path))])
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        assert key in out
    metrics = _test_metrics(str(tmp_path))
    assert {'aAcc', 'mAcc', 'mIoU', 'fwIoU'} <= set(metrics)
    assert 0 <= metrics['mIoU'] <= metrics['aAcc'] <= 100
    assert any(k.startswith('IoU.') for k in metrics)
    assert 'background' in out  # the per-class table


def test_two_process_evaluation_equals_one_process(trained, demo_voc, demo_cfg, tmp_path):
    """torchrun (gloo, 2 ranks): each rank contributes its confusion matrix; same result."""
    _, ckpt = trained
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    import mmseg
    test_py = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    _run([sys.executable, test_py, CONFIG, ckpt, '--work-dir', one, '--cfg-options',
          *demo_cfg(demo_voc, one)])
    _run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
          '--master_port=29533', test_py, CONFIG, ckpt, '--launcher', 'pytorch', '--work-dir',
          two, '--cfg-options', *demo_cfg(demo_voc, two)])
    m1, m2 = _test_metrics(one), _test_metrics(two)
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        assert m2[key] == pytest.approx(m1[key], abs=1e-9), key


def test_mim_train_distributed_on_cpu(demo_voc, demo_cfg, tmp_path):
    """`mim train ... --launcher pytorch --gpus 2` runs two gloo ranks on CPU."""
    work_dir = str(tmp_path)
    out = _run([MIM, 'train', 'mmseg', CONFIG, '--launcher', 'pytorch', '--gpus', '2',
                '--port', '29541', '--work-dir', work_dir, '--cfg-options',
                *demo_cfg(demo_voc, work_dir, max_iters=2)])
    # mmengine's environment report: two ranks really ran ("GPU number" is its world size)
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))


def test_sigkill_then_resume_finishes(demo_voc, demo_cfg, tmp_path):
    work_dir = str(tmp_path)
    opts = demo_cfg(demo_voc, work_dir, max_iters=6,
                    extra=['default_hooks.checkpoint.interval=2', 'train_cfg.val_interval=100'])
    args = [MIM, 'train', 'mmseg', CONFIG, '--work-dir', work_dir, '--cfg-options', *opts]
    proc = subprocess.Popen(args, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = osp.join(work_dir, 'last_checkpoint')  # written after a checkpoint is complete
    deadline = time.time() + 600
    while not osp.isfile(marker) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, 'training ended before it could be killed'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not osp.isfile(osp.join(work_dir, 'iter_6.pth'))
    out = _run(args + ['--resume'])
    assert 'resumed' in out.lower() or 'Load checkpoint' in out or 'load checkpoint' in out
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))
    ckpt = torch.load(osp.join(work_dir, 'iter_6.pth'), map_location='cpu')
    assert ckpt['meta']['iter'] == 6


def test_inference_apis_and_infer_tool(trained, demo_voc, tmp_path):
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    _, ckpt = trained
    img_dir = osp.join(demo_voc, 'VOC2012', 'JPEGImages')
    with open(osp.join(demo_voc, 'VOC2012', 'ImageSets', 'Segmentation', 'val.txt')) as f:
        images = [osp.join(img_dir, f'{i}.jpg') for i in f.read().split()[:3]]
    model = init_model(osp.join(REPO, CONFIG), ckpt, device='cpu')
    import mmcv
    result = inference_model(model, images[0])
    h, w = mmcv.imread(images[0]).shape[:2]
    assert result.pred_sem_seg.data.shape == (1, h, w)
    assert model.dataset_meta['classes'][0] == 'background'

    inferencer = MMSegInferencer(model=osp.join(REPO, CONFIG), weights=ckpt, device='cpu')
    out = inferencer(images[0], return_datasamples=True)
    assert torch.equal(out.pred_sem_seg.data, result.pred_sem_seg.data)

    single = tmp_path / 'one'
    single.mkdir()
    for p in images:
        os.link(p, single / osp.basename(p))
    out_dir = tmp_path / 'overlays'
    _run([sys.executable, 'tools/infer.py', CONFIG, ckpt, str(single), '--out-dir', str(out_dir),
          '--gt-dir', osp.join(demo_voc, 'VOC2012', 'SegmentationClass')])
    written = sorted(os.listdir(out_dir))
    assert written == sorted(osp.basename(p).replace('.jpg', '.png') for p in images)
    overlay = mmcv.imread(str(out_dir / written[0]))
    ref = mmcv.imread(str(single / osp.basename(images[0])))
    assert overlay.shape[0] == ref.shape[0] and overlay.shape[1] == 2 * ref.shape[1]  # GT | pred


def test_infer_tool_reports_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/infer.py', CONFIG, 'x.pth',
                           str(tmp_path / 'nope'), '--out-dir', str(tmp_path)], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3 and 'nope: no such image file or folder' in proc.stderr
