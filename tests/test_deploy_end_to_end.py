"""Deployment on the demo data: the converted models (MindSpore MINDIR, ONNX), run by
``converters/infer_deployed.py`` in an environment without torch or mmseg, predict what mmseg
predicts and score what ``mim test`` scores. Both geometries, images of many sizes.

The parity of the converted networks is computed here, not read from the converters' reports: the
MINDIR in a ``GraphCell``, the ``.ckpt`` in a freshly built cell, the ONNX in onnxruntime, against
the torch model run in this test.

The networks are the configs' with narrow fc6/fc7 (conftest's ``narrow_fcn_config``: every
layer kind, geometry and crop, without 0.5 GB model files); the full-width conversions are run by
test_converters_mindspore.py and test_converters_torch.py (ONNX, Caffe geometry).

Slow: conversions of VGG-16 FCNs and MindSpore/onnxruntime inference on CPU.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM = osp.join(osp.dirname(sys.executable), 'mim')
pytestmark = pytest.mark.slow
if os.environ.get('FCN_SKIP_BACKEND_TESTS') == '1':  # explicit opt-out only
    pytest.skip('FCN_SKIP_BACKEND_TESTS=1: MindSpore/ONNX tests skipped on request',
                allow_module_level=True)

#: The demo's BN network ('same' geometry, padded to 32) and the paper's Caffe FCN-8s (pad 100,
#: ceil pooling, crops; native size), both narrowed; the two mixing configs as users train them
#: (ResNetV1c-50 with FCN8sHead, 'same' geometry; BilinearDeconvNeck in front of mmseg's FCNHead,
#: any size, images resized by the test pipeline), converted through the translated graph.
CASES = {
    'same': 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py',
    'caffe': 'configs/fcn8s_vgg16_voc.py',
    'r50-fcn8s': 'configs/fcn8s-head_r50-d8_4xb4-40k_voc12aug-512x512.py',
    'r50-neck': 'configs/bilinear-neck_fcn-head_r50_4xb4-40k_voc12aug-512x512.py',
}
#: Cases whose network takes multiples of 32 only.
DIVISOR_32 = ('same', 'r50-fcn8s')
#: Cases that are not FCN/VGG networks (MindSpore layout 'translated': torch's keys).
MIXING = ('r50-fcn8s', 'r50-neck')


def _env(**extra):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='2', **extra)
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return env


def _run(args, env=None, timeout=1200):
    proc = subprocess.run([str(a) for a in args], cwd=REPO, env=env or _env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout + proc.stderr


def _run_all(commands, env=None, timeout=1200):
    """Run every command of ``commands`` at once (their imports overlap each other's compute on 2
    cores); each must exit 0."""
    procs = [subprocess.Popen([str(a) for a in args], cwd=REPO, env=env or _env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in commands]
    outputs = []
    for args, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f'{args}\n{out[-3000:]}\n{err[-3000:]}'
        outputs.append(out + err)
    return outputs


def _data_options(data_root, split):
    return [f'{k}.dataset.data_root={data_root}'
            for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
                f'test_dataloader.dataset.ann_file={split}', 'test_dataloader.num_workers=0',
                'test_dataloader.persistent_workers=False']


@pytest.fixture(scope='module', params=sorted(CASES))
def case(request, demo_voc, demo_split, random_fcn_checkpoint, narrow_fcn_config,
         tmp_path_factory):
    """A random-weight checkpoint of the case's (narrow) config, scored by ``mim test`` on the
    demo val, and converted by ``to_mindspore.py`` (dynamic MINDIR) and ``to_onnx.py --dynamic``
    (the three commands at once)."""
    geometry = request.param
    config = CASES[geometry] if geometry in MIXING else narrow_fcn_config(CASES[geometry])
    ckpt = random_fcn_checkpoint(config, seed=3)
    voc = osp.join(demo_voc, 'VOC2012')
    split, ids = demo_split  # 7 VOC-labelled demo images (64-160 px, 7 sizes)
    work = tmp_path_factory.mktemp(f'deploy_{geometry}')
    images = work / 'images'
    images.mkdir()
    for i in ids:
        os.link(osp.join(voc, 'JPEGImages', f'{i}.jpg'), images / f'{i}.jpg')
    sizes = {Image.open(images / f'{i}.jpg').size for i in ids}
    assert len(sizes) >= 5 and any(w % 2 for w, _ in sizes)  # many sizes, odd ones too
    _run_all([[MIM, 'test', 'mmseg', config, '--checkpoint', ckpt, '--work-dir', work / 'test',
               '--cfg-options', *_data_options(demo_voc, split)],
              [sys.executable, 'converters/to_mindspore.py', config, ckpt, '--out-dir',
               work / 'mindspore', '--parity-size', '256', '256'],
              [sys.executable, 'converters/to_onnx.py', config, ckpt, '--out-dir', work / 'onnx',
               '--dynamic', '--parity-size', '256', '256']])
    logs = sorted(glob.glob(str(work / 'test' / '*' / '*.json')))
    mim_metrics = json.loads(open(logs[-1]).read().strip().splitlines()[-1])
    return dict(geometry=geometry, config=config, ckpt=ckpt, ids=ids, images=str(images),
                labels=osp.join(voc, 'SegmentationClass'), work=work, mim=mim_metrics)


@pytest.fixture(scope='module')
def mmseg_predictions(case):
    """``mmseg.apis.inference_model`` (what tools/infer.py runs) on every val image."""
    from mmseg.apis import inference_model, init_model
    model = init_model(osp.join(REPO, case['config']), case['ckpt'], device='cpu')
    return {i: inference_model(model, osp.join(case['images'], f'{i}.jpg')).pred_sem_seg.data[
        0].numpy() for i in case['ids']}


def _assert_deployed_equals_mmseg(case, preds, out_dir):
    agree = total = 0
    for i in case['ids']:
        with Image.open(osp.join(out_dir, f'{i}.png')) as img:
            assert img.mode == 'P'  # a palette PNG, like VOC's labels
            ours = np.array(img)
        assert ours.shape == preds[i].shape, i
        agree += int((ours == preds[i]).sum())
        total += ours.size
        if osp.isdir(osp.join(out_dir, 'overlays')):  # the runs given --overlays
            assert osp.isfile(osp.join(out_dir, 'overlays', f'{i}.png'))
    assert agree / total >= 0.9999, f'{agree}/{total} pixels agree with mmseg'
    metrics = json.load(open(osp.join(out_dir, 'metrics.json')))
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        assert metrics[key] == pytest.approx(case['mim'][key], abs=0.01), key
    assert osp.isfile(osp.join(out_dir, 'confusion_matrix.png'))
    # the confusion matrix counts exactly the labelled pixels of the val images
    labelled = sum(int((np.array(Image.open(osp.join(case['labels'], f'{i}.png'))) != 255).sum())
                   for i in case['ids'])
    assert int(np.load(osp.join(out_dir, 'confusion_matrix.npy')).sum()) == labelled


def _torch_logits(case, size, seed=0):
    from mmseg.models.utils import resize

    from mmseg_fcn_voc.conversion.checkpoint import build_and_load
    model = build_and_load(osp.join(REPO, case['config']), case['ckpt'])
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(seed)) * 50
    with torch.no_grad():  # mmseg's own: the head's logits, resized as predict_by_feat does
        logits = model(x, mode='tensor')
        if case['geometry'] in MIXING and logits.shape[-2:] != x.shape[-2:]:
            logits = resize(logits, x.shape[-2:], mode='bilinear',
                            align_corners=model.decode_head.align_corners)
        return x.numpy(), logits.numpy()


def _assert_parity(out, ref):
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.9999


@pytest.fixture(scope='module')
def mindspore_deploy_dir(case):
    """``to_mindspore.py``'s deploy folder for the case (dynamic MINDIR)."""
    return case['work'] / 'mindspore'


def test_mindspore_deployment(case, mindspore_deploy_dir, mmseg_predictions, tmp_path, host_env):
    import mindspore as ms
    from mindspore import nn

    from mmseg_fcn_voc.conversion.checkpoint import build_model
    from mmseg_fcn_voc.conversion.mindspore.io import load_params_exact
    from mmseg_fcn_voc.conversion.mindspore.translate import build_translated_cell, network_source
    from mmseg_fcn_voc.conversion.network.trace import trace_network
    deploy_dir = mindspore_deploy_dir
    name = osp.splitext(osp.basename(case['config']))[0]
    # parity computed here, at a realistic size (Caffe: 456 px inside after the pad of 100):
    # the dynamic MINDIR at two sizes, and the .ckpt loaded into a freshly built cell
    graph = nn.GraphCell(ms.load(str(deploy_dir / f'{name}.mindir')))
    for size in [(256, 256), (224, 320) if case['geometry'] in DIVISOR_32 else (231, 317)]:
        x, ref = _torch_logits(case, size)
        _assert_parity(graph(ms.Tensor(x)).asnumpy(), ref)
    layout = json.load(open(deploy_dir / 'parity.json'))['layout']
    model = build_model(osp.join(REPO, case['config']))
    # translated afresh in the layout the converter chose; it wrote the same class
    assert layout == ('translated' if case['geometry'] in MIXING else 'mindspore')
    traced = trace_network(model)
    assert open(deploy_dir / f'{name}_network.py').read() == network_source(traced)
    cell = build_translated_cell(traced, layout=layout)
    params = ms.load_checkpoint(str(deploy_dir / f'{name}.ckpt'))
    load_params_exact(cell, {k: v.asnumpy() for k, v in params.items()}, 'the written .ckpt')
    x, ref = _torch_logits(case, (256, 256), seed=1)
    _assert_parity(cell(ms.Tensor(x)).asnumpy(), ref)

    # the runtime compiles the dynamic MINDIR once for images of every size (MindSpore compiles
    # a graph per input shape unless the dynamic inputs are declared)
    from fcn_voc_runtime.predictor import Predictor
    predictor = Predictor(str(deploy_dir))
    for size in [(64, 96), (96, 64), (80, 80)]:
        predictor.predict(np.zeros((*size, 3), np.uint8))
    assert len(predictor.model.graph.compile_cache) == 1

    out = tmp_path / 'out'
    log = _run([sys.executable, 'converters/infer_deployed.py', deploy_dir, case['images'],
                '--out-dir', out, '--labels', case['labels'], '--backend', 'mindspore',
                '--overlays'],
               env=host_env(OMP_NUM_THREADS='2'))
    assert 'mIoU' in log and 'per class results' in log
    _assert_deployed_equals_mmseg(case, mmseg_predictions, str(out))


@pytest.fixture(scope='module')
def onnx_deploy_dir(case):
    """``to_onnx.py --dynamic``'s deploy folder for the case."""
    return case['work'] / 'onnx'


def test_onnx_deployment(case, onnx_deploy_dir, mmseg_predictions, tmp_path, host_env):
    import onnxruntime as ort
    deploy_dir = onnx_deploy_dir
    name = osp.splitext(osp.basename(case['config']))[0]
    session = ort.InferenceSession(str(deploy_dir / f'{name}.onnx'),
                                   providers=['CPUExecutionProvider'])
    for size in [(256, 256), (160, 96) if case['geometry'] in DIVISOR_32 else (123, 77)]:
        x, ref = _torch_logits(case, size)
        _assert_parity(session.run(['output'], {'input': x})[0], ref)
    out = tmp_path / 'out'
    _run([sys.executable, 'converters/infer_deployed.py', deploy_dir, case['images'], '--out-dir',
          out, '--labels', case['labels']], env=host_env(OMP_NUM_THREADS='2'))
    _assert_deployed_equals_mmseg(case, mmseg_predictions, str(out))


def test_a_real_host_environment_runs_the_deployed_models(case, mindspore_deploy_dir,
                                                          onnx_deploy_dir, mmseg_predictions,
                                                          tmp_path, host_python):
    """Not an import blocker: another interpreter where torch, mmcv, mmengine and mmseg are not
    installed at all, with another MindSpore than the one that exported the MINDIR (2.7.2, the
    version whose CPU convolutions run at AVX-512), runs the MindSpore and the ONNX deploy
    folders and predicts and scores what mmseg does."""
    assert osp.isfile(host_python), (
        f'{host_python}: no host environment; `bash tools/setup_env.sh` makes it (or set '
        'FCN_HOST_PYTHON; FCN_SKIP_BACKEND_TESTS=1 skips the backend tests)')
    probe = subprocess.run(
        [host_python, '-c', 'import importlib.util as u, json, mindspore; print(json.dumps(['
         'mindspore.__version__] + [bool(u.find_spec(m)) for m in '
         '("torch", "mmcv", "mmengine", "mmseg", "fcn_voc_runtime", "fcn_voc_core")]))'],
        cwd=str(case['work']), capture_output=True, text=True, env=_env())
    assert probe.returncode == 0, probe.stderr[-2000:]
    version, *installed = json.loads(probe.stdout.strip().splitlines()[-1])
    assert not any(installed[:4]), f'{host_python} has torch/mmcv/mmengine/mmseg: not a host'
    assert all(installed[4:]), f'{host_python}: the runtime is not installed there'  # setup_env
    import mindspore
    assert version != mindspore.__version__  # the MINDIR crosses MindSpore versions
    backends = {'mindspore': mindspore_deploy_dir, 'onnxruntime': onnx_deploy_dir}
    logs = _run_all([[host_python, 'converters/infer_deployed.py', deploy_dir, case['images'],
                      '--out-dir', tmp_path / backend, '--labels', case['labels'], '--backend',
                      backend] for backend, deploy_dir in backends.items()],
                    env=_env(PYTHONPATH=REPO))
    for backend, log in zip(backends, logs):
        assert 'mIoU' in log, backend
        _assert_deployed_equals_mmseg(case, mmseg_predictions, str(tmp_path / backend))
