"""Offline models on the NPU's path: AIPP's arithmetic against the runtime's float32 preprocessing,
the om backend's checks and refusals, and the whole path (``to_onnx --aipp --gears``, the folder's
``atc.sh``, ``--backend om``) through stand-ins of ATC and ais_bench that follow their documented
interfaces (``tests/helpers/ascend``): its predictions equal mmseg's ``inference_model``."""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STANDIN = osp.join(REPO, 'tests', 'helpers', 'ascend')
DEMO = 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'


def _aipp_by_hand(cfg_text, pixels):
    """The documented AIPP formula, written out here: per channel, after the R/B swap,
    out = (in - mean_chn - min_chn) * var_reci_chn; (1, H, W, 3) uint8 -> (1, 3, H, W)."""
    keys = dict(re.findall(r'^\s*(\w+)\s*:\s*(\S+)\s*$', cfg_text, re.M))
    x = pixels.astype(np.float64)
    if keys['rbuv_swap_switch'] == 'true':
        x = x[..., ::-1]
    out = np.stack([(x[..., c] - float(keys[f'mean_chn_{c}']) - float(keys[f'min_chn_{c}']))
                    * float(keys[f'var_reci_chn_{c}']) for c in range(3)], axis=1)
    return out, keys


@pytest.mark.parametrize('config', ['configs/fcn8s_vgg16_voc.py', DEMO])
def test_aipp_arithmetic_equals_the_runtime_preprocessing(config, tmp_path):
    """For both channel orders (the Caffe configs take BGR, the BN ones RGB)."""
    from fcn_voc_core.fileio import write_json
    from fcn_voc_runtime.deploy import DEPLOY_FILE, load_deploy_dir
    from fcn_voc_runtime.preprocess import preprocess
    from mmseg_fcn_voc.conversion.aipp import aipp_config
    from mmseg_fcn_voc.conversion.checkpoint import build_model
    from mmseg_fcn_voc.conversion.deploy_info import describe_deployment, normalization
    from mmseg_fcn_voc.conversion.network.trace import trace_network
    model = build_model(osp.join(REPO, config))
    (tmp_path / 'm.onnx').write_bytes(b'stand-in')
    write_json(str(tmp_path / DEPLOY_FILE), describe_deployment(
        model, trace_network(model), config, 'x.pth', '0' * 64, 'onnxruntime', str(tmp_path),
        str(tmp_path / 'm.onnx'), [1, 3, None, None], {}, {}))
    deploy = load_deploy_dir(str(tmp_path))
    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    order, mean, std = normalization(model)
    by_hand, keys = _aipp_by_hand(aipp_config((64, 96), order, mean, std), image[None])
    assert keys['input_format'] == 'RGB888_U8' and keys['aipp_mode'] == 'static'
    assert (keys['src_image_size_h'], keys['src_image_size_w']) == ('64', '96')
    assert keys['rbuv_swap_switch'] == ('true' if order == 'BGR' else 'false')
    runtime, _ = preprocess(image, deploy)
    np.testing.assert_allclose(by_hand, runtime, rtol=0, atol=2e-5)
    pixels, valid = preprocess(image, deploy, uint8=True)  # what an AIPP model gets
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 64, 96, 3) and valid == (64, 96)
    np.testing.assert_array_equal(pixels[0], image)


def _standin_env(**extra):
    env = dict(os.environ, FCN_STANDIN_PYTHON=sys.executable, **extra)
    env['PATH'] = os.pathsep.join([osp.join(STANDIN, 'bin'), env['PATH']])
    env['PYTHONPATH'] = os.pathsep.join([STANDIN, REPO, env.get('PYTHONPATH', '')])
    return env


def _images(folder, sizes, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for i, size in enumerate(sizes):
        yy, xx = np.mgrid[0:size[0], 0:size[1]]
        img = np.stack([xx * 2, yy * 2, (xx + yy)], -1) + rng.normal(0, 30, (*size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f'im{i}.png')
    return folder


@pytest.fixture(scope='module')
def om_folders(tmp_path_factory, narrow_fcn_config, random_fcn_checkpoint, converter_cli):
    """The demo's BN FCN-8s (narrow fc6/fc7, random weights) exported with --aipp in two gears,
    with and without --with-argmax, and each folder's atc.sh run with the stand-in ATC."""
    root = tmp_path_factory.mktemp('om')
    config = narrow_fcn_config(DEMO)
    ckpt = random_fcn_checkpoint(config)
    folders = {}
    for name, extra in (('logits', []), ('argmax', ['--with-argmax'])):
        out = root / name
        assert converter_cli('to_onnx').main([config, ckpt, '--out-dir', str(out), '--gears',
                                              '96x128,128x96', '--aipp', *extra]) == 0
        proc = subprocess.run(['bash', str(out / 'atc.sh')], capture_output=True, text=True,
                              env=_standin_env(SOC='Ascend310P3'), timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        folders[name] = out
    return config, ckpt, folders


@pytest.mark.slow
def test_offline_models_through_ais_bench_equal_mmseg(om_folders, tmp_path, host_python):
    """Images whose 32-padded size is a gear (so mmseg pads them as the gears do): --backend om
    (uint8 pixels, AIPP on the 'device', padding reset from valid_size) and --backend onnxruntime
    on the same folder predict what ``inference_model`` predicts, on every pixel."""
    from mmseg.apis import inference_model, init_model
    config, ckpt, folders = om_folders
    images = _images(tmp_path / 'images', [(90, 120), (70, 101), (100, 70), (128, 96)])
    model = init_model(config, ckpt, device='cpu')
    expected = {name: inference_model(model, str(images / name)).pred_sem_seg.data[0].numpy()
                for name in sorted(os.listdir(images))}
    for kind, folder in folders.items():
        deploy = json.loads((folder / 'deploy.json').read_text())
        assert deploy['aipp']['input'] == {'layout': 'NHWC', 'dtype': 'uint8',
                                           'channel_order': 'RGB'}
        script = (folder / 'atc.sh').read_text()
        assert script.count('--insert_op_conf=aipp_') == 2 and 'valid_size:2' in script
        manifest = (folder / 'om.sha256').read_text().split()
        assert sorted(manifest[1::2]) == sorted(f for f in os.listdir(folder) if f.endswith('.om'))
        for backend, device in (('om', 'Ascend'), ('onnxruntime', 'CPU')):
            out = tmp_path / f'{kind}_{backend}'
            proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(folder),
                                   str(images), '--out-dir', str(out), '--backend', backend,
                                   '--device-target', device], capture_output=True, text=True,
                                  env=_standin_env(), cwd=str(tmp_path), timeout=600)
            assert proc.returncode == 0, proc.stderr[-3000:]
            for name, theirs in expected.items():
                ours = np.array(Image.open(out / name))
                assert (ours == theirs).all(), (kind, backend, name, (ours == theirs).mean())
            ran = json.loads((out / 'run.json').read_text())
            assert (ran['backend'], ran['device_target']) == (backend, device)


@pytest.mark.slow
def test_the_om_backend_checks_and_refuses(om_folders, tmp_path, host_python, tiny_dataset):
    _, _, folders = om_folders
    images, _ = tiny_dataset(tmp_path / 'data', 1, size=(64, 64))

    def run(folder, *extra, env=None):
        return subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(folder), images,
                               '--out-dir', str(tmp_path / 'out'), '--backend', 'om', *extra],
                              capture_output=True, text=True, env=env or _standin_env(),
                              cwd=str(tmp_path), timeout=300)

    folder = tmp_path / 'copy'
    shutil.copytree(folders['logits'], folder)
    cases = []
    cases.append((run(folder), 'runs on an Ascend NPU only'))  # --device-target CPU
    plain = dict(os.environ, PYTHONPATH=REPO)  # no ais_bench
    cases.append((run(folder, '--device-target', 'Ascend', env=plain),
                  "ais_bench from CANN's msit tools"))
    om = next(f for f in sorted(os.listdir(folder)) if f.endswith('.om'))
    with open(folder / om, 'ab') as f:
        f.write(b'\0')
    cases.append((run(folder, '--device-target', 'Ascend'), 'modified after ATC'))
    os.remove(folder / 'om.sha256')
    cases.append((run(folder, '--device-target', 'Ascend'), 'run the folder\'s atc.sh'))
    for proc, needle in cases:
        assert proc.returncode == 3, proc.stderr[-2000:]
        assert needle in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / 'out').exists()
