# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Converters that need no MindSpore: torchfcn import, ONNX export, the parity measures.

The torchfcn checkpoints are made here with the published names and shapes, and the imported
models are checked against a forward pass written out below from the Caffe network's description
(pad 100, ceil pooling, crops 5 / 9 and 19 / 27 / 31, at-once scales 0.01 / 0.0001).
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_fcn_voc.conversion.checkpoint import (
    CheckpointError,
    build_and_load,
    build_model,
    load_state_dict_file,
)
from mmseg_fcn_voc.conversion.importers.torchfcn import import_torchfcn_checkpoint
from mmseg_fcn_voc.conversion.measures import ParityAccumulator, ParityThresholds, compare_logits
from mmseg_fcn_voc.conversion.network.layouts import layout_key_map

BASE = 'configs/_base_/models/'
VARIANTS = {  # name -> (base config, torchfcn layout, at-once)
    'fcn32s': ('fcn32s_vgg16.py', 'fcn32s', False),
    'fcn16s': ('fcn16s_vgg16.py', 'fcn16s', False),
    'fcn8s': ('fcn8s_vgg16.py', 'fcn8s', False),
    'fcn8s-atonce': ('fcn8s_vgg16.py', 'fcn8s', True),
}


def random_torchfcn(shapes, seed=0):
    """A torchfcn-named state dict with random tensors of meaningful scale."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        if name.endswith('bias'):
            t = torch.randn(shape, generator=gen) * 0.1
        elif name.startswith('upscore'):
            t = torch.randn(shape, generator=gen) * 0.1
        elif name.startswith('score'):
            t = torch.randn(shape, generator=gen) * 0.01
        else:  # Kaiming-normal: activations keep their scale through VGG
            fan_in = shape[1] * shape[2] * shape[3]
            t = torch.randn(shape, generator=gen) * (2.0 / fan_in)**0.5
        state[name] = t
    return state


@torch.no_grad()
def caffe_fcn_reference(w, x, variant, at_once=False):
    """FCN-32s/16s/8s from torchfcn-named tensors, following the Caffe network table."""
    size = x.shape[-2:]
    pools = {}
    for s, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)):
        for j in range(1, n + 1):
            x = F.relu(F.conv2d(x, w[f'conv{s}_{j}.weight'], w[f'conv{s}_{j}.bias'],
                                padding=100 if (s, j) == (1, 1) else 1))
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        pools[s] = x
    x = F.relu(F.conv2d(x, w['fc6.weight'], w['fc6.bias']))
    x = F.relu(F.conv2d(x, w['fc7.weight'], w['fc7.bias']))
    score = F.conv2d(x, w['score_fr.weight'], w['score_fr.bias'])

    def fuse(score, pool, layer, up_name, offset, scale):
        up = F.conv_transpose2d(score, w[f'{up_name}.weight'], stride=2)
        skip = F.conv2d(pool * scale if at_once else pool, w[f'{layer}.weight'], w[f'{layer}.bias'])
        return up + skip[..., offset:offset + up.shape[2], offset:offset + up.shape[3]]

    if variant == 'fcn32s':
        out, offset = F.conv_transpose2d(score, w['upscore.weight'], stride=32), 19
    else:
        score = fuse(score, pools[4], 'score_pool4', 'upscore2', 5, 0.01)
        if variant == 'fcn16s':
            out, offset = F.conv_transpose2d(score, w['upscore16.weight'], stride=16), 27
        else:
            score = fuse(score, pools[3], 'score_pool3', 'upscore_pool4', 9, 0.0001)
            out, offset = F.conv_transpose2d(score, w['upscore8.weight'], stride=8), 31
    return out[..., offset:offset + size[0], offset:offset + size[1]]


@pytest.fixture(scope='module')
def variant_config(fcn_config_file):
    def _get(variant):
        base, _, at_once = VARIANTS[variant]
        if at_once:
            return fcn_config_file(BASE + base, decode_head=dict(skip_scales=(0.01, 0.0001)))
        return fcn_config_file(BASE + base)
    return _get


# --------------------------------------------------------------------------------------------------
# torchfcn import
# --------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize('variant', list(VARIANTS))
def test_torchfcn_import_computes_the_caffe_network(tmp_path, variant, variant_config,
                                                    published_layouts):
    _, layout, at_once = VARIANTS[variant]
    src = random_torchfcn(published_layouts.torchfcn(layout), seed=len(variant))
    src_path = str(tmp_path / f'{variant}_from_caffe.pth')
    torch.save(src, src_path)  # a bare state dict, as the torchfcn release files are
    out = str(tmp_path / 'mmseg.pth')
    config = variant_config(variant)
    report = import_torchfcn_checkpoint(src_path, out, config)
    assert report['warnings'] == []

    state = load_state_dict_file(out)
    model = build_model(config)
    model.load_state_dict(state)
    # Hand-paired tensors, bit for bit.
    assert torch.equal(state['backbone.conv1_1.conv.weight'], src['conv1_1.weight'])
    assert torch.equal(state['backbone.conv4_3.conv.bias'], src['conv4_3.bias'])
    assert torch.equal(state['backbone.fc6.conv.weight'], src['fc6.weight'])
    assert torch.equal(state['decode_head.conv_seg.weight'], src['score_fr.weight'])
    if layout == 'fcn8s':
        assert torch.equal(state['decode_head.score_pool3.bias'], src['score_pool3.bias'])
        assert torch.equal(state['decode_head.upscore_pool4.weight'], src['upscore_pool4.weight'])
    # Round trip: back to torchfcn names gives the file's tensors exactly.
    mapping, dropped = layout_key_map(state, 'torchfcn')
    assert dropped == [] and set(mapping.values()) == set(src)
    assert all(torch.equal(state[k], src[name]) for k, name in mapping.items())
    # The imported model computes the Caffe network.
    x = torch.randn(1, 3, 5, 7, generator=torch.Generator().manual_seed(1)) * 50
    with torch.no_grad():
        metas = [dict(img_shape=(5, 7), ori_shape=(5, 7), pad_shape=(5, 7))]
        logits = model.inference(x, metas)
    expected = caffe_fcn_reference(src, x, layout, at_once)
    assert logits.shape == expected.shape == (1, 21, 5, 7)
    assert expected.abs().max() > 1e-2  # non-trivial outputs
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5 * expected.abs().max().item())


@pytest.mark.slow  # a command line end to end, 0.5 GB checkpoints
def test_torchfcn_training_checkpoint_and_cli(converter_cli, tmp_path, variant_config,
                                              published_layouts, capsys):
    """torchfcn's own trainer saves ``model_state_dict`` beside the optimizer state."""
    src = random_torchfcn(published_layouts.torchfcn('fcn32s'))
    path = str(tmp_path / 'checkpoint.pth.tar')
    torch.save({'epoch': 3, 'iteration': 1000, 'arch': 'FCN32s', 'model_state_dict': src,
                'optim_state_dict': {'state': {}, 'param_groups': []}, 'best_mean_iu': 0.5}, path)
    cli = converter_cli('from_torchfcn')
    out = str(tmp_path / 'out.pth')
    assert cli.main([path, out, '--config', variant_config('fcn32s')]) == 0
    assert torch.equal(load_state_dict_file(out)['decode_head.upscore.weight'],
                       src['upscore.weight'])
    # Wrong architecture through the CLI: exit status 3 (bad input) and the keys named.
    assert cli.main([path, out, '--config', variant_config('fcn8s')]) == 3
    err = capsys.readouterr().err
    assert 'missing key(s)' in err and 'score_pool3.weight' in err and 'upscore.weight' in err


def test_torchfcn_refuses_another_fcn_variant_listing_keys(tmp_path, variant_config,
                                                           published_layouts):
    src = str(tmp_path / 'fcn16s_from_caffe.pth')
    torch.save(random_torchfcn(published_layouts.torchfcn('fcn16s')), src)
    with pytest.raises(CheckpointError) as info:
        import_torchfcn_checkpoint(src, str(tmp_path / 'o.pth'), variant_config('fcn8s'))
    msg = str(info.value)
    assert msg.startswith(src)
    missing, unexpected = msg.split('missing key(s)')[1].split('unexpected key(s)')
    for key in ('score_pool3.weight', 'score_pool3.bias', 'upscore_pool4.weight',
                'upscore8.weight'):
        assert key in missing
    assert 'upscore16.weight' in unexpected
    assert not osp.exists(tmp_path / 'o.pth')


def test_torchfcn_refusals(tmp_path, variant_config, published_layouts, repo_root):
    shapes = published_layouts.torchfcn('fcn8s')
    good = random_torchfcn(shapes)
    out = str(tmp_path / 'o.pth')
    config = variant_config('fcn8s')
    # A missing tensor.
    path = str(tmp_path / 'missing.pth')
    torch.save({k: v for k, v in good.items() if k != 'conv3_2.bias'}, path)
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\) \['conv3_2.bias'\]"):
        import_torchfcn_checkpoint(path, out, config)
    # NaN weights.
    path = str(tmp_path / 'nan.pth')
    torch.save({**good, 'fc7.weight': good['fc7.weight'].clone().fill_(float('nan'))}, path)
    with pytest.raises(CheckpointError, match=r'nan\.pth.*NaN.*fc7\.weight'):
        import_torchfcn_checkpoint(path, out, config)
    # A truncated file.
    path = str(tmp_path / 'truncated.pth')
    torch.save(good, path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r'truncated\.pth.*not a loadable checkpoint'):
        import_torchfcn_checkpoint(path, out, config)
    # Another number of classes.
    path = str(tmp_path / 'k20.pth')
    torch.save(random_torchfcn(published_layouts.torchfcn('fcn8s', k=20)), path)
    with pytest.raises(CheckpointError, match=r'score_fr\.weight has shape \(20, 4096, 1, 1\)'):
        import_torchfcn_checkpoint(path, out, config)
    # A config that is not the Caffe network (BN, 'same' geometry).
    path = str(tmp_path / 'good.pth')
    torch.save(good, path)
    with pytest.raises(CheckpointError, match=r'does not build the network of the Caffe FCN'):
        import_torchfcn_checkpoint(path, out, osp.join(repo_root, BASE, 'fcn8s_vgg16bn.py'))
    assert not osp.exists(out)


def test_torchfcn_warns_about_at_once_files_for_staged_configs(tmp_path, variant_config,
                                                               published_layouts):
    path = str(tmp_path / 'fcn8s-atonce_from_caffe.pth')
    torch.save(random_torchfcn(published_layouts.torchfcn('fcn8s')), path)
    report = import_torchfcn_checkpoint(path, str(tmp_path / 'o.pth'), variant_config('fcn8s'))
    assert len(report['warnings']) == 1 and 'skip_scales' in report['warnings'][0]


# --------------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------------
def _onnxruntime(path, x):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {'input': x})[0]


@pytest.mark.slow
def test_onnx_caffe_geometry_matches_torch(converter_cli, tmp_path, repo_root,
                                           random_fcn_checkpoint):
    import onnx
    config = osp.join(repo_root, BASE, 'fcn8s_vgg16.py')
    ckpt = random_fcn_checkpoint(config)
    cli = converter_cli('to_onnx')
    assert cli.main([config, ckpt, '--out-dir', str(tmp_path), '--input-size', '3', '4']) == 0
    path = str(tmp_path / 'fcn8s_vgg16.onnx')
    graph = onnx.load(path, load_external_data=False)
    assert graph.opset_import[0].version == 11
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (graph.graph.input[0], graph.graph.output[0])]
    assert dims == [[1, 3, 3, 4], [1, 21, 3, 4]]
    assert not any(n.op_type == 'Shape' for n in graph.graph.node)  # static: ATC needs it
    report = json.load(open(tmp_path / 'onnx_parity.json'))
    assert report['passed'] and report['static_shapes']
    model = build_and_load(config, ckpt)
    # The report's figures, recomputed from the ONNX file on disk: its seeded input (seed and
    # size as the report states; uniform uint8 noise as BGR), mmseg's own preprocessing and
    # segmentor, the errors and agreement computed here.
    assert report['parity_sizes'] == [[3, 4]] and report['seed'] == 0
    bgr = np.random.default_rng(report['seed']).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    with torch.no_grad():
        seeded = model.data_preprocessor({'inputs': [torch.from_numpy(bgr.transpose(2, 0, 1))],
                                          'data_samples': None}, False)['inputs'].float()
        ref = model.inference(seeded, [dict(img_shape=(3, 4), ori_shape=(3, 4),
                                            pad_shape=(3, 4))]).double().numpy()
    got = _onnxruntime(path, seeded.numpy()).astype(np.float64)
    onnx_figures = report['onnxruntime']
    assert onnx_figures['max_abs_error'] == pytest.approx(np.abs(got - ref).max(), rel=1e-6,
                                                          abs=1e-12)
    assert onnx_figures['max_rel_error'] == pytest.approx(
        np.abs(got - ref).max() / np.abs(ref).max(), rel=1e-6, abs=1e-15)
    assert onnx_figures['argmax_agreement'] == (got.argmax(1) == ref.argmax(1)).mean()
    assert onnx_figures['pixels'] == 12 and onnx_figures['input_shapes'] == [[1, 3, 3, 4]]
    # Independently: onnxruntime on another input against the mmseg segmentor.
    x = torch.randn(1, 3, 3, 4, generator=torch.Generator().manual_seed(5)) * 60
    with torch.no_grad():
        expected = model.inference(x, [dict(img_shape=(3, 4), ori_shape=(3, 4),
                                            pad_shape=(3, 4))]).numpy()
    out = _onnxruntime(path, x.numpy())
    assert np.abs(out - expected).max() <= 1e-5 * np.abs(expected).max()
    assert (out.argmax(1) == expected.argmax(1)).all()


@pytest.mark.slow
def test_onnx_bn_variant_exit_status_and_size_check(converter_cli, tmp_path, narrow_fcn_config,
                                                    random_fcn_checkpoint, capsys):
    config = narrow_fcn_config(BASE + 'fcn8s_vgg16bn.py')  # narrow fc6/fc7: every layer kind
    ckpt = random_fcn_checkpoint(config)
    cli = converter_cli('to_onnx')
    # 'same' geometry: the size must be a multiple of 32, refused before any export.
    assert cli.main([config, ckpt, '--out-dir', str(tmp_path), '--input-size', '40', '32']) == 3
    assert 'multiples of 32' in capsys.readouterr().err
    # An unreachable agreement threshold: the export succeeds, the check fails, exit status 1.
    assert cli.main([config, ckpt, '--out-dir', str(tmp_path), '--input-size', '32', '64',
                     '--min-argmax-agreement', '1.01']) == 1
    report = json.load(open(tmp_path / 'onnx_parity.json'))
    assert not report['passed'] and report['onnxruntime']['max_rel_error'] < 1e-5
    model = build_and_load(config, ckpt)
    x = torch.randn(1, 3, 32, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model.inference(x, [dict(img_shape=(32, 64), ori_shape=(32, 64),
                                            pad_shape=(32, 64))]).numpy()
    out = _onnxruntime(str(tmp_path / (osp.splitext(osp.basename(config))[0] + '.onnx')),
                       x.numpy())
    assert np.abs(out - expected).max() <= 1e-5 * np.abs(expected).max()


# --------------------------------------------------------------------------------------------------
# parity measures
# --------------------------------------------------------------------------------------------------
def test_compare_logits_measures():
    ref = np.zeros((1, 3, 2, 2))
    ref[0, 0] = [[4.0, -2.0], [1.0, 0.0]]
    ref[0, 1] = [[0.0, 1.0], [2.0, 0.5]]
    out = ref.copy()
    out[0, 1, 1, 1] = -0.5  # pixel (1, 1): class 1 -> class 0 (class 0 logit 0.0)
    result = compare_logits(ref, out)
    assert result['max_abs_error'] == 1.0
    assert result['max_rel_error'] == 0.25  # / max |ref| = 4
    assert result['argmax_agreement'] == 0.75 and result['pixels'] == 4
    with pytest.raises(ValueError, match='shapes differ'):
        compare_logits(ref, out[..., :1])


def test_parity_thresholds_and_mean_iou():
    # Two classes; the label's pixel (0, 1) is void (255) and the logits are padded by a column.
    label = np.array([[0, 255], [1, 1]], dtype=np.uint8)
    ref = np.zeros((1, 2, 2, 3), dtype=np.float32)
    ref[0, 1] = [[-1, 0, 0], [1, 1, 0]]  # predicts [[0, 0], [1, 1]] on the label's region
    out = ref.copy()
    out[0, 1, 1, 0] = -1  # predicts [[0, 0], [0, 1]]
    acc = ParityAccumulator(num_classes=2)
    acc.add(ref, out, label)
    summary = acc.summary(ParityThresholds(max_rel_error=2.0, min_argmax_agreement=0.8))
    # torch: perfect (IU 1, 1). converted: class 0 IU 1/2 (1 hit, 1 false positive), class 1 1/2.
    assert summary['mean_iou_reference'] == pytest.approx(100.0)
    assert summary['mean_iou_converted'] == pytest.approx(50.0)
    assert summary['labelled_pixels'] == 3
    assert summary['argmax_agreement'] == pytest.approx(5 / 6)
    assert summary['passed']
    assert summary['max_rel_error'] == 2.0  # |-1 - 1| / max |ref| = 1
    assert not acc.summary(ParityThresholds(2.0, 0.9))['passed']
    assert not acc.summary(ParityThresholds(1.9, 0.8))['passed']
