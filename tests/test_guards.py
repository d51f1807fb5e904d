"""Quick guards of promises the README makes, each independent of the product's own report: hashes
over whole files, the exporters' own output checks."""
import os.path as osp
import shutil
import subprocess

import numpy as np
import pytest

from fcn_voc_core import fileio
from fcn_voc_core.errors import InputError

#: larger than fileio's read chunk (4 MiB) twice over, and not a multiple of it
BIG = 9 * (1 << 20) + 12345


def _sha256sum(path):
    """The digest from coreutils' ``sha256sum``: an implementation the product does not use."""
    exe = shutil.which('sha256sum')
    assert exe, 'coreutils sha256sum is needed for this test'
    return subprocess.run([exe, str(path)], capture_output=True, text=True,
                          check=True).stdout.split()[0]


def test_sha256_covers_the_whole_of_a_multi_mib_file(tmp_path):
    path = tmp_path / 'weights.pth'
    path.write_bytes((np.arange(BIG, dtype=np.int64) * 7 % 251).astype(np.uint8).tobytes())
    expected = _sha256sum(path)
    assert fileio.write_sha256_sidecar(str(path)) == expected
    assert (tmp_path / 'weights.pth.sha256').read_text() == f'{expected}  weights.pth\n'
    assert fileio.verify_sha256(str(path)) == expected
    for offset in (BIG - 10, (1 << 22) + 1):  # near the end, and just inside the second chunk
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        tampered = tmp_path / 'tampered.pth'
        tampered.write_bytes(bytes(data))
        shutil.copy(tmp_path / 'weights.pth.sha256', str(tampered) + '.sha256')
        assert _sha256sum(tampered) != expected  # the tampering is real
        with pytest.raises(InputError, match=r'tampered\.pth: sha256 mismatch'):
            fileio.verify_sha256(str(tampered))


def test_the_onnx_exporter_refuses_shapes_other_than_asked():
    from mmseg_fcn_voc.conversion.context import ExportCheckError
    from mmseg_fcn_voc.conversion.onnx.backend import check_io_shapes
    want = {'input': [1, 3, 64, 96], 'output': [1, 21, 64, 96]}
    dynamic = {'input': [1, 3, 'height', 'width'], 'output': [1, 21, 'height', 'width']}
    check_io_shapes('m.onnx', want, want, dynamic=False)
    check_io_shapes('m.onnx', dynamic, want, dynamic=True)
    with pytest.raises(ExportCheckError, match='m.onnx: asked for a dynamic height and width'):
        check_io_shapes('m.onnx', want, want, dynamic=True)  # dynamic_axes dropped
    with pytest.raises(ExportCheckError, match='asked for static shapes'):
        check_io_shapes('m.onnx', dynamic, want, dynamic=False)
    with pytest.raises(ExportCheckError, match='asked for static shapes'):
        check_io_shapes('m.onnx', {'input': [1, 3, 64, 64], 'output': [1, 21, 64, 64]}, want,
                        dynamic=False)  # another size
    assert issubclass(ExportCheckError, InputError)  # exit status 3, never 4


def test_a_converted_network_failing_at_a_parity_size_is_exit_3(tmp_path, capsys, monkeypatch):
    """A "dynamic" export that only takes one size fails at the second parity size: the exporter
    reports it as bad output (exit 3), not as an internal error."""
    import torch

    import mmseg_fcn_voc.conversion.checks.parity as module
    from fcn_voc_core.cli import run_cli
    from mmseg_fcn_voc.conversion.checks import ParityCheck
    from mmseg_fcn_voc.conversion.context import Converted, ExportContext, Exported
    from mmseg_fcn_voc.conversion.options import ExportOptions

    def static_only(x):
        if x.shape[-2:] != (64, 64):
            raise RuntimeError('input shape mismatch: the graph was exported for 64x64')
        return np.zeros((1, 2, 64, 64), np.float32)

    # a stand-in torch side: zeros in, zeros out (only the converted network matters here)
    monkeypatch.setattr(module, 'preprocess_image',
                        lambda model, image: torch.zeros(1, 3, *image.shape[:2]))
    monkeypatch.setattr(module, 'fcn_logits', lambda model, x: torch.zeros(1, 2, *x.shape[-2:]))
    net = type('Net', (), {'num_classes': 2})()
    exported = Exported(None, [1, 3, None, None], [Converted('mindir', static_only)])
    context = ExportContext(ExportOptions('a.py', 'b.pth', str(tmp_path)), None, net,
                            [(64, 64), (48, 33)])
    code = run_cli(lambda: ParityCheck().seeded(context, exported), 'to_mindspore.py')
    assert code == 3
    err = capsys.readouterr().err
    assert 'mindir network fails on an input of 48x33' in err and 'dynamic export' in err


# --------------------------------------------------------------------------------------------------
# the runtime's decoding and preprocessing against mmseg's own pipeline, on real files
# --------------------------------------------------------------------------------------------------
def _textured(h, w, seed=0):
    """Finely textured content (every pixel differs from its neighbours) with smooth structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([(yy * 255 // max(h - 1, 1)), (xx * 255 // max(w - 1, 1)),
                       ((yy + xx) * 127 // max(h + w - 2, 1))], -1)
    return np.clip(smooth + rng.integers(-60, 61, (h, w, 3)), 0, 255).astype(np.uint8)


def write_user_images(folder, h=37, w=53):
    """Image files as users have them: every EXIF orientation, grey, CMYK, progressive and 4:4:4
    JPEG, 16-bit grey, palette, RGBA PNG, BMP, TIFF, WebP. Returns ``{name: path}``."""
    from PIL import Image
    rgb = _textured(h, w)
    img = Image.fromarray(rgb)
    files = {
        'rgb.jpg': (img, dict(quality=90)),
        'grey.jpg': (img.convert('L'), dict(quality=90)),
        'cmyk.jpg': (img.convert('CMYK'), dict(quality=90)),
        'progressive.jpg': (img, dict(quality=90, progressive=True)),
        'yuv444.jpg': (img, dict(quality=95, subsampling=0)),
        'rgb.png': (img, {}),
        'grey.png': (img.convert('L'), {}),
        'grey16.png': (Image.fromarray(rgb[..., 0].astype(np.uint16) * 256 + 3), {}),
        'palette.png': (img.quantize(64), {}),
        'rgba.png': (Image.fromarray(np.dstack([rgb, rgb[..., :1]])), {}),
        'rgb.bmp': (img, {}),
        'rgb.tif': (img, {}),
        'rgb.webp': (img, dict(lossless=True)),
    }
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        files[f'exif{orientation}.jpg'] = (img, dict(quality=90, exif=exif.tobytes()))
    paths = {}
    for name, (image, kwargs) in files.items():
        paths[name] = str(folder / name)
        image.save(paths[name], **kwargs)
    return paths


def _deploy_spec(model, config, folder):
    """The runtime's ``DeployFolder`` as the converters would write it for ``model``."""
    from fcn_voc_core.fileio import write_json
    from fcn_voc_runtime.deploy import DEPLOY_FILE, load_deploy_dir
    from mmseg_fcn_voc.conversion.deploy_info import describe_deployment
    from mmseg_fcn_voc.conversion.network.trace import trace_network
    model_file = folder / 'm.onnx'
    model_file.write_bytes(b'stand-in')
    write_json(str(folder / DEPLOY_FILE), describe_deployment(
        model, trace_network(model, config), config, 'x.pth', '0' * 64, 'onnxruntime',
        str(folder), str(model_file), [1, 3, None, None], {}, {}))
    return load_deploy_dir(str(folder))


def _mmseg_inputs(model, pipeline, path):
    """mmseg's own test-time path to the network input: the config's test pipeline (mmcv's
    ``LoadImageFromFile``, ``Resize``, ...; no labels) and the model's ``data_preprocessor``."""
    import torch
    with torch.no_grad():
        packed = pipeline(dict(img_path=path))
        return model.data_preprocessor(
            dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]),
            training=False)['inputs'].numpy()


def _test_pipeline(cfg):
    from mmengine.dataset import Compose
    return Compose([t for t in cfg.test_pipeline if t['type'] not in ('LoadAnnotations', )])


@pytest.mark.parametrize('config', ['configs/fcn8s_vgg16_voc.py',  # Caffe, native size
                                    'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py',
                                    'configs/fcn8s_vgg16bn_voc.py'])  # 'same', resize policy
def test_runtime_preprocessing_equals_mmseg_on_user_files(config, tmp_path, repo_root):
    """``fcn_voc_runtime`` (decode + preprocess from ``deploy.json``) against the config's test
    pipeline + the model's ``data_preprocessor``, bit for bit, on every kind of file."""
    from fcn_voc_core.imageio import read_image
    from fcn_voc_runtime.preprocess import preprocess
    from mmseg_fcn_voc.conversion.checkpoint import build_model

    config = osp.join(repo_root, config)
    model = build_model(config)
    spec = _deploy_spec(model, config, tmp_path)
    pipeline = _test_pipeline(model.cfg)
    for name, path in write_user_images(tmp_path).items():
        expected = _mmseg_inputs(model, pipeline, path)
        x, _ = preprocess(read_image(path), spec)
        assert x.shape == expected.shape, name
        np.testing.assert_allclose(x, expected, rtol=0, atol=1e-4, err_msg=name)


RESIZE_TEST_PIPELINE = """
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
"""


@pytest.mark.slow
@pytest.mark.parametrize('config, resize', [
    ('configs/fcn8s_vgg16_voc.py', False),  # Caffe geometry, native size
    ('configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py', False),  # 'same', padded to 32
    ('configs/fcn8s_vgg16bn_voc.py', True),  # 'same', the resize policy (at a small scale)
])
def test_runtime_predictions_equal_inference_model_on_user_files(config, resize, tmp_path,
                                                                 repo_root, randomize_fcn):
    """Every pixel of ``inference_model``'s prediction, for every kind of file: the runtime's
    decoding, preprocessing and postprocessing around the same torch network."""
    import torch
    from mmseg.apis import inference_model

    from fcn_voc_core.imageio import read_image
    from fcn_voc_runtime.preprocess import postprocess, preprocess
    from mmseg_fcn_voc.conversion.checkpoint import build_model

    path = tmp_path / 'config.py'
    path.write_text(f'_base_ = [{osp.join(repo_root, config)!r}]\n'
                    + (RESIZE_TEST_PIPELINE if resize else ''))
    model = randomize_fcn(build_model(str(path)), seed=5)
    spec = _deploy_spec(model, str(path), tmp_path)
    assert spec.size_policy == ('resize' if resize else 'native')
    for name, image_path in write_user_images(tmp_path).items():
        expected = inference_model(model, image_path).pred_sem_seg.data[0].numpy()
        image = read_image(image_path)
        x, valid = preprocess(image, spec)
        with torch.no_grad():
            logits = model(torch.from_numpy(x), mode='tensor').numpy()
        ours = postprocess(logits, valid, image.shape[:2])
        assert ours.shape == expected.shape, name
        assert (ours == expected).all(), f'{name}: {(ours != expected).mean():.4%} of pixels differ'


# --------------------------------------------------------------------------------------------------
# the void label (255) is not scored, by mmseg's loader + FCNIoUMetric and by the runtime
# --------------------------------------------------------------------------------------------------
def test_void_label_is_excluded_from_both_confusion_matrices(tmp_path):
    import torch
    from mmseg.datasets.transforms import LoadAnnotations
    from PIL import Image

    from fcn_voc_core.imageio import read_label_png
    from fcn_voc_core.metrics import confusion_matrix
    from mmseg_fcn_voc.datasets.voc_format import write_voc_label
    from mmseg_fcn_voc.evaluation import FCNIoUMetric

    rng = np.random.default_rng(1)
    label = rng.integers(0, 21, (29, 41)).astype(np.uint8)
    label[:3] = 255  # a void border
    label[rng.random(label.shape) < 0.1] = 255
    path = str(tmp_path / 'label.png')
    write_voc_label(path, label)
    with Image.open(path) as img:  # counted here, from the file, with Pillow alone
        scored = int((np.array(img) != 255).sum())
    assert 0 < scored < label.size

    gt = LoadAnnotations()(dict(seg_map_path=path, reduce_zero_label=False,
                                seg_fields=[]))['gt_seg_map']
    pred = rng.integers(0, 21, label.shape)
    metric = FCNIoUMetric(num_classes=21)
    metric.process(None, [dict(gt_sem_seg=dict(data=torch.from_numpy(gt.astype(np.int64))[None]),
                               pred_sem_seg=dict(data=torch.from_numpy(pred)[None]))])
    assert int(metric.results[0].sum()) == scored
    runtime = confusion_matrix(read_label_png(path, 21, 255), pred, 21, 255)
    assert int(runtime.sum()) == scored
    np.testing.assert_array_equal(runtime, metric.results[0])


# --------------------------------------------------------------------------------------------------
# dynamic exports are dynamic: the exporters' own export functions on tiny networks, two sizes
# --------------------------------------------------------------------------------------------------
SIZES = ((17, 23), (32, 40))


def _tiny_torch():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class TinyFCN(nn.Module):
        """conv -> ReLU -> ceil-mode pool -> score -> bilinear back to the input size."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.score = nn.Conv2d(4, 2, 1)

        def forward(self, x, mode='tensor'):
            y = F.max_pool2d(F.relu(self.conv(x)), 2, 2, ceil_mode=True)
            return F.interpolate(self.score(y), size=x.shape[-2:], mode='bilinear',
                                 align_corners=False)

    torch.manual_seed(0)
    return TinyFCN().eval()


def test_dynamic_onnx_export_takes_two_sizes(tmp_path):
    import onnx
    import onnxruntime
    import torch

    from mmseg_fcn_voc.conversion.onnx.backend import (
        INPUT_NAME,
        OUTPUT_NAME,
        check_io_shapes,
        export_onnx,
        io_shapes,
    )
    model = _tiny_torch()
    path = export_onnx(model, torch.zeros(1, 3, *SIZES[0]), str(tmp_path / 'tiny.onnx'),
                       dynamic=True)
    shapes = io_shapes(onnx.load(path))
    assert shapes[INPUT_NAME][2:] == ['height', 'width'], shapes
    check_io_shapes(path, shapes, {INPUT_NAME: [1, 3, *SIZES[0]], OUTPUT_NAME: [1, 2, *SIZES[0]]},
                    dynamic=True)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    for h, w in SIZES:
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            expected = model(x).numpy()
        out = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        assert out.shape == (1, 2, h, w)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_dynamic_mindir_export_takes_two_sizes(tmp_path):
    import mindspore as ms
    import torch
    from mindspore import nn as msnn
    from torch.nn import functional as F

    from mmseg_fcn_voc.conversion.mindspore.cells import max_pool2d
    from mmseg_fcn_voc.conversion.mindspore.io import export_mindir, load_mindir, run_cell
    from mmseg_fcn_voc.conversion.network.layer_specs import PoolSpec
    model = _tiny_torch()
    conv = msnn.Conv2d(3, 4, 3, pad_mode='pad', padding=1, has_bias=True)
    conv.weight.set_data(ms.Tensor(model.conv.weight.detach().numpy()))
    conv.bias.set_data(ms.Tensor(model.conv.bias.detach().numpy()))
    cell = msnn.SequentialCell([conv, msnn.ReLU(), max_pool2d(PoolSpec((2, 2), (2, 2), (0, 0),
                                                                       True))])
    cell.set_train(False)
    graph = load_mindir(export_mindir(cell, [1, 3, None, None], str(tmp_path / 'tiny.mindir')))
    for h, w in SIZES:
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            expected = F.max_pool2d(F.relu(model.conv(x)), 2, 2, ceil_mode=True).numpy()
        out = run_cell(graph, x.numpy())
        assert out.shape == expected.shape == (1, 4, -(-h // 2), -(-w // 2))
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# Ascend ATC's operator constraints, on hand-built graphs
# --------------------------------------------------------------------------------------------------
def _graph(nodes, initializers=(), opset=11, input_shape=(1, 2, 8, 8)):
    from onnx import TensorProto, helper
    return helper.make_model(helper.make_graph(
        nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], list(initializers)),
        opset_imports=[helper.make_opsetid('', opset)])


def test_atc_check_names_each_node_and_what_atc_requires():
    from onnx import helper, numpy_helper

    from mmseg_fcn_voc.conversion.onnx.atc import check_atc_compatibility
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), 'pads')
    zero = numpy_helper.from_array(np.array(0.0, np.float32), 'zero')
    minus = numpy_helper.from_array(np.array(-np.inf, np.float32), 'minus')
    w = numpy_helper.from_array(np.zeros((2, 2, 4, 4), np.float32), 'w')
    ok = _graph([helper.make_node('Pad', ['x', 'pads', 'zero'], ['p'], name='pad_ok'),
                 helper.make_node('MaxPool', ['p'], ['m'], name='pool_ok', kernel_shape=[2, 2],
                                  strides=[2, 2], ceil_mode=1),
                 helper.make_node('ConvTranspose', ['m', 'w'], ['y'], name='up_ok',
                                  strides=[2, 2])], [pads, zero, w])
    assert check_atc_compatibility(ok) == []
    bad = _graph([helper.make_node('Pad', ['x', 'pads', 'minus'], ['p'], name='pad_inf'),
                  helper.make_node('MaxPool', ['p'], ['m'], name='pool_valid', kernel_shape=[2, 2],
                                   strides=[2, 2], ceil_mode=1, auto_pad='VALID'),
                  helper.make_node('ConvTranspose', ['m', 'w'], ['y'], name='up_dilated',
                                   strides=[2, 2], dilations=[2, 2])], [pads, minus, w],
                 opset=19)
    found = {(v.node, v.op_type): str(v) for v in check_atc_compatibility(bad)}
    assert set(found) == {('<model>', 'opset'), ('pad_inf', 'Pad'), ('pool_valid', 'MaxPool'),
                          ('up_dilated', 'ConvTranspose')}
    assert 'constant value -inf' in found[('pad_inf', 'Pad')]
    assert 'VALID with ceil_mode 0 only' in found[('pool_valid', 'MaxPool')]
    assert 'dilation 1' in found[('up_dilated', 'ConvTranspose')]
    assert 'opsets 9-18' in found[('<model>', 'opset')]
    wide = _graph([helper.make_node('MaxPool', ['x'], ['y'], name='pool_wide',
                                    kernel_shape=[2, 2], strides=[2, 2])],
                  input_shape=(1, 2, 8, 5000))
    assert [v.node for v in check_atc_compatibility(wide)] == ['pool_wide']
    dynamic = _graph([helper.make_node('Relu', ['x'], ['y'])], input_shape=(1, 2, 'h', 'w'))
    assert check_atc_compatibility(dynamic) == []
    assert [v.op_type for v in check_atc_compatibility(dynamic, static=True)] == ['graph input']
