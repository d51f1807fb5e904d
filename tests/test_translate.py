# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The one translation of torch networks into MindSpore (``conversion.network.trace`` +
``conversion.mindspore.translate``) on the two mixing configs, narrowed (ResNetV1c-18 with 8 base
channels: every layer kind of the ResNet-50 configs, in seconds).

Expectations: mmseg's own inference (``EncoderDecoder.inference``, which resizes as
``predict_by_feat`` does), torch's state-dict keys written out literally, exact tensor equality.
The configs as users train them (ResNet-50) are converted and deployed by
test_deploy_end_to_end.py.
"""
import os

import numpy as np
import pytest
import torch

if os.environ.get('FCN_SKIP_BACKEND_TESTS') == '1':  # explicit opt-out only
    pytest.skip('FCN_SKIP_BACKEND_TESTS=1: MindSpore tests skipped on request',
                allow_module_level=True)

from mmseg_fcn_voc.conversion.network.trace import UnsupportedModelError, trace_network  # noqa
from mmseg_fcn_voc.conversion.network.trace import TracedNetwork  # noqa: E402
from mmseg_fcn_voc.conversion.mindspore.io import (  # noqa: E402
    export_mindir,
    load_mindir,
    load_params_exact,
    run_cell,
    save_mindspore_checkpoint,
)
from mmseg_fcn_voc.conversion.mindspore.importer import import_mindspore_checkpoint  # noqa: E402
from mmseg_fcn_voc.conversion.mindspore.translate import build_translated_cell  # noqa: E402
from mmseg_fcn_voc.conversion.checkpoint import build_model, load_state_dict_file  # noqa: E402
from mmseg_fcn_voc.conversion.network.layouts import KeyMapError, translated_key_map  # noqa

R50_FCN8S = 'configs/fcn8s-head_r50-d8_4xb4-40k_voc12aug-512x512.py'
R50_NECK = 'configs/bilinear-neck_fcn-head_r50_4xb4-40k_voc12aug-512x512.py'
SMALL_RESNET = dict(depth=18, stem_channels=16, base_channels=8)  # stages: 8, 16, 32, 64 ch
NARROW = {
    R50_FCN8S: dict(backbone=SMALL_RESNET, decode_head=dict(in_channels=[16, 32, 64])),
    R50_NECK: dict(backbone=SMALL_RESNET,
                   neck=dict(in_channels=[8, 16, 32, 64]),
                   decode_head=dict(in_channels=64, channels=16, dilation=2),
                   auxiliary_head=dict(in_channels=32, channels=8)),
}


@pytest.fixture(params=[R50_FCN8S, R50_NECK], ids=['r50-fcn8s', 'r50-neck'])
def small_model(request, fcn_config_file, randomize_fcn):
    return randomize_fcn(build_model(fcn_config_file(request.param, **NARROW[request.param])))


def mmseg_logits(model, x):
    """mmseg's own inference path: logits at the (padded) input size."""
    h, w = x.shape[-2:]
    with torch.no_grad():
        return model.inference(x, [dict(img_shape=(h, w), ori_shape=(h, w),
                                         pad_shape=(h, w))]).numpy()


def translated(model):
    net = trace_network(model)
    assert isinstance(net, TracedNetwork)
    cell = build_translated_cell(net)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('auxiliary_head.')}
    mapping, _ = translated_key_map(net, state)
    load_params_exact(cell, {mapping[k]: v.numpy() for k, v in state.items() if k in mapping},
                      'test model')
    return net, cell


def test_mixing_configs_translate_with_dynamic_mindir(small_model, tmp_path):
    net, cell = translated(small_model)
    path = export_mindir(cell, [1, 3, None, None], str(tmp_path / 'net.mindir'))
    graph = load_mindir(path)
    # multiples of 32 for the FCN8s head ('same' geometry); odd sizes for the neck + FCNHead
    sizes = [(64, 96), (96, 64)] if net.size_divisor == 32 else [(64, 96), (75, 53)]
    for i, (h, w) in enumerate(sizes):
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(i)) * 50
        ref = mmseg_logits(small_model, x)
        scale = np.abs(ref).max()
        assert ref.shape == (1, 21, h, w) and scale > 1e-3
        for out in (run_cell(cell, x.numpy()), run_cell(graph, x.numpy())):
            assert out.shape == ref.shape
            assert np.abs(out - ref).max() <= 1e-5 * scale
            assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.9999


def test_translated_names_are_torchs_keys_with_mindsporess_bn_names(small_model):
    net = trace_network(small_model)
    state = small_model.state_dict()
    mapping, dropped = translated_key_map(
        net, [k for k in state if not k.startswith('auxiliary_head.')])
    assert mapping['backbone.stem.0.weight'] == 'backbone.stem.0.weight'
    assert mapping['backbone.stem.1.weight'] == 'backbone.stem.1.gamma'
    assert mapping['backbone.layer1.0.bn1.running_var'] == 'backbone.layer1.0.bn1.moving_variance'
    assert mapping['decode_head.conv_seg.bias'] == 'decode_head.conv_seg.bias'
    assert all(k.endswith('num_batches_tracked') for k in dropped) and dropped
    cell = build_translated_cell(net)
    assert sorted(p.name for p in cell.get_parameters()) == sorted(mapping.values())
    if any(k.startswith('auxiliary_head.') for k in state):  # the neck config's training head
        with pytest.raises(KeyMapError, match='auxiliary_head'):  # not in the inference network
            translated_key_map(net, state)


def test_from_mindspore_round_trips_bit_for_bit(fcn_config_file, randomize_fcn, tmp_path):
    config = fcn_config_file(R50_NECK, **NARROW[R50_NECK])
    model = randomize_fcn(build_model(config), seed=5)
    _, cell = translated(model)
    ckpt = save_mindspore_checkpoint(cell, str(tmp_path / 'net.ckpt'))
    report = import_mindspore_checkpoint(ckpt, str(tmp_path / 'back.pth'), config)
    assert report['layout'] == 'translated'
    back = load_state_dict_file(str(tmp_path / 'back.pth'))
    for key, value in model.state_dict().items():
        if key.startswith('auxiliary_head.') or key.endswith('num_batches_tracked'):
            continue
        assert torch.equal(back[key], value), key


def test_a_layer_outside_the_list_is_refused_by_path_and_type(fcn_config_file):
    model = build_model(fcn_config_file(R50_NECK, **{
        **NARROW[R50_NECK], 'decode_head': dict(in_channels=64, channels=16,
                                                act_cfg=dict(type='GELU'))}))
    with pytest.raises(UnsupportedModelError, match=r'decode_head\.convs\.0\.activate \(GELU\)'):
        trace_network(model)
