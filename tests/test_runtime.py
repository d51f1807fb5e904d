"""The deployment runtime (fcn_voc_runtime): torch-free imports, deploy.json checks, preprocessing
equal to mmseg's, resizing equal to torch's, and the exit-status convention."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fcn_voc_core import cli, fileio
from fcn_voc_runtime import deploy, preprocess

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BN_CONFIG = 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'
CAFFE_CONFIG = 'configs/fcn8s_vgg16_voc.py'

def test_runtime_imports_without_torch_or_mmseg(host_env):
    env = host_env()
    blocked = subprocess.run([sys.executable, '-c', 'import torch'], env=env, capture_output=True,
                             text=True, timeout=120)
    assert blocked.returncode != 0 and 'blocked' in blocked.stderr  # the blocker works
    code = ('import fcn_voc_runtime.folder_inference, fcn_voc_runtime.predictor, fcn_voc_runtime.deploy, '
            'fcn_voc_runtime.backends.onnxruntime, fcn_voc_runtime.backends.mindspore, '
            'fcn_voc_runtime.__main__, fcn_voc_core.cli, fcn_voc_core.confusion, '
            'fcn_voc_core.errors, fcn_voc_core.fileio, fcn_voc_core.imageio, fcn_voc_core.metrics, '
            'fcn_voc_core.mindspore_cpu, fcn_voc_core.console, fcn_voc_core.visualize, sys; '
            'bad = [m for m in sys.modules if m.split(".")[0] in '
            '("torch", "mmcv", "mmengine", "mmseg", "mmseg_fcn_voc")]; print(bad)')
    proc = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[]'
    for command in ([osp.join(REPO, 'converters/infer_deployed.py')], ['-m', 'fcn_voc_runtime']):
        usage = subprocess.run([sys.executable, *command, '--help'], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=120)
        assert usage.returncode == 0 and '--backend' in usage.stdout, usage.stderr


# --------------------------------------------------------------------------------------------------
# deploy.json: written from a config, checked on the host
# --------------------------------------------------------------------------------------------------
def write_deploy_dir(folder, config, backend='onnxruntime', shape=(1, 3, None, None)):
    """deploy.json for ``config`` through the converters' own writer, beside a stand-in model."""
    from mmseg_fcn_voc.conversion.checkpoint import build_model
    from mmseg_fcn_voc.conversion.deploy_info import describe_deployment
    from mmseg_fcn_voc.conversion.network.trace import trace_network
    model = build_model(osp.join(REPO, config))
    os.makedirs(folder, exist_ok=True)
    model_file = osp.join(folder, 'model.onnx' if backend == 'onnxruntime' else 'model.mindir')
    with open(model_file, 'wb') as f:
        f.write(b'stand-in model bytes')
    info = describe_deployment(model, trace_network(model), config, model_file, 'ab' * 32, backend,
                               folder, model_file, list(shape), {}, {'torch': 'x'})
    fileio.write_json(osp.join(folder, deploy.DEPLOY_FILE), info)
    return model, info


def test_deploy_json_describes_the_test_pipeline(tmp_path):
    _, bn = write_deploy_dir(str(tmp_path / 'bn'), BN_CONFIG)
    assert bn['input']['channel_order'] == 'RGB'
    assert bn['input']['mean'] == pytest.approx([123.675, 116.28, 103.53])
    assert bn['input']['std'] == pytest.approx([58.395, 57.12, 57.375])
    assert bn['size']['policy'] == 'native' and bn['size']['size_divisor'] == 32
    assert bn['size']['pad_value'] == 0 and bn['ignore_index'] == 255
    assert bn['classes'][:3] == ['background', 'aeroplane', 'bicycle'] and len(bn['classes']) == 21
    assert bn['palette'][:3] == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]  # VOC's colours
    assert bn['palette'][20] == [0, 64, 128]  # tvmonitor
    _, caffe = write_deploy_dir(str(tmp_path / 'caffe'), CAFFE_CONFIG)
    assert caffe['input']['channel_order'] == 'BGR'
    assert caffe['input']['mean'] == pytest.approx([104.00699, 116.66877, 122.67892])
    assert caffe['input']['std'] == [1.0, 1.0, 1.0]
    assert caffe['size']['size_divisor'] == 1 and caffe['size']['min_size'] == 1
    spec = deploy.load_deploy_dir(str(tmp_path / 'caffe'))
    assert spec.static_size is None and spec.num_classes == 21


@pytest.mark.parametrize('config', [BN_CONFIG, CAFFE_CONFIG])
def test_preprocessing_equals_mmsegs_data_preprocessor(tmp_path, config):
    from mmseg.structures import SegDataSample
    model, _ = write_deploy_dir(str(tmp_path), config)
    spec = deploy.load_deploy_dir(str(tmp_path))
    rng = np.random.default_rng(0)
    for h, w in [(37, 50), (64, 96), (101, 33)]:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        x, valid = preprocess.preprocess(rgb, spec)
        # mmseg: images are loaded BGR, the data preprocessor swaps, normalises and pads
        sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        bgr = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1].transpose(2, 0, 1)))
        with torch.no_grad():
            ref = model.data_preprocessor({'inputs': [bgr], 'data_samples': [sample]},
                                          training=False)['inputs']
        assert valid == (h, w)
        assert x.shape == tuple(ref.shape) and x.dtype == np.float32
        np.testing.assert_allclose(x, ref.numpy(), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize('src, dst', [((7, 9), (20, 31)), ((40, 33), (13, 8)), ((5, 5), (5, 5)),
                                      ((512, 683), (375, 500)), ((384, 512), (500, 333))])
def test_bilinear_resize_equals_torch_interpolate(src, dst):
    data = np.random.default_rng(1).normal(size=(3, *src)).astype(np.float32)
    ours = preprocess.bilinear_resize(data, *dst)
    ref = F.interpolate(torch.from_numpy(data)[None], size=dst, mode='bilinear',
                        align_corners=False)[0].numpy()
    assert ours.shape == ref.shape
    # torch's rounding: within a few float32 steps (a float64 scale was 100x further off on VOC
    # sizes, which flips near-tied pixels)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=4 * np.finfo(np.float32).eps * np.abs(
        data).max())


def test_rescaled_size_equals_mmcv():
    import mmcv
    for h, w in [(375, 500), (500, 333), (100, 2000), (512, 512)]:
        img = np.zeros((h, w, 3), np.uint8)
        expected = mmcv.imrescale(img, (2048, 512)).shape[:2]
        assert preprocess.rescaled_size(h, w, (2048, 512), True) == tuple(expected)


def test_postprocess_crops_the_padding_and_takes_the_argmax():
    logits = np.zeros((1, 3, 4, 6), np.float32)
    logits[0, 2, :3, :5] = 1  # the valid 3x5 region predicts class 2
    logits[0, 1, 3, :] = 5  # the padding row would predict class 1
    pred = preprocess.postprocess(logits, (3, 5), (3, 5))
    assert pred.shape == (3, 5) and (pred == 2).all()


def deploy_errors(tmp_path):
    folder = str(tmp_path / 'deploy')
    write_deploy_dir(folder, BN_CONFIG)
    return folder, osp.join(folder, deploy.DEPLOY_FILE)


def test_incomplete_or_mismatched_deploy_folders_are_refused(tmp_path):
    folder, path = deploy_errors(tmp_path)
    deploy.load_deploy_dir(folder)  # valid as written
    with pytest.raises(deploy.DeployError, match='nowhere: no such deploy folder'):
        deploy.load_deploy_dir(str(tmp_path / 'nowhere'))
    good = json.load(open(path))
    # the model file replaced after conversion
    with open(osp.join(folder, good['model']['file']), 'ab') as f:
        f.write(b'x')
    with pytest.raises(deploy.DeployError, match=r'deploy.json: does not match the model file'):
        deploy.load_deploy_dir(folder)
    os.remove(osp.join(folder, good['model']['file']))
    with pytest.raises(deploy.DeployError, match=r"names model file 'model.onnx', which is "
                       'missing'):
        deploy.load_deploy_dir(folder)
    for broken, match in [({k: v for k, v in good.items() if k != 'classes'},
                           r"incomplete, missing keys \['classes'\]"),
                          (dict(good, version=99), 'version 99'),
                          (dict(good, palette=good['palette'][:3]), '3 palette colours'),
                          (dict(good, input=dict(good['input'], std=[1, 0, 1])), 'std > 0')]:
        fileio.write_json(path, broken)
        with pytest.raises(deploy.DeployError, match=match):
            deploy.load_deploy_dir(folder)
    with open(path, 'w') as f:
        f.write('{not json')
    with pytest.raises(deploy.DeployError, match='deploy.json: not readable JSON'):
        deploy.load_deploy_dir(folder)
    os.remove(path)
    with pytest.raises(deploy.DeployError, match='deploy.json: missing'):
        deploy.load_deploy_dir(folder)


# --------------------------------------------------------------------------------------------------
# hashes and the exit-status convention
# --------------------------------------------------------------------------------------------------
def test_sha256_sidecar_and_publish_model_names(tmp_path):
    import hashlib
    path = tmp_path / 'w.pth'
    path.write_bytes(b'weights')
    sha = hashlib.sha256(b'weights').hexdigest()
    assert fileio.verify_sha256(str(path)) is None  # nothing declared
    assert fileio.write_sha256_sidecar(str(path)) == sha
    assert (tmp_path / 'w.pth.sha256').read_text() == f'{sha}  w.pth\n'  # sha256sum's format
    assert fileio.verify_sha256(str(path)) == sha
    path.write_bytes(b'weightz')
    with pytest.raises(fileio.InputError, match=r'w.pth: sha256 mismatch'):
        fileio.verify_sha256(str(path))
    published = tmp_path / f'fcn-{sha[:8]}.pth'  # mmseg's publish_model naming
    published.write_bytes(b'weights')
    assert fileio.verify_sha256(str(published)) == sha
    published.write_bytes(b'weights!')
    with pytest.raises(fileio.InputError, match='its name declares'):
        fileio.verify_sha256(str(published))


def test_exit_status_convention(capsys):
    from fcn_voc_core.errors import InputError
    assert (cli.EXIT_OK, cli.EXIT_CHECK_FAILED, cli.EXIT_USAGE, cli.EXIT_BAD_INPUT,
            cli.EXIT_INTERNAL_ERROR) == (0, 1, 2, 3, 4)
    assert cli.run_cli(lambda: None, 'p') == 0
    assert cli.run_cli(lambda: 1, 'p') == 1

    def bad_input():
        raise InputError('x.pth: truncated')

    assert cli.run_cli(bad_input, 'p') == 3
    assert 'p: error: x.pth: truncated' in capsys.readouterr().err

    def missing():
        open('/nonexistent/file.png')

    assert cli.run_cli(missing, 'p') == 3

    def bug():
        return {}['key']

    assert cli.run_cli(bug, 'p') == 4
    err = capsys.readouterr().err
    assert 'Traceback' in err and "KeyError: 'key'" in err and 'internal error' in err


def test_avx2_cap_hint_only_when_capped_on_an_avx512_cpu():
    import mindspore

    from fcn_voc_core.mindspore_cpu import avx2_cap_hint, cpu_has_avx512
    hint = avx2_cap_hint({'isa_cap': 'AVX2', 'avx512_cpu': True})
    assert hint.startswith(f'MindSpore {mindspore.__version__}: ') and 'MindSpore 2.7.x' in hint
    assert avx2_cap_hint({'isa_cap': 'AVX2', 'avx512_cpu': False}) is None  # AVX2-only CPU
    assert avx2_cap_hint({'isa_cap': None, 'avx512_cpu': True}) is None  # user's own cap
    with open('/proc/cpuinfo') as f:
        flags = next(line for line in f if line.startswith('flags')).split()
    assert cpu_has_avx512() == ('avx512f' in flags)
