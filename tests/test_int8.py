"""int8 ONNX (``to_onnx.py --int8``): onnxruntime's static quantizer, the calibration method and the
float32 layers chosen by measurement, held-out refusal, and the runtime running the int8 folder.

The plan's figures are checked against onnxruntime's own quantizer and sessions run by the test,
on tiny graphs built here; the command line on a narrow FCN-8s (fc6/fc7 with 64 channels).
"""
import hashlib
import json
import os
import os.path as osp
import subprocess

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from mmseg_fcn_voc.conversion.images import ImageSet
from mmseg_fcn_voc.conversion.onnx.quantize import Int8Quantizer, candidate_nodes, measure
from mmseg_fcn_voc.conversion.options import Int8Targets

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tiny_graph(path, seed=0, k=4):
    """input (1, 3, H, W) -> Conv 3x3 (3 -> 8) -> Relu -> Conv 1x1 (8 -> k) -> Add bias map ->
    output: a float32 'segmentation' graph at opset 13."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (k, 8, 1, 1)).astype(np.float32)
    bias = rng.normal(0, 0.1, (1, k, 1, 1)).astype(np.float32)
    nodes = [helper.make_node('Conv', ['input', 'w1'], ['c1'], name='conv1', pads=[1, 1, 1, 1]),
             helper.make_node('Relu', ['c1'], ['r1'], name='relu1'),
             helper.make_node('Conv', ['r1', 'w2'], ['c2'], name='score'),
             helper.make_node('Add', ['c2', 'bias'], ['output'], name='fuse')]
    graph = helper.make_graph(
        nodes, 'tiny',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, 'h', 'w'])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, [1, k, 'h', 'w'])],
        [numpy_helper.from_array(w1, 'w1'), numpy_helper.from_array(w2, 'w2'),
         numpy_helper.from_array(bias, 'bias')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _images(n=3, size=(12, 16), seed=1, k=4, labelled=True):
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(1, 3, *size, generator=gen) for _ in range(n)]
    labels = [np.random.default_rng(seed + i).integers(0, k, size).astype(np.uint8)
              for i in range(n)] if labelled else None
    return ImageSet([f'im{i}.png' for i in range(n)], inputs, [size] * n, labels)


def _session(path):
    import onnxruntime as ort
    return ort.InferenceSession(path, providers=['CPUExecutionProvider'])


def _maps(path, images):
    session = _session(path)
    return [session.run(None, {'input': x.numpy()})[0][0].argmax(0) for x in images.inputs]


def test_targets_name_each_miss():
    targets = Int8Targets(0.995, 0.99, 0.5)
    ok = {'argmax_agreement_mean': 0.996, 'argmax_agreement_worst': 0.991, 'worst_image': 'a',
          'mIoU': 60.0, 'mIoU_float32': 60.4}
    assert targets.misses(ok) == []
    bad = dict(ok, argmax_agreement_mean=0.99, argmax_agreement_worst=0.98, mIoU=59.0)
    misses = targets.misses(bad)
    assert len(misses) == 3
    assert '99.000% < 99.50%' in misses[0] and 'a 98.000% < 99.00%' in misses[1]
    assert '1.40 points below' in misses[2]
    assert targets.misses(dict(bad, mIoU=None, argmax_agreement_mean=1.0,
                               argmax_agreement_worst=1.0)) == []  # no labels: no IU target


def test_measure_by_hand():
    ref = [np.zeros((2, 2), int), np.zeros((2, 2), int)]
    preds = [np.array([[0, 0], [0, 1]]), np.zeros((2, 2), int)]  # 3/4 and 4/4 agree
    images = ImageSet(['a', 'b'], [None, None], [(2, 2)] * 2,
                      [np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)])
    figures = measure(preds, ref, images, num_classes=2)
    assert figures['argmax_agreement_mean'] == pytest.approx(0.875)
    assert figures['argmax_agreement_worst'] == pytest.approx(0.75)
    assert figures['worst_image'] == 'a'
    # labels all class 0: float32 IU(0) = 1 (class 1 absent: not counted); int8 IU(0) = 7/8,
    # IU(1) = 0 (predicted once, never labelled)
    assert figures['mIoU_float32'] == pytest.approx(100.0)
    assert figures['mIoU'] == pytest.approx(100.0 * (7 / 8 + 0) / 2)


def test_plan_figures_are_onnxruntimes_own(tmp_path):
    """With reachable targets the plan keeps every layer in int8, and its MinMax figures are those
    of onnxruntime's quantize_static (same settings, calibrated by onnxruntime itself on all
    images at once; the plan collects one image at a time, which for MinMax gives the same ranges,
    for the histogram methods slightly different histograms)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    float_path = _tiny_graph(str(tmp_path / 'float.onnx'))
    images = _images()
    quantizer = Int8Quantizer(float_path, str(tmp_path / 'work'), 'input', 4,
                              targets=Int8Targets(0.0, 0.0, 100.0))
    plan = quantizer.plan(images, str(tmp_path / 'int8.onnx'), methods=('MinMax', 'Entropy'))
    assert plan['float_nodes'] == [] and plan['reached'] and plan['sensitivity'] == {}
    assert set(plan['methods']) == {'MinMax', 'Entropy'}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{'input': x.numpy()} for x in images.inputs])

        def get_next(self):
            return next(self.items, None)

    ref = _maps(float_path, images)
    own = str(tmp_path / 'own.onnx')
    quantize_static(float_path, own, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    agree = [float((p == r).mean()) for p, r in zip(_maps(own, images), ref)]
    assert min(agree) < 1.0  # int8 changed some pixels: the comparison means something
    assert plan['methods']['MinMax']['argmax_agreement_mean'] == pytest.approx(np.mean(agree))
    assert plan['methods']['MinMax']['argmax_agreement_worst'] == pytest.approx(min(agree))
    assert plan['methods']['MinMax']['worst_image'] == images.names[int(np.argmin(agree))]
    chosen = max(('MinMax', 'Entropy'), key=lambda m: (
        plan['methods'][m]['argmax_agreement_worst'], plan['methods'][m]['argmax_agreement_mean']))
    assert plan['method'] == chosen

    q = onnx.load(str(tmp_path / 'int8.onnx'))
    assert max(o.version for o in q.opset_import if o.domain in ('', 'ai.onnx')) >= 13
    ops = [n.op_type for n in q.graph.node]
    assert ops.count('QuantizeLinear') >= 2 and 'DequantizeLinear' in ops
    weights = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    int8 = [v for v in weights.values() if v.dtype == np.int8 and v.ndim == 4]
    assert len(int8) == 2  # both convolutions' weights stored as int8
    assert max(int(np.abs(v).max()) for v in int8) <= 64  # 7-bit range (reduce_range)
    axes = [a.i for n in q.graph.node if n.op_type == 'DequantizeLinear' for a in n.attribute
            if a.name == 'axis']
    assert 0 in axes  # per output channel


def test_plan_keeps_layers_in_float32_until_the_targets_hold(tmp_path):
    """A target only float32 can meet (worst image 100%): every candidate is measured alone and
    kept; a target the int8 graph already meets: none. Kept layers are measured, not assumed."""
    float_path = _tiny_graph(str(tmp_path / 'float.onnx'), seed=3)
    images = _images(seed=4)
    assert candidate_nodes(float_path) == ['conv1', 'score', 'fuse']
    exact = Int8Quantizer(float_path, str(tmp_path / 'w1'), 'input', 4,
                          targets=Int8Targets(1.0, 1.0, 0.0))
    plan = exact.plan(images, str(tmp_path / 'q1.onnx'), methods=('MinMax', ))
    assert set(plan['sensitivity']) == {'conv1', 'score', 'fuse'}
    assert plan['methods']['MinMax']['argmax_agreement_worst'] < 1.0  # int8 changed something
    assert sorted(plan['float_nodes']) == ['conv1', 'fuse', 'score']
    assert plan['reached'] and plan['calibration']['argmax_agreement_worst'] == 1.0
    kept = onnx.load(str(tmp_path / 'q1.onnx'))
    assert not any(t.data_type == TensorProto.INT8 for t in kept.graph.initializer)

    impossible = Int8Quantizer(float_path, str(tmp_path / 'w2'), 'input', 4,
                               targets=Int8Targets(1.0, 1.0, -1.0))
    plan = impossible.plan(images, str(tmp_path / 'q2.onnx'), methods=('MinMax', ))
    assert not plan['reached'] and any('points below' in m for m in plan['misses'])


def _write_images(folder, n, size, low, high, seed):
    """``n`` RGB PNGs with values in [low, high] and 21-class label PNGs (void border)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    images, labels = folder / 'images', folder / 'labels'
    images.mkdir(parents=True)
    labels.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(low, high + 1, (*size, 3)).astype(np.uint8)).save(
            images / f'{folder.name}{i}.png')
        label = rng.integers(0, 21, size).astype(np.uint8)
        label[0] = 255
        Image.fromarray(label, 'L').save(labels / f'{folder.name}{i}.png')
    return str(images), str(labels)


@pytest.fixture(scope='module')
def narrow_fcn(fcn_config_file, random_fcn_checkpoint):
    """An FCN-8s BN (the tutorial's layout) with 64-channel fc6/fc7, random weights: (config,
    checkpoint)."""
    config = fcn_config_file('configs/fcn8s_vgg16bn_voc.py', backbone=dict(fc_channels=64),
                             decode_head=dict(in_channels=[256, 512, 64]))
    return config, random_fcn_checkpoint(config)


def _onnx_figures(config, ckpt, float_onnx, int8_onnx, images, labels, mmseg_input):
    """Agreement of the int8 model's class maps with the float32 model's (mean, worst image)
    and both mean IUs, computed here: both ONNX files run with onnxruntime on the inputs mmseg's
    components make, the test's own confusion matrices."""
    from mmseg.apis import init_model

    from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion
    model = init_model(config, ckpt, device='cpu')
    sessions = [_session(str(float_onnx)), _session(str(int8_onnx))]
    agree, hists = {}, [0, 0]
    for name in sorted(os.listdir(images)):
        x, (h, w) = mmseg_input(model, osp.join(images, name))
        gt = np.array(Image.open(osp.join(labels, name)))
        maps = [s.run(None, {'input': x.numpy()})[0][0, :, :h, :w].argmax(0) for s in sessions]
        agree[name] = float((maps[0] == maps[1]).mean())
        hists = [hist + confusion_matrix(gt, m, 21, 255) for hist, m in zip(hists, maps)]
    worst = min(agree, key=agree.get)
    return {'argmax_agreement_mean': float(np.mean(list(agree.values()))),
            'argmax_agreement_worst': agree[worst], 'worst_image': worst,
            'mIoU_float32': 100 * scores_from_confusion(hists[0]).mean_iou,
            'mIoU': 100 * scores_from_confusion(hists[1]).mean_iou}


@pytest.mark.slow
def test_int8_export_deploys_and_refuses_on_held_out_images(narrow_fcn, tmp_path, converter_cli,
                                                          host_python, host_env, capsys,
                                                          mmseg_input):
    """``to_onnx --int8``: the int8 folder (deploy.json, precision.json, AMCT config) run by the
    host runtime, which says int8 and refuses the NPU; then held-out images outside the
    calibration's range, with a target between the two measured worst images: exit 1, nothing
    deployed, the figures printed."""
    config, ckpt = narrow_fcn
    # calibration: low-contrast images; held out: the full range, whose activations the
    # calibrated ranges clip
    cal_images, cal_labels = _write_images(tmp_path / 'cal', 3, (40, 56), 96, 160, seed=0)
    chk_images, chk_labels = _write_images(tmp_path / 'chk', 2, (48, 40), 0, 255, seed=1)
    to_onnx = converter_cli('to_onnx')
    out = tmp_path / 'int8'
    common = [config, ckpt, '--dynamic', '--parity-size', '64', '64', '--int8',
              '--calibration-images', cal_images, '--calibration-labels', cal_labels,
              '--check-images', chk_images, '--check-labels', chk_labels,
              '--calibration-method', 'MinMax']
    assert to_onnx.main(common + ['--out-dir', str(out), '--int8-min-agreement-mean', '0',
                                  '--int8-min-agreement-worst', '0',
                                  '--int8-max-miou-drop', '100']) == 0
    deploy = json.loads((out / 'deploy.json').read_text())
    name = osp.splitext(osp.basename(config))[0]
    assert deploy['model']['file'] == f'{name}_int8.onnx'
    precision = deploy['precision']
    assert precision['dtype'] == 'int8' and precision['calibration']['method'] == 'MinMax'
    cal_files = sorted(os.listdir(cal_images))
    assert precision['calibration']['images'] == cal_files
    assert precision['calibration']['sha256'] == [
        hashlib.sha256(open(osp.join(cal_images, f), 'rb').read()).hexdigest() for f in cal_files]
    assert precision['float32_model'] == f'{name}.onnx' and (out / f'{name}.onnx').is_file()
    assert deploy['files']['float32_model']['file'] == f'{name}.onnx'
    float_onnx = onnx.load(str(out / f"{name}.onnx"))
    int8_onnx = onnx.load(str(out / f"{name}_int8.onnx"))
    assert float_onnx.opset_import[0].version == 11  # ATC's and AMCT's input stays opset 11
    assert any(n.op_type == 'QuantizeLinear' for n in int8_onnx.graph.node)
    amct = (out / 'amct_quant.cfg').read_text()
    assert 'batch_num: 3\n' in amct and 'activation_offset: true' in amct
    report = json.loads((out / 'precision.json').read_text())['int8']
    calibration_worst = report['calibration']['argmax_agreement_worst']
    held_worst = report['held_out']['argmax_agreement_worst']
    assert report['held_out']['images'] == 2
    assert report['held_out']['worst_image'] in os.listdir(chk_images)
    assert held_worst < calibration_worst, (held_worst, calibration_worst)
    # the held-out figures, recomputed here from the two ONNX files on disk with onnxruntime, on
    # inputs mmseg's own components make, against the labels on disk
    recomputed = _onnx_figures(config, ckpt, out / f'{name}.onnx', out / f'{name}_int8.onnx',
                               chk_images, chk_labels, mmseg_input)
    for figures in (report['held_out'], precision['measured']['held_out']):
        assert figures['argmax_agreement_mean'] == pytest.approx(
            recomputed['argmax_agreement_mean'], abs=1e-9)
        assert figures['argmax_agreement_worst'] == pytest.approx(
            recomputed['argmax_agreement_worst'], abs=1e-9)
        assert figures['worst_image'] == recomputed['worst_image']
        assert figures['mIoU'] == pytest.approx(recomputed['mIoU'], abs=1e-6)
        assert figures['mIoU_float32'] == pytest.approx(recomputed['mIoU_float32'], abs=1e-6)

    run_dir = tmp_path / 'run'
    proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(out), chk_images, '--labels',
                           chk_labels, '--out-dir', str(run_dir)], capture_output=True,
                          text=True, env=host_env(), cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'int8' in proc.stdout
    ran = json.loads((run_dir / 'run.json').read_text())
    assert ran['precision'].startswith('int8')
    assert ran['model_sha256'] == hashlib.sha256(
        (out / f'{name}_int8.onnx').read_bytes()).hexdigest()
    npu = subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(out), chk_images, '--out-dir',
                          str(tmp_path / 'npu'), '--device-target', 'Ascend'],
                         capture_output=True, text=True, env=host_env(), cwd=str(tmp_path),
                         timeout=600)
    assert npu.returncode == 3 and 'int8' in npu.stderr and 'AMCT' in npu.stderr, npu.stderr
    assert 'Traceback' not in npu.stderr
    wrong = subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(out), chk_images,
                            '--out-dir', str(tmp_path / 'ms'), '--backend', 'mindspore'],
                           capture_output=True, text=True, env=host_env(), cwd=str(tmp_path),
                           timeout=600)
    assert wrong.returncode == 3 and 'int8 onnxruntime model' in wrong.stderr, wrong.stderr

    capsys.readouterr()
    target = (held_worst + calibration_worst) / 2
    refused = tmp_path / 'refused'
    assert to_onnx.main(common + ['--out-dir', str(refused), '--int8-min-agreement-mean', '0',
                                  '--int8-min-agreement-worst', str(target),
                                  '--int8-max-miou-drop', '100']) == 1
    printed = capsys.readouterr()
    assert not (refused / 'deploy.json').exists()
    assert 'REFUSED' in printed.out + printed.err and 'held out: worst image' in printed.out
    assert f'{100 * held_worst:.3f}%' in printed.out
    verdict = json.loads((refused / 'onnx_parity.json').read_text())
    assert verdict['passed'] is False and verdict['int8']['passed'] is False


def test_int8_usage_errors(converter_cli, capsys):
    to_onnx = converter_cli('to_onnx')
    for argv, needle in (
            (['c.py', 'x.pth', '--out-dir', 'o', '--dynamic', '--int8'],
             '--int8 needs --calibration-images'),
            (['c.py', 'x.pth', '--out-dir', 'o', '--input-size', '64', '64', '--int8',
              '--calibration-images', 'i'], '--int8 quantizes the dynamic export'),
            (['c.py', 'x.pth', '--out-dir', 'o', '--dynamic', '--check-images', 'i'],
             '--check-images only go with --int8')):
        with pytest.raises(SystemExit) as e:
            to_onnx.main(argv)
        assert e.value.code == 2
        assert needle in capsys.readouterr().err


def test_layer_groups_of_an_exported_fcn():
    from mmseg_fcn_voc.conversion.onnx.quantize import candidate_groups, layer_group
    assert layer_group('/model/backbone/conv3_2/conv/Conv') == 'backbone.conv3'
    assert layer_group('/model/backbone/pool3/MaxPool') == 'backbone.conv3'
    assert layer_group('/model/backbone/fc6/conv/MatMul') == 'backbone.fc6'
    for head in ('/model/conv_seg/Conv', '/model/upscore8/ConvTranspose', '/model/Add_1'):
        assert layer_group(head) == 'decode_head'
    assert layer_group('conv1') == 'conv1'
    assert candidate_groups(['/model/backbone/conv1_1/conv/Conv', '/model/score_pool4/Conv',
                             '/model/backbone/conv1_2/conv/Conv']) == {
        'backbone.conv1': ['/model/backbone/conv1_1/conv/Conv',
                           '/model/backbone/conv1_2/conv/Conv'],
        'decode_head': ['/model/score_pool4/Conv']}


def test_held_out_images_that_are_calibration_images_are_refused_before_work(
        converter_cli, tmp_path, capsys):
    """The same folder, the same file through a link, or the same bytes under another name:
    refused (exit 3) before the model is even loaded (the checkpoint here is not one), naming
    the reused image; nothing written."""
    cal_images, _ = _write_images(tmp_path / 'cal', 2, (16, 16), 0, 255, seed=0)
    copies = tmp_path / 'copies'
    copies.mkdir()
    first = sorted(os.listdir(cal_images))[0]
    (copies / 'renamed.png').write_bytes(open(osp.join(cal_images, first), 'rb').read())
    linked = tmp_path / 'linked'
    os.symlink(cal_images, linked)
    fresh, _ = _write_images(tmp_path / 'fresh', 1, (16, 16), 0, 255, seed=5)
    ckpt = tmp_path / 'not_a_checkpoint.pth'
    ckpt.write_bytes(b'not loaded')
    to_onnx = converter_cli('to_onnx')
    for held_out, needle in ((cal_images, first), (str(linked), first),
                             (str(copies), 'renamed.png')):
        out = tmp_path / 'out'
        capsys.readouterr()
        code = to_onnx.main(['configs/fcn8s_vgg16bn_voc.py', str(ckpt), '--out-dir', str(out),
                             '--dynamic', '--int8', '--calibration-images', cal_images,
                             '--check-images', held_out])
        err = capsys.readouterr().err
        assert code == 3, err
        assert 'held-out image(s) are also calibration images' in err and needle in err
        assert not out.exists()
    # apart: the refusal is about reuse, not the check itself (the next error is the checkpoint)
    code = to_onnx.main(['configs/fcn8s_vgg16bn_voc.py', str(ckpt), '--out-dir',
                         str(tmp_path / 'out'), '--dynamic', '--int8', '--calibration-images',
                         cal_images, '--check-images', fresh])
    err = capsys.readouterr().err
    assert code == 3 and 'calibration images' not in err and 'not_a_checkpoint.pth' in err, err
