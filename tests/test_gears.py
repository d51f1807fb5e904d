"""Static gears (``to_onnx.py --gears``): one static ONNX per size, the runtime running each image on
the smallest gear that holds it (padded as the preprocessor pads, logits cropped back), images
larger than every gear refused before anything is written, and the exporter's measurement of the
geared model against native-size inference."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fcn_voc_runtime.geared_model import pick_gear
from mmseg_fcn_voc.conversion.gear_sizes import VOC_GEARS, parse_gears, resolve_gears


def test_pick_gear_smallest_that_holds():
    gears = [(384, 512), (512, 384), (512, 512)]
    assert pick_gear(gears, 375, 500) == (384, 512)
    assert pick_gear(gears, 384, 512) == (384, 512)
    assert pick_gear(gears, 500, 375) == (512, 384)
    assert pick_gear(gears, 400, 500) == (512, 512)  # too tall for 384x512
    assert pick_gear(gears, 100, 100) == (384, 512)  # equal areas: the first by (H, W)
    assert pick_gear(gears, 513, 10) is None


def test_gear_arguments_and_the_voc_set():
    assert parse_gears('voc') == 'voc'
    assert parse_gears('375x500,500X375') == [(375, 500), (500, 375)]
    for bad in ('375', '375x', 'ax5', '0x5', '5x5,5x5'):
        with pytest.raises(ValueError):
            parse_gears(bad)
    assert VOC_GEARS == ((375, 500), (500, 375), (500, 500))
    assert resolve_gears('voc', 1) == [(375, 500), (500, 375), (500, 500)]
    assert resolve_gears('voc', 32) == [(384, 512), (512, 384), (512, 512)]
    assert resolve_gears([(64, 64), (32, 96)], 1) == [(32, 96), (64, 64)]


# --------------------------------------------------------------------------------------------------
# the runtime, on tiny real ONNX gears
# --------------------------------------------------------------------------------------------------
def _box_gear(path, size, scale):
    """A static (1, 3, H, W) ONNX: each output channel is ``scale`` x the 3 x 3 box sum of its input
    channel (zero padding): output pixels at the edges see what lies beyond the image."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        w[c, c] = scale
    graph = helper.make_graph(
        [helper.make_node('Conv', ['input', 'w'], ['output'], pads=[1, 1, 1, 1])], 'gear',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, *size])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, [1, 3, *size])],
        [numpy_helper.from_array(w, 'w')])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)],
                                ir_version=7), path)


GEARS = {(16, 24): 1.0, (24, 16): 2.0, (24, 24): 3.0}
PAD_VALUE = 7.0


@pytest.fixture
def geared(tmp_path, tiny_deploy):
    """tiny_deploy's folder turned into three box-filter gears, one scale each (so the logits
    say which gear ran), with a visible pad value."""
    from fcn_voc_runtime.deploy import DEPLOY_FILE, file_entry
    folder = tiny_deploy(str(tmp_path / 'geared'))
    with open(osp.join(folder, DEPLOY_FILE)) as f:
        deploy = json.load(f)
    os.remove(osp.join(folder, deploy['model']['file']))
    deploy['gears'] = []
    for (h, w), scale in GEARS.items():
        path = osp.join(folder, f'tiny_{h}x{w}.onnx')
        _box_gear(path, (h, w), scale)
        deploy['gears'].append({'size': [h, w], **file_entry(folder, path)})
    deploy['model'].update(file_entry(folder, path), input_shape=[1, 3, 24, 24])
    deploy['size']['pad_value'] = PAD_VALUE
    with open(osp.join(folder, DEPLOY_FILE), 'w') as f:
        json.dump(deploy, f)
    return folder


def _expected_logits(image, gear, scale):
    """What the test computes: the image (mean 0, std 1) padded to ``gear`` with the pad value,
    the box filter with zero padding, cropped to the image."""
    h, w = image.shape[:2]
    x = np.full((*gear, 3), PAD_VALUE, np.float32)
    x[:h, :w] = image
    z = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    box = sum(z[dy:dy + gear[0], dx:dx + gear[1]] for dy in range(3) for dx in range(3))
    return (scale * box)[:h, :w].transpose(2, 0, 1)


def test_each_image_runs_on_the_smallest_gear_padded_and_cropped(geared):
    from fcn_voc_runtime.predictor import Predictor
    predictor = Predictor(geared)
    assert predictor.deploy.static_size is None and len(predictor.deploy.gears) == 3
    assert any('static gears 16x24, 24x16, 24x24' in n for n in predictor.model.notes)
    rng = np.random.default_rng(0)
    for (h, w), gear in (((16, 24), (16, 24)), ((10, 20), (16, 24)), ((20, 12), (24, 16)),
                         ((17, 17), (24, 24)), ((24, 24), (24, 24))):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        logits, valid = predictor.logits(image)
        assert logits.shape == (1, 3, h, w) and tuple(valid) == (h, w)
        np.testing.assert_allclose(logits[0], _expected_logits(image.astype(np.float32), gear,
                                                               GEARS[gear]), rtol=1e-5)


def test_an_image_larger_than_every_gear_is_refused_before_work(geared, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    rng = np.random.default_rng(1)
    for name, size in (('fits.png', (20, 20)), ('tall.png', (25, 10)), ('wide.png', (10, 30))):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(images / name)
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, '-m', 'fcn_voc_runtime', geared,
                           str(images), '--out-dir', str(out)], capture_output=True, text=True,
                          cwd=osp.dirname(osp.dirname(osp.abspath(__file__))), timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert '2 problem(s)' in proc.stderr
    for name, size in (('tall.png', '25x10'), ('wide.png', '10x30')):
        assert f'{images / name}: {size}' in proc.stderr and 'larger than every gear' in \
            proc.stderr
    assert 'fits.png' not in proc.stderr
    assert not out.exists() or not os.listdir(out)  # nothing written


def test_a_tampered_gear_is_refused(geared):
    from fcn_voc_runtime.deploy import DeployError, load_deploy_dir
    with open(osp.join(geared, 'tiny_24x16.onnx'), 'ab') as f:
        f.write(b'\0')
    with pytest.raises(DeployError, match='tiny_24x16.onnx'):
        load_deploy_dir(geared)


def _assert_gears_measured_is_recomputed(measured, out, deploy, config, ckpt, images, labels,
                                         mmseg_input):
    """deploy.json's ``gears_measured``, recomputed here from the gear ONNX files on disk: each
    image's mmseg input padded (bottom, right, with the preprocessor's pad value) to the smallest
    gear that holds it, run with onnxruntime, cropped back, against mmseg's native-size
    ``inference_model``; pixel agreement overall and per gear, the worst image, both mean IUs."""
    import onnxruntime as ort
    from mmseg.apis import inference_model, init_model

    from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion
    model = init_model(config, ckpt, device='cpu')
    pad = float(model.data_preprocessor.pad_val)
    gears = {tuple(g['size']): ort.InferenceSession(str(out / g['file']),
                                                    providers=['CPUExecutionProvider'])
             for g in deploy['gears']}
    totals, per_image, hists = {}, {}, [0, 0]
    for name in sorted(os.listdir(images)):
        x, (h, w) = mmseg_input(model, images / name)
        ph, pw = x.shape[-2:]
        gear = min((g for g in gears if g[0] >= ph and g[1] >= pw),
                   key=lambda g: (g[0] * g[1], g))
        padded = np.full((1, 3, *gear), pad, np.float32)
        padded[..., :ph, :pw] = x.numpy()
        geared = gears[gear].run(None, {'input': padded})[0][0, :, :h, :w].argmax(0)
        native = inference_model(model, str(images / name)).pred_sem_seg.data[0].numpy()
        agree = int((geared == native).sum())
        key = f'{gear[0]}x{gear[1]}'
        a, n, c = totals.get(key, (0, 0, 0))
        totals[key] = (a + agree, n + native.size, c + 1)
        per_image[name] = agree / native.size
        gt = np.array(Image.open(labels / name))
        hists = [hists[0] + confusion_matrix(gt, native, 21, 255),
                 hists[1] + confusion_matrix(gt, geared, 21, 255)]
    agreeing = sum(a for a, _, _ in totals.values())
    pixels = sum(n for _, n, _ in totals.values())
    assert measured['pixel_agreement'] == pytest.approx(agreeing / pixels, abs=1e-9)
    assert measured['per_gear'] == {k: {'images': c, 'pixel_agreement': pytest.approx(a / n)}
                                    for k, (a, n, c) in totals.items()}
    worst = min(per_image, key=per_image.get)
    assert measured['worst_image'] == worst
    assert measured['worst_image_agreement'] == pytest.approx(per_image[worst], abs=1e-9)
    assert measured['mean_iou_native'] == pytest.approx(
        100 * scores_from_confusion(hists[0]).mean_iou, abs=1e-6)
    assert measured['mean_iou_geared'] == pytest.approx(
        100 * scores_from_confusion(hists[1]).mean_iou, abs=1e-6)


@pytest.mark.slow
def test_to_onnx_gears_deploy_and_measure_against_native_mmseg(
        tmp_path, narrow_fcn_config, random_fcn_checkpoint, converter_cli, host_python, host_env,
        capsys, mmseg_input):
    """``--gears`` on the Caffe geometry (narrow fc6/fc7): one static ONNX per gear, parity per
    gear, deploy.json's gears and their measured agreement with native size, which equals the
    agreement the test measures between the host runtime's predictions and mmseg's
    ``inference_model``; the VOC gears are refused for a config that resizes test images."""
    from mmseg.apis import inference_model, init_model
    config = narrow_fcn_config('configs/fcn8s_vgg16_voc.py')
    ckpt = random_fcn_checkpoint(config)
    images, labels = tmp_path / 'images', tmp_path / 'labels'
    images.mkdir()
    labels.mkdir()
    rng = np.random.default_rng(3)
    for i, size in enumerate(((40, 60), (33, 47), (60, 30), (21, 59))):
        yy, xx = np.mgrid[0:size[0], 0:size[1]]
        img = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1) + rng.normal(0, 20, (*size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(images / f'im{i}.png')
        Image.fromarray(rng.integers(0, 21, size).astype(np.uint8), 'L').save(labels / f'im{i}.png')
    out = tmp_path / 'gears'
    to_onnx = converter_cli('to_onnx')
    assert to_onnx.main([config, ckpt, '--out-dir', str(out), '--gears', '40x64,64x32',
                         '--images', str(images), '--labels', str(labels)]) == 0
    name = osp.splitext(osp.basename(config))[0]
    deploy = json.loads((out / 'deploy.json').read_text())
    assert [g['size'] for g in deploy['gears']] == [[64, 32], [40, 64]]  # smallest area first
    assert deploy['model']['input_shape'] == [1, 3, 40, 64]
    import onnx
    for g in deploy['gears']:
        graph = onnx.load(str(out / g['file']), load_external_data=False).graph
        assert g['file'] == f'{name}_{g["size"][0]}x{g["size"][1]}.onnx'
        assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3,
                                                                                    *g['size']]
        assert not any(n.op_type == 'Shape' for n in graph.node)  # static, for ATC
    report = json.loads((out / 'onnx_parity.json').read_text())
    assert report['onnxruntime_40x64']['passed'] and report['onnxruntime_64x32']['passed']
    measured = deploy['gears_measured']
    assert measured['images'] == 4 and set(measured['per_gear']) == {'40x64', '64x32'}
    _assert_gears_measured_is_recomputed(measured, out, deploy, config, ckpt, images, labels,
                                         mmseg_input)
    atc = (out / 'atc.sh').read_text()
    assert 'input:1,3,40,64' in atc and 'input:1,3,64,32' in atc

    run = tmp_path / 'run'
    proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(out), str(images),
                           '--labels', str(labels), '--out-dir', str(run)], capture_output=True,
                          text=True, env=host_env(), cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = init_model(config, ckpt, device='cpu')
    agree = total = 0
    for i in range(4):
        ours = np.array(Image.open(run / f'im{i}.png'))
        native = inference_model(model, str(images / f'im{i}.png')).pred_sem_seg.data[0].numpy()
        agree, total = agree + int((ours == native).sum()), total + native.size
    assert agree / total == pytest.approx(measured['pixel_agreement'], abs=2e-3)

    bn = narrow_fcn_config('configs/fcn8s_vgg16bn_voc.py')  # its test pipeline resizes
    capsys.readouterr()
    assert to_onnx.main([bn, random_fcn_checkpoint(bn), '--out-dir', str(tmp_path / 'bn'),
                         '--gears', 'voc']) == 3
    assert 'resizes images' in capsys.readouterr().err


def test_a_malformed_gear_is_a_usage_error(converter_cli, capsys):
    with pytest.raises(SystemExit) as e:
        converter_cli('to_onnx').main(['c.py', 'x.pth', '--out-dir', 'o', '--gears', '375x'])
    assert e.value.code == 2
    assert "gear '375x': expected HxW" in capsys.readouterr().err
