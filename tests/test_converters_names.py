# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Name maps between mmseg and the other layouts, and what the converters read off a model.

No MindSpore here. Expected names, shapes and counts are written out from the published
descriptions (the FCN paper and the MindSpore tutorial), not derived from the maps under test.
"""
import pytest

from mmseg_fcn_voc.conversion.checkpoint import build_model
from mmseg_fcn_voc.conversion.network.layouts import KeyMapError, layout_key, layout_key_map
from mmseg_fcn_voc.conversion.network.references import caffe_release_mismatches, tutorial_mismatches
from mmseg_fcn_voc.conversion.network.trace import UnsupportedModelError, trace_network

BASE = 'configs/_base_/models/'


@pytest.fixture(scope='module')
def models(repo_root):
    import os.path as osp
    built = {}

    def _get(name):
        if name not in built:
            built[name] = build_model(osp.join(repo_root, BASE, f'{name}.py'))
        return built[name]

    return _get


def test_tutorial_layout_is_the_tutorials_81_tensors(models, published_layouts):
    model = models('fcn8s_vgg16bn')
    state = model.state_dict()
    mapping, dropped = layout_key_map(state, 'mindspore_tutorial')
    expected = published_layouts.mindspore_tutorial()
    assert len(expected) == 81
    assert {name: tuple(state[key].shape) for key, name in mapping.items()} == expected
    # Parameter counts of the tutorial network (published): trainable + BN moving statistics.
    moving = sum(v.numel() for k, v in state.items() if k.endswith(('running_mean', 'running_var')))
    values = sum(state[k].numel() for k in mapping)
    assert (values - moving, moving) == (134_502_112, 24_832)
    assert sorted(dropped) == sorted(k for k in state if k.endswith('num_batches_tracked'))
    assert len(dropped) == 15


@pytest.mark.parametrize('key, name', [
    ('backbone.conv1_1.conv.weight', 'conv1.0.weight'),
    ('backbone.conv1_2.bn.weight', 'conv1.4.gamma'),
    ('backbone.conv3_3.conv.weight', 'conv3.6.weight'),
    ('backbone.conv3_3.bn.running_var', 'conv3.7.moving_variance'),
    ('backbone.conv5_2.bn.bias', 'conv5.4.beta'),
    ('backbone.fc6.conv.weight', 'conv6.0.weight'),
    ('backbone.fc7.bn.running_mean', 'conv7.1.moving_mean'),
    ('decode_head.conv_seg.weight', 'score_fr.weight'),
    ('decode_head.upscore_pool4.weight', 'upscore_pool4.weight'),
])
def test_tutorial_names_of_single_keys(key, name):
    assert layout_key(key, 'mindspore_tutorial') == name


@pytest.mark.parametrize('config, variant, total', [
    ('fcn8s_vgg16', 'fcn8s', 134_489_759),
    ('fcn16s_vgg16', 'fcn16s', 134_815_994),
    ('fcn32s_vgg16', 'fcn32s', 136_152_917),
])
def test_torchfcn_layout_names_shapes_and_counts(models, published_layouts, config, variant,
                                                 total):
    state = models(config).state_dict()
    mapping, dropped = layout_key_map(state, 'torchfcn')
    assert dropped == []
    assert {name: tuple(state[key].shape) for key, name in mapping.items()} == \
        published_layouts.torchfcn(variant)
    assert sum(v.numel() for v in state.values()) == total  # the Caffe release's counts


@pytest.mark.parametrize('key, name', [
    ('backbone.conv4_2.conv.bias', 'conv4_2.bias'),
    ('backbone.fc6.conv.weight', 'fc6.weight'),
    ('decode_head.conv_seg.bias', 'score_fr.bias'),
    ('decode_head.score_pool3.weight', 'score_pool3.weight'),
    ('decode_head.upscore16.weight', 'upscore16.weight'),
])
def test_torchfcn_names_of_single_keys(key, name):
    assert layout_key(key, 'torchfcn') == name


def test_torchfcn_layout_refuses_batchnorm(models):
    with pytest.raises(KeyMapError, match=r'BatchNorm.*backbone\.conv1_1\.bn\.weight'):
        layout_key_map(models('fcn8s_vgg16bn').state_dict(), 'torchfcn', 'the BN config')


@pytest.mark.parametrize('config', ['fcn8s_vgg16', 'fcn8s_vgg16bn', 'fcn32s_vgg16'])
def test_plugin_mindspore_layout(models, config):
    state = models(config).state_dict()
    mapping, dropped = layout_key_map(state, 'mindspore')
    assert len(set(mapping.values())) == len(mapping) == len(state) - len(dropped)
    for key, name in mapping.items():
        module, rest = key.split('.', 1)
        expected = rest.replace('conv_seg', 'score_fr').replace('bn.weight', 'bn.gamma') \
            .replace('bn.bias', 'bn.beta').replace('running_mean', 'moving_mean') \
            .replace('running_var', 'moving_variance')
        assert name == f'{module}.{expected}'


@pytest.mark.parametrize('key', ['backbone.conv1_1.conv.weight_orig', 'neck.upsamplers.0.weight',
                                 'backbone.conv9_1.conv.weight', 'decode_head.conv_seg'])
def test_unmappable_keys_are_refused(key):
    for layout in ('torchfcn', 'mindspore', 'mindspore_tutorial'):
        with pytest.raises(KeyMapError):
            layout_key(key, layout)
    with pytest.raises(ValueError, match='unknown layout'):
        layout_key('backbone.conv1_1.conv.weight', 'caffe2')


def test_layouts_recognise_the_published_networks(models):
    bn, caffe8 = trace_network(models('fcn8s_vgg16bn')), trace_network(models('fcn8s_vgg16'))
    assert tutorial_mismatches(bn) == []
    assert caffe_release_mismatches(caffe8) == []
    assert caffe_release_mismatches(trace_network(models('fcn16s_vgg16'))) == []
    assert caffe_release_mismatches(trace_network(models('fcn32s_vgg16'))) == []
    assert any('conv1_1' in why and '100' in why for why in tutorial_mismatches(caffe8))
    assert any('conv1_1' in why for why in caffe_release_mismatches(bn))


def test_architecture_is_read_off_the_modules(models):
    net = trace_network(models('fcn8s_vgg16'))
    conv = lambda n: net.layers[f'backbone.{n}.conv']  # noqa: E731
    assert conv('conv1_1').padding == (100, 100) and conv('fc6').padding == (0, 0)
    pools = [spec for path, spec in net.layers.items() if path.startswith('backbone.pool')]
    assert len(pools) == 5 and all(p.ceil_mode for p in pools)
    assert [(s.score, s.upsampler, s.offset) for s in net.fcn.skips] == [
        ('score_pool4', 'upscore2', 5), ('score_pool3', 'upscore_pool4', 9)]
    assert (net.fcn.final_upsampler, net.fcn.final_offset) == ('upscore8', 31)
    bn = trace_network(models('fcn8s_vgg16bn'))
    norm = bn.layers['backbone.conv3_2.bn'].norm
    assert norm.eps == 1e-5 and norm.momentum == 0.1
    assert not bn.layers['backbone.conv3_2.conv'].bias
    assert bn.layers['decode_head.upscore8'].padding == (4, 4)


def test_unsupported_models_are_refused_naming_the_layer(load_config):
    from mmseg.registry import MODELS
    cfg = load_config(BASE + 'fcn8s_vgg16.py')
    cfg.model.backbone.act_cfg = dict(type='LeakyReLU')
    with pytest.raises(UnsupportedModelError, match=r'conv1_1.*LeakyReLU'):
        trace_network(MODELS.build(cfg.model))
    # mmseg's FCNHead on FCNVGG translates, but it is none of the published FCN networks
    cfg = load_config(BASE + 'fcn32s_vgg16.py')
    cfg.model.decode_head = dict(type='FCNHead', in_channels=4096, in_index=-1, channels=64,
                                 num_classes=21)
    net = trace_network(MODELS.build(cfg.model))
    assert net.fcn is None and net.geometry == 'resize'
    assert tutorial_mismatches(net) == ['EncoderDecoder(FCNVGG -> FCNHead) is not an FCN head on '
                                        'FCNVGG']
