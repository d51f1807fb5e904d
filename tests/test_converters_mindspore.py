# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore conversion: parity with the torch models, MINDIR, import round trips, refusals.

Inputs are small to keep the suite fast on 2 cores: 32-64 px for the 'same' geometry, a few px
for the Caffe geometry (its pad 100 makes any input ~200 px inside), so the Caffe FCN variants are
checked head by head on the torch backbone's features and the whole network once, through the CLI. Expectations are the
torch models' own outputs (through the mmseg segmentor), the published names and shapes, and exact
tensor equality. Checkpoints are read with ``load_mindspore_checkpoint``, i.e.
``mindspore.load_checkpoint`` with a memory pre-check that counts the page cache these 0.5 GB files
fill.
"""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

if os.environ.get('FCN_SKIP_BACKEND_TESTS') == '1':  # explicit opt-out only
    pytest.skip('FCN_SKIP_BACKEND_TESTS=1: MindSpore tests skipped on request',
                allow_module_level=True)
import mindspore as ms  # noqa: E402  (missing MindSpore fails the suite, it is not skipped)
from mindspore import nn as msnn  # noqa: E402

from mmseg_fcn_voc.conversion.checkpoint import (  # noqa
    CheckpointError,
    build_model,  # noqa: E402
    load_state_dict_file,
)
from mmseg_fcn_voc.conversion.mindspore.backend import choose_layout  # noqa: E402
from mmseg_fcn_voc.conversion.mindspore.cells import CeilMaxPool2d, max_pool2d  # noqa: E402
from mmseg_fcn_voc.conversion.mindspore.importer import import_mindspore_checkpoint  # noqa: E402
from mmseg_fcn_voc.conversion.mindspore.io import (  # noqa
    export_mindir,
    load_mindir,
    load_mindspore_checkpoint,
    load_params_exact,
    run_cell,
)
from mmseg_fcn_voc.conversion.mindspore.translate import build_translated_cell  # noqa: E402
from mmseg_fcn_voc.conversion.network.layer_specs import PoolSpec  # noqa: E402
from mmseg_fcn_voc.conversion.network.layouts import layout_key_map  # noqa: E402
from mmseg_fcn_voc.conversion.network.trace import trace_network  # noqa: E402

# Only the end-to-end conversions of whole FCNs are slow; the loading and pooling guards below run
# in the quick tier.
BASE = 'configs/_base_/models/'
BN_CONFIG = BASE + 'fcn8s_vgg16bn.py'
CAFFE8_CONFIG = BASE + 'fcn8s_vgg16.py'
REL_TOL = 1e-5  # the converters' default criterion: max |ms - torch| / max |torch|


def segmentor_logits(model, x):
    """The torch model's logits through the mmseg segmentor's own inference path."""
    h, w = x.shape[-2:]
    with torch.no_grad():
        return model.inference(x, [dict(img_shape=(h, w), ori_shape=(h, w),
                                         pad_shape=(h, w))]).numpy()


def assert_parity(out, expected):
    assert out.shape == expected.shape
    scale = np.abs(expected).max()
    assert scale > 1e-3  # non-trivial logits
    assert np.abs(out - expected).max() <= REL_TOL * scale
    assert (out.argmax(1) == expected.argmax(1)).mean() >= 0.9999


def write_voc_folder(root, sizes, seed=0):
    """A VOC-style ``JPEGImages`` + ``SegmentationClass`` pair of folders with random content."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    (root / 'JPEGImages').mkdir(parents=True)
    (root / 'SegmentationClass').mkdir()
    labels = []
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / 'JPEGImages' / f'img{i}.png')
        label = rng.integers(0, 21, (h, w)).astype(np.uint8)
        label[0, :] = 255  # a void border row
        Image.fromarray(label, mode='L').save(root / 'SegmentationClass' / f'img{i}.png')
        labels.append(label)
    return str(root / 'JPEGImages'), labels


def mean_iou(hist):
    """The paper's mean IU from a confusion matrix (rows: ground truth), written out here."""
    with np.errstate(divide='ignore', invalid='ignore'):
        iu = np.diag(hist) / (hist.sum(0) + hist.sum(1) - np.diag(hist))
    return 100 * np.nanmean(iu)


# --------------------------------------------------------------------------------------------------
# The BN variant = the MindSpore tutorial's FCN8s: the full CLI, once for the module
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def bn_run(converter_cli, tmp_path_factory, repo_root, random_fcn_checkpoint):
    config = osp.join(repo_root, BN_CONFIG)
    ckpt = random_fcn_checkpoint(config)
    state = load_state_dict_file(ckpt)
    root = tmp_path_factory.mktemp('bn_run')
    images, labels = write_voc_folder(root / 'voc', [(30, 40), (32, 32)])
    out_dir = str(root / 'out')
    rc = converter_cli('to_mindspore').main(
        [config, ckpt, '--out-dir', out_dir, '--input-size', '32', '64', '--images', images])
    assert rc == 0, f'to_mindspore exited {rc}; see the log above'  # before reading its report
    with open(osp.join(out_dir, 'parity.json')) as f:
        report = json.load(f)
    yield dict(rc=rc, config=config, ckpt=ckpt, state=state, out_dir=out_dir, images=images,
               labels=labels, report=report, ms_ckpt=osp.join(out_dir, 'fcn8s_vgg16bn.ckpt'))
    shutil.rmtree(str(root), ignore_errors=True)  # ~1 GB of checkpoints


@pytest.mark.slow
def test_bn_variant_converts_with_the_tutorials_names(bn_run, published_layouts):
    assert bn_run['rc'] == 0
    report = bn_run['report']
    assert report['passed'] and report['layout'] == 'mindspore_tutorial'
    seeded = report['seeded']
    assert seeded['max_rel_error'] <= REL_TOL and seeded['argmax_agreement'] >= 0.9999
    assert seeded['pixels'] == 32 * 64
    assert report['mindir']['passed'] and report['mindir']['input_shapes'] == [[1, 3, 32, 64]]
    # The .ckpt: exactly the tutorial's 81 names and shapes, holding the torch tensors.
    params = load_mindspore_checkpoint(bn_run['ms_ckpt'])
    assert {k: tuple(v.shape) for k, v in params.items()} == published_layouts.mindspore_tutorial()
    state = bn_run['state']
    for name, key in [('conv1.0.weight', 'backbone.conv1_1.conv.weight'),
                      ('conv2.4.gamma', 'backbone.conv2_2.bn.weight'),
                      ('conv4.7.beta', 'backbone.conv4_3.bn.bias'),
                      ('conv6.0.weight', 'backbone.fc6.conv.weight'),
                      ('conv7.1.moving_mean', 'backbone.fc7.bn.running_mean'),
                      ('conv5.1.moving_variance', 'backbone.conv5_1.bn.running_var'),
                      ('score_fr.weight', 'decode_head.conv_seg.weight'),
                      ('score_pool3.weight', 'decode_head.score_pool3.weight'),
                      ('upscore2.weight', 'decode_head.upscore2.weight'),
                      ('upscore8.weight', 'decode_head.upscore8.weight')]:
        assert np.array_equal(params[name].asnumpy(), state[key].numpy()), name


@pytest.mark.slow
def test_bn_variant_parity_on_images_with_mean_iou(bn_run):
    images = bn_run['report']['images']
    assert images['passed'] and images['inputs'] == 2
    assert images['max_rel_error'] <= REL_TOL
    assert images['pixels'] == 32 * 64 + 32 * 32  # padded to multiples of 32
    labels = bn_run['labels']
    assert images['labelled_pixels'] == sum(int((label != 255).sum()) for label in labels)
    # The torch mean IU, computed here from the segmentor's predictions.
    from mmseg_fcn_voc.conversion.images import find_image_pairs, load_pair
    model = build_model(bn_run['config'])
    model.load_state_dict(bn_run['state'])
    hist = np.zeros((21, 21), dtype=np.int64)
    for (image, label_path), label in zip(find_image_pairs(bn_run['images']), labels):
        x, gt = load_pair(model, image, label_path, 21)
        assert np.array_equal(gt, label)
        pred = segmentor_logits(model, x)[0, :, :gt.shape[0], :gt.shape[1]].argmax(0)
        valid = gt != 255
        hist += np.bincount(21 * gt[valid].astype(np.int64) + pred[valid],
                            minlength=21 * 21).reshape(21, 21)
    assert images['mean_iou_reference'] == pytest.approx(mean_iou(hist))
    assert images['mean_iou_converted'] == pytest.approx(images['mean_iou_reference'])


class TutorialFCN8s(msnn.Cell):
    """The tutorial's FCN8s as its text writes it, on MindSpore's default arguments
    (``pad_mode='same'``, no bias, valid pooling): an independent reading of the layout."""

    def __init__(self, n_class=21):
        super().__init__()

        def block(c_in, c_out, num_convs, k=3):
            layers = []
            for i in range(num_convs):
                layers += [msnn.Conv2d(c_in if i == 0 else c_out, c_out, k),
                           msnn.BatchNorm2d(c_out), msnn.ReLU()]
            return msnn.SequentialCell(layers)

        self.conv1, self.pool1 = block(3, 64, 2), msnn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2, self.pool2 = block(64, 128, 2), msnn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3, self.pool3 = block(128, 256, 3), msnn.MaxPool2d(kernel_size=2, stride=2)
        self.conv4, self.pool4 = block(256, 512, 3), msnn.MaxPool2d(kernel_size=2, stride=2)
        self.conv5, self.pool5 = block(512, 512, 3), msnn.MaxPool2d(kernel_size=2, stride=2)
        self.conv6 = block(512, 4096, 1, k=7)
        self.conv7 = block(4096, 4096, 1, k=1)
        self.score_fr = msnn.Conv2d(4096, n_class, 1)
        self.upscore2 = msnn.Conv2dTranspose(n_class, n_class, 4, 2)
        self.score_pool4 = msnn.Conv2d(512, n_class, 1)
        self.upscore_pool4 = msnn.Conv2dTranspose(n_class, n_class, 4, 2)
        self.score_pool3 = msnn.Conv2d(256, n_class, 1)
        self.upscore8 = msnn.Conv2dTranspose(n_class, n_class, 16, 8)

    def construct(self, x):
        p3 = self.pool3(self.conv3(self.pool2(self.conv2(self.pool1(self.conv1(x))))))
        p4 = self.pool4(self.conv4(p3))
        score = self.score_fr(self.conv7(self.conv6(self.pool5(self.conv5(p4)))))
        fuse4 = self.upscore2(score) + self.score_pool4(p4)
        return self.upscore8(self.upscore_pool4(fuse4) + self.score_pool3(p3))


@pytest.mark.slow
def test_tutorials_own_network_loads_the_ckpt(bn_run):
    net = TutorialFCN8s()
    not_loaded, unused = ms.load_param_into_net(net, load_mindspore_checkpoint(bn_run['ms_ckpt']),
                                                strict_load=True)
    assert (not_loaded, unused) == ([], [])
    net.set_train(False)
    model = build_model(bn_run['config'])
    model.load_state_dict(bn_run['state'])
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    assert_parity(net(ms.Tensor(x.numpy())).asnumpy(), segmentor_logits(model, x))


@pytest.mark.slow
def test_mindspore_round_trip_is_exact(converter_cli, bn_run, tmp_path):
    out = str(tmp_path / 'back.pth')
    cli = converter_cli('from_mindspore')
    assert cli.main([bn_run['ms_ckpt'], out, '--config', bn_run['config']]) == 0
    back, original = load_state_dict_file(out), bn_run['state']
    assert set(back) == set(original)
    for key, value in original.items():
        if key.endswith('num_batches_tracked'):  # MindSpore has no such state: the model's 0
            assert back[key].item() == 0
        else:
            assert back[key].dtype == value.dtype and torch.equal(back[key], value), key


@pytest.mark.slow
def test_training_checkpoint_optimizer_entries_are_ignored(bn_run, tmp_path):
    params = load_mindspore_checkpoint(bn_run['ms_ckpt'])
    entries = [{'name': k, 'data': v} for k, v in params.items()]
    extra = {'moments.conv1.0.weight': params['conv1.0.weight'].asnumpy() * 0,
             'moments.score_fr.weight': params['score_fr.weight'].asnumpy() * 0,
             'learning_rate': np.array(0.01, np.float32), 'global_step': np.array(7, np.int32)}
    entries += [{'name': k, 'data': ms.Tensor(v)} for k, v in extra.items()]
    src = str(tmp_path / 'train.ckpt')
    ms.save_checkpoint(entries, src)
    out = str(tmp_path / 'out.pth')
    report = import_mindspore_checkpoint(src, out, bn_run['config'])
    assert report['layout'] == 'mindspore_tutorial' and sorted(report['ignored']) == sorted(extra)
    back = load_state_dict_file(out)
    assert torch.equal(back['backbone.conv1_1.conv.weight'],
                       bn_run['state']['backbone.conv1_1.conv.weight'])


@pytest.mark.slow
def test_from_mindspore_refusals(bn_run, repo_root, tmp_path, fcn_config_file):
    params = load_mindspore_checkpoint(bn_run['ms_ckpt'])
    out = str(tmp_path / 'out.pth')
    # A missing tensor.
    src = str(tmp_path / 'missing.ckpt')
    ms.save_checkpoint([{'name': k, 'data': v} for k, v in params.items()
                        if k != 'upscore8.weight'], src)
    with pytest.raises(CheckpointError, match=r"missing\.ckpt.*1 missing key\(s\) "
                       r"\['upscore8.weight'\], 0 unexpected"):
        import_mindspore_checkpoint(src, out, bn_run['config'])
    # NaN weights.
    src = str(tmp_path / 'nan.ckpt')
    ms.save_checkpoint([{'name': 'conv1.0.weight',
                         'data': ms.Tensor(np.full((64, 3, 3, 3), np.nan, np.float32))}], src)
    with pytest.raises(CheckpointError, match=r'nan\.ckpt.*NaN.*conv1\.0\.weight'):
        import_mindspore_checkpoint(src, out, bn_run['config'])
    # A truncated file.
    src = str(tmp_path / 'truncated.ckpt')
    with open(bn_run['ms_ckpt'], 'rb') as f:
        data = f.read(osp.getsize(bn_run['ms_ckpt']) * 2 // 5)
    with open(src, 'wb') as f:
        f.write(data)
    with pytest.raises(CheckpointError, match=r'truncated\.ckpt: not a readable MindSpore'):
        import_mindspore_checkpoint(src, out, bn_run['config'])
    # Another architecture: the BN tutorial weights for the Caffe FCN-8s config.
    with pytest.raises(CheckpointError) as info:
        import_mindspore_checkpoint(bn_run['ms_ckpt'], out, osp.join(repo_root, CAFFE8_CONFIG))
    missing, unexpected = str(info.value).split('missing key(s)')[1].split('unexpected key(s)')
    assert missing.startswith(' [') and 'conv1.0.bias' in missing and 'score_fr.bias' in missing
    assert str(info.value).startswith(f"{bn_run['ms_ckpt']}: does not match the architecture")
    assert '18 missing' in str(info.value) and missing.endswith(', 60 ')  # 15 + 3 biases; 60 BN
    assert 'conv1.1.gamma' in unexpected and '(+20 more)' in unexpected
    # Same names, other computation: a BN config with ceil pooling is not the tutorial network.
    ceil = fcn_config_file(BN_CONFIG, backbone=dict(ceil_mode=True))
    with pytest.raises(CheckpointError, match=r'does not build the tutorial network.*pool1'):
        import_mindspore_checkpoint(bn_run['ms_ckpt'], out, ceil)
    assert not osp.exists(out)


@pytest.mark.slow
def test_to_mindspore_refusals(converter_cli, bn_run, repo_root, tmp_path, random_fcn_checkpoint,
                               capsys):
    cli = converter_cli('to_mindspore')
    caffe8 = osp.join(repo_root, CAFFE8_CONFIG)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    (out_dir / 'parity.json').write_text('{"passed": true}')  # stale: must not survive a refusal
    out_dir = str(out_dir)
    # An FCN-16s checkpoint for the FCN-8s config.
    ckpt16 = random_fcn_checkpoint(osp.join(repo_root, BASE, 'fcn16s_vgg16.py'))
    assert cli.main([caffe8, ckpt16, '--out-dir', out_dir, '--input-size', '2', '2']) == 3
    err = capsys.readouterr().err
    missing, unexpected = err.split('missing key(s)')[1].split('unexpected key(s)')
    assert 'decode_head.score_pool3.weight' in missing and 'decode_head.upscore8.weight' in missing
    assert 'decode_head.upscore16.weight' in unexpected
    # NaN weights and a truncated file.
    state = dict(bn_run['state'])
    state['backbone.conv3_1.conv.weight'] = state['backbone.conv3_1.conv.weight'].clone()
    state['backbone.conv3_1.conv.weight'][0, 0, 0, 0] = float('nan')
    nan_path = str(tmp_path / 'nan.pth')
    torch.save({'state_dict': state, 'meta': {}}, nan_path)
    assert cli.main([bn_run['config'], nan_path, '--out-dir', out_dir, '--input-size', '32',
                     '32']) == 3
    assert 'NaN' in capsys.readouterr().err
    truncated = str(tmp_path / 'truncated.pth')
    with open(bn_run['ckpt'], 'rb') as f:
        data = f.read(osp.getsize(bn_run['ckpt']) // 3)
    with open(truncated, 'wb') as f:
        f.write(data)
    assert cli.main([bn_run['config'], truncated, '--out-dir', out_dir, '--input-size', '32',
                     '32']) == 3
    assert 'truncated.pth: not a loadable checkpoint' in capsys.readouterr().err
    # The tutorial layout for a network that is not the tutorial's, and a size 'same' cannot take.
    assert cli.main([bn_run['config'], bn_run['ckpt'], '--out-dir', out_dir, '--input-size', '40',
                     '32']) == 3
    assert 'multiples of 32' in capsys.readouterr().err
    assert not osp.exists(osp.join(out_dir, 'parity.json'))
    model = build_model(caffe8)
    with pytest.raises(ValueError, match='not the MindSpore tutorial FCN8s: conv1_1'):
        choose_layout(trace_network(model), 'mindspore_tutorial')


# --------------------------------------------------------------------------------------------------
# Exactness of the loading itself
# --------------------------------------------------------------------------------------------------
def test_checkpoint_memory_check_counts_the_page_cache_only_while_reading(tmp_path):
    from mindspore.train import serialization

    from mmseg_fcn_voc.conversion.mindspore.io import _page_cache_counts_as_available
    original = serialization._get_available_memory
    with _page_cache_counts_as_available():
        inside = serialization._get_available_memory()
    assert serialization._get_available_memory is original
    assert inside >= (original() or 0)
    src = str(tmp_path / 'small.ckpt')
    ms.save_checkpoint([{'name': 'w', 'data': ms.Tensor(np.ones((2, 3), np.float32))}], src)
    assert load_mindspore_checkpoint(src)['w'].asnumpy().tolist() == [[1.0] * 3] * 2
    assert serialization._get_available_memory is original


def test_load_params_exact_catches_a_weight_that_load_param_into_net_skipped(monkeypatch):
    """If MindSpore's loader skipped one weight and still reported nothing (two empty lists),
    the value-by-value check after loading refuses the cell."""
    net = msnn.SequentialCell([msnn.Conv2d(3, 4, 3, pad_mode='pad', padding=1, has_bias=True)])
    rng = np.random.default_rng(1)
    arrays = {p.name: rng.standard_normal(p.shape).astype(np.float32)
              for p in net.get_parameters()}
    real = ms.load_param_into_net

    def skips_the_bias(cell, params, strict_load=False):
        real(cell, {k: v for k, v in params.items() if not k.endswith('bias')})
        return [], []

    monkeypatch.setattr(ms, 'load_param_into_net', skips_the_bias)
    with pytest.raises(CheckpointError, match=r'do not hold the source values: .*0\.bias'):
        load_params_exact(net, arrays, 'src')


def test_load_params_exact_refuses_anything_not_loaded():
    def cell():
        net = msnn.SequentialCell([msnn.Conv2d(3, 4, 3, pad_mode='pad', padding=1, has_bias=True),
                                   msnn.BatchNorm2d(4)])
        return net

    rng = np.random.default_rng(0)
    arrays = {p.name: rng.standard_normal(p.shape).astype(np.float32)
              for p in cell().get_parameters()}
    assert len(arrays) == 6  # conv weight + bias, BN gamma, beta, moving mean, moving variance
    net = cell()
    load_params_exact(net, arrays, 'src')
    assert all(np.array_equal(p.asnumpy(), arrays[p.name]) for p in net.get_parameters())
    with pytest.raises(CheckpointError, match=r"src: .*1 missing key\(s\) \['1\.moving_mean'\]"):
        load_params_exact(cell(), {k: v for k, v in arrays.items() if k != '1.moving_mean'},
                          'src')
    with pytest.raises(CheckpointError, match=r"1 unexpected key\(s\) \['2\.weight'\]"):
        load_params_exact(cell(), {**arrays, '2.weight': arrays['0.weight']}, 'src')
    with pytest.raises(CheckpointError, match=r'shapes differ.*0\.bias \(5,\)'):
        load_params_exact(cell(), {**arrays, '0.bias': np.zeros(5, np.float32)}, 'src')


@pytest.mark.parametrize('kernel, stride', [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 2), (3, 2))])
def test_ceil_max_pool_equals_torchs_ceil_mode_static_and_dynamic(kernel, stride, tmp_path):
    """Both forms of ``CeilMaxPool2d`` ('same' pooling for VGG's 2x2/2, -inf padding otherwise)
    against torch's ``ceil_mode=True``: odd and even sizes, all-negative inputs (a zero padding
    would win every partial window), in PyNative and from a MINDIR with a dynamic H and W."""
    pool = max_pool2d(PoolSpec(kernel, stride, (0, 0), True))
    assert isinstance(pool, CeilMaxPool2d)
    assert (pool.pad is None) == (kernel == (2, 2))  # the fast 'same' form for VGG's pools
    rng = np.random.default_rng(0)
    sizes = [(7, 9), (8, 8), (5, 4), (3, 3)]
    inputs = [rng.uniform(-3, -1, (1, 2, h, w)).astype(np.float32) for h, w in sizes]
    expected = [F.max_pool2d(torch.from_numpy(x), kernel, stride, ceil_mode=True).numpy()
                for x in inputs]
    for x, want in zip(inputs, expected):
        assert np.array_equal(pool(ms.Tensor(x)).asnumpy(), want), x.shape
    ms.export(pool, ms.Tensor(shape=[1, 2, None, None], dtype=ms.float32),
              file_name=str(tmp_path / 'pool'), file_format='MINDIR')
    graph = msnn.GraphCell(ms.load(str(tmp_path / 'pool.mindir')))
    for x, want in zip(inputs, expected):
        assert np.array_equal(graph(ms.Tensor(x)).asnumpy(), want), x.shape


# --------------------------------------------------------------------------------------------------
# Parity of every architecture
# --------------------------------------------------------------------------------------------------
def mindspore_network(model, layout='auto'):
    """The translated cell of ``model`` in its layout, with all of its tensors loaded under the
    layout's names (:mod:`..names`, the independent key map)."""
    layout = choose_layout(trace_network(model), layout)
    net = trace_network(model)
    cell = build_translated_cell(net, layout=layout)
    mapping, _ = layout_key_map(model.state_dict().keys(), layout)
    load_params_exact(cell, {name: model.state_dict()[key].numpy()
                             for key, name in mapping.items()}, 'test model')
    return cell


@pytest.mark.slow
@pytest.mark.parametrize('base, overrides', [
    ('fcn32s_vgg16.py', dict(backbone=dict(geometry='same'), decode_head=dict(geometry='same'))),
    ('fcn16s_vgg16.py', dict(backbone=dict(geometry='same', ceil_mode=False),
                             decode_head=dict(geometry='same'))),
    ('fcn8s_vgg16.py', dict(backbone=dict(geometry='same'),
                            decode_head=dict(geometry='same', skip_scales=(0.01, 0.0001)))),
    ('fcn8s_vgg16bn.py', dict()),  # the BN variant in the plugin layout (not the tutorial's)
])
def test_same_geometry_parity(base, overrides, fcn_config_file, randomize_fcn):
    model = randomize_fcn(build_model(fcn_config_file(BASE + base, **overrides)))
    cell = mindspore_network(model, 'mindspore')
    x = torch.randn(1, 3, 32, 64, generator=torch.Generator().manual_seed(4))
    assert_parity(run_cell(cell, x.numpy()), segmentor_logits(model, x))


@pytest.mark.slow
@pytest.mark.parametrize('base, overrides, mindir', [
    ('fcn32s_vgg16.py', dict(), False),
    ('fcn16s_vgg16.py', dict(), False),
    ('fcn8s_vgg16.py', dict(decode_head=dict(skip_scales=(0.01, 0.0001))), True),  # at-once
])
def test_caffe_geometry_heads(base, overrides, mindir, fcn_config_file, randomize_fcn, tmp_path):
    """The Caffe crops (5, 9; 19 / 27 / 31) and at-once scales, translated with the whole network
    (on the smallest inputs, where a wrong offset shows most)."""
    model = randomize_fcn(build_model(fcn_config_file(BASE + base, **overrides)))
    x = torch.randn(1, 3, 3, 5, generator=torch.Generator().manual_seed(6)) * 50
    with torch.no_grad():
        expected = model.decode_head(model.extract_feat(x), (3, 5)).numpy()
    np.testing.assert_allclose(segmentor_logits(model, x), expected, rtol=0,
                               atol=1e-6 * np.abs(expected).max())
    cell = mindspore_network(model, 'mindspore')
    out = run_cell(cell, x.numpy())
    assert_parity(out, expected)
    if mindir:  # the crops and scales compile into a dynamic-shape graph
        graph = load_mindir(export_mindir(cell, [1, 3, None, None], str(tmp_path / 'n.mindir')))
        assert np.abs(run_cell(graph, x.numpy()) - out).max() <= REL_TOL * np.abs(out).max()
        y = torch.randn(1, 3, 6, 4, generator=torch.Generator().manual_seed(7)) * 50
        assert_parity(run_cell(graph, y.numpy()), segmentor_logits(model, y))


@pytest.mark.slow
def test_caffe_fcn8s_whole_network_through_the_cli(converter_cli, repo_root, tmp_path,
                                                   random_fcn_checkpoint):
    """pad 100, ceil pooling, unpadded fc6 and the crops, end to end (about a minute on CPU)."""
    config = osp.join(repo_root, CAFFE8_CONFIG)
    ckpt = random_fcn_checkpoint(config)
    state = load_state_dict_file(ckpt)
    out_dir = str(tmp_path)
    assert converter_cli('to_mindspore').main(
        [config, ckpt, '--out-dir', out_dir, '--input-size', '2', '3', '--no-mindir']) == 0
    report = json.load(open(osp.join(out_dir, 'parity.json')))
    assert report['passed'] and report['layout'] == 'mindspore' and 'mindir' not in report
    assert not osp.exists(osp.join(out_dir, 'deploy.json'))  # nothing deployable without MINDIR
    assert report['seeded']['max_rel_error'] <= REL_TOL and report['seeded']['pixels'] == 6
    assert report['tensors'] == 39 and report['values'] == 134_489_759
    params = load_mindspore_checkpoint(osp.join(out_dir, 'fcn8s_vgg16.ckpt'))
    assert len(params) == 39
    for name, key in [('backbone.conv1_1.conv.weight', 'backbone.conv1_1.conv.weight'),
                      ('backbone.fc7.conv.bias', 'backbone.fc7.conv.bias'),
                      ('decode_head.score_fr.bias', 'decode_head.conv_seg.bias'),
                      ('decode_head.upscore_pool4.weight', 'decode_head.upscore_pool4.weight')]:
        assert np.array_equal(params[name].asnumpy(), state[key].numpy()), name


@pytest.mark.slow
def test_mindir_round_trip_and_failing_parity_exit_status(converter_cli, tmp_path, fcn_config_file,
                                                          random_fcn_checkpoint):
    config = fcn_config_file(BASE + 'fcn32s_vgg16.py', backbone=dict(geometry='same'),
                             decode_head=dict(geometry='same'))
    ckpt = random_fcn_checkpoint(config)
    state = load_state_dict_file(ckpt)
    out_dir = str(tmp_path)
    # An unreachable agreement threshold: everything is written, the exit status says it failed.
    assert converter_cli('to_mindspore').main(
        [config, ckpt, '--out-dir', out_dir, '--input-size', '64', '32',
         '--min-argmax-agreement', '1.01']) == 1
    report = json.load(open(osp.join(out_dir, 'parity.json')))
    assert not report['passed'] and not report['seeded']['passed']
    assert report['seeded']['max_rel_error'] <= REL_TOL
    # The MINDIR: static 64x32 graph, loads into a GraphCell that matches the torch model.
    model = build_model(config)
    model.load_state_dict(state)
    x = torch.randn(1, 3, 64, 32, generator=torch.Generator().manual_seed(8))
    graph = load_mindir(report['mindir_file'])
    assert_parity(run_cell(graph, x.numpy()), segmentor_logits(model, x))
    assert report['input_shape'] == [1, 3, 64, 32]
    assert report['mindir']['max_rel_error'] <= REL_TOL  # ('passed' is False: same thresholds)
