"""The argmax on the device (``--with-argmax``): the exported network returns the (1, H, W) int32
class map, equal on every pixel to the argmax of the same export's logits, and the runtime reads it
as it reads logits; refused where a resize of the logits comes before the argmax. Also the static
exports' crops merged into one ``Slice`` each (as Ascend's graph tools want)."""
import json
import os
import os.path as osp
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _session(model):
    import onnxruntime as ort
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, providers=['CPUExecutionProvider'])


def _scores_graph(k=5, crop=None):
    """input (1, 3, H, W) -> 1x1 conv to k scores -> [two Slices cropping H then W] -> output."""
    w = np.random.default_rng(0).normal(size=(k, 3, 1, 1)).astype(np.float32)
    nodes = [helper.make_node('Conv', ['input', 'w'], ['scores'], name='/score/Conv')]
    inits = [numpy_helper.from_array(w, 'w')]
    last, shape = 'scores', [1, k, 12, 16]
    if crop:
        (h0, h1), (w0, w1) = crop
        for axis, (a, b), name in ((2, (h0, h1), 'h'), (3, (w0, w1), 'w')):
            inits += [numpy_helper.from_array(np.array(v, np.int64), f'{name}_{key}')
                      for key, v in (('starts', [a]), ('ends', [b]), ('axes', [axis]),
                                     ('steps', [1]))]
            nodes.append(helper.make_node('Slice', [last] + [f'{name}_{key}' for key in (
                'starts', 'ends', 'axes', 'steps')], [f'crop_{name}'], name=f'/crop_{name}'))
            last = f'crop_{name}'
        shape = [1, k, h1 - h0, w1 - w0]
    nodes[-1].output[:] = ['output']
    graph = helper.make_graph(
        nodes, 'scores', [helper.make_tensor_value_info('input', TensorProto.FLOAT,
                                                        [1, 3, 12, 16])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)], ir_version=7)


def test_append_argmax_gives_the_class_map_of_the_logits():
    from mmseg_fcn_voc.conversion.onnx.graph_edits import append_argmax
    logits_model = _scores_graph()
    x = np.random.default_rng(1).normal(size=(1, 3, 12, 16)).astype(np.float32)
    logits = _session(logits_model).run(None, {'input': x})[0]
    argmax_model = append_argmax(logits_model)
    out = _session(argmax_model).run(None, {'input': x})[0]
    assert out.dtype == np.int64 and out.shape == (1, 12, 16)  # ONNX's ArgMax (the .om: int32)
    np.testing.assert_array_equal(out, logits.argmax(1))
    ties = np.zeros((1, 5, 2, 2), np.float32)  # ties: the first maximum, as numpy's
    assert int(np.argmax(ties[0, :, 0, 0])) == 0
    assert [o.name for o in argmax_model.graph.output] == ['output']


def test_consecutive_crops_become_one_slice():
    from mmseg_fcn_voc.conversion.onnx.graph_edits import merge_consecutive_slices
    model = _scores_graph(crop=((2, 10), (3, 14)))
    x = np.random.default_rng(2).normal(size=(1, 3, 12, 16)).astype(np.float32)
    before = _session(model).run(None, {'input': x})[0]
    merged = merge_consecutive_slices(model)
    assert [n.op_type for n in merged.graph.node] == ['Conv', 'Slice']
    after = _session(merged).run(None, {'input': x})[0]
    np.testing.assert_array_equal(after, before)
    assert after.shape == (1, 5, 8, 11)
    names = {t.name for t in merged.graph.initializer}
    assert not any(n.startswith('h_') for n in names)  # the first Slice's constants are gone


def test_argmax_is_refused_where_the_logits_are_resized(converter_cli, narrow_fcn_config,
                                                        random_fcn_checkpoint, tmp_path, capsys):
    config = narrow_fcn_config('configs/fcn8s_vgg16bn_voc.py')  # its test pipeline resizes
    code = converter_cli('to_onnx').main([config, random_fcn_checkpoint(config), '--out-dir',
                                          str(tmp_path / 'o'), '--dynamic', '--with-argmax'])
    assert code == 3
    assert 'resizes images' in capsys.readouterr().err
    assert not (tmp_path / 'o' / 'deploy.json').exists()


def _images(folder, sizes, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for i, size in enumerate(sizes):
        yy, xx = np.mgrid[0:size[0], 0:size[1]]
        img = np.stack([xx * 3, yy * 3, (xx + yy) * 2], -1) + rng.normal(0, 25, (*size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f'im{i}.png')
    return folder


@pytest.mark.slow
def test_argmax_exports_deploy_and_equal_mmseg(converter_cli, narrow_fcn_config,
                                               random_fcn_checkpoint, tmp_path, host_python,
                                               host_env):
    """ONNX static (Caffe geometry, crops merged), ONNX dynamic and MindSpore dynamic (the demo's
    BN network) exported with their argmax: the class maps equal the argmax of the logits twins (computed
    here from the files), the report says so, and the host runtime predicts what mmseg's
    ``inference_model`` predicts."""
    from mmseg.apis import inference_model, init_model
    caffe = narrow_fcn_config('configs/fcn8s_vgg16_voc.py')
    demo = narrow_fcn_config('configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py')
    images = _images(tmp_path / 'images', [(40, 60), (33, 47), (35, 59)])
    runs = {'onnx_static': (caffe, 'to_onnx', ['--input-size', '48', '64']),
            'onnx': (caffe, 'to_onnx', ['--dynamic', '--parity-size', '48', '64']),
            'mindspore': (demo, 'to_mindspore', ['--parity-size', '64', '96'])}
    for kind, (config, command, extra) in runs.items():
        out = tmp_path / kind
        ckpt = random_fcn_checkpoint(config)
        assert converter_cli(command).main([config, ckpt, '--out-dir', str(out), '--with-argmax',
                                            *extra]) == 0
        deploy = json.loads((out / 'deploy.json').read_text())
        assert deploy['output']['kind'] == 'class_map'
        onnx_run = kind.startswith('onnx')
        report = json.loads((out / ('onnx_parity.json' if onnx_run else 'parity.json'))
                            .read_text())
        section = report['onnxruntime' if onnx_run else 'mindir']
        assert section['output'] == 'class_map'
        assert section['argmax_agreement_with_logits_model'] == 1.0 and section['passed']
        name = osp.splitext(osp.basename(config))[0]
        if kind == 'onnx_static':  # recomputed here, from the two files
            graph = onnx.load(str(out / f'{name}.onnx'))
            assert [n.op_type for n in graph.graph.node][-1] == 'ArgMax'
            logits_graph = onnx.load(str(out / f'{name}_logits.onnx'))
            slices = [n for n in logits_graph.graph.node if n.op_type == 'Slice']
            assert slices and all(len(numpy_helper.to_array(next(
                t for t in logits_graph.graph.initializer if t.name == n.input[3]))) == 2
                for n in slices)  # every crop one Slice over both axes
            x = np.random.default_rng(7).normal(0, 50, (1, 3, 48, 64)).astype(np.float32)
            np.testing.assert_array_equal(
                _session(str(out / f'{name}.onnx')).run(None, {'input': x})[0],
                _session(str(out / f'{name}_logits.onnx')).run(None, {'input': x})[0].argmax(1))
            continue  # a static model pads images to its size: not mmseg's native-size output
        run = tmp_path / f'run_{kind}'
        proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', str(out), str(images),
                               '--out-dir', str(run)], capture_output=True, text=True,
                              env=host_env(), cwd=str(tmp_path), timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        model = init_model(config, ckpt, device='cpu')
        for image in sorted(os.listdir(images)):
            ours = np.array(Image.open(run / image))
            theirs = inference_model(model, str(images / image)).pred_sem_seg.data[0].numpy()
            assert (ours == theirs).mean() >= 0.9999, (kind, image)
