"""The converters' NPU precision report end to end: ``to_onnx.py --precision-images`` on the Caffe
FCN-8s writes precision.json, an ATC keep_dtype file in the exported graph's node names, atc.sh
and deploy.json's precision entry, all consistent with each other and with the graph."""
import json
import os
import os.path as osp

import numpy as np
import onnx
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
#: How far the emulated modes' figures may be from torch's own float16's: both round the same
#: operations' outputs to float16, but torch also rounds inside a module (the head's crops and
#: skip sums, BN's affine step) where the emulation rounds once at the module's output, which
#: flips the argmax of near-tied pixels.
TOLERANCE = 0.02


def _torch_precision_figures(config, ckpt, images, labels, mmseg_input):
    """Per mode, the figures precision.json states, recomputed here with torch's own float16 on
    the model mmseg builds (``init_model``), not with the converters' emulation:

    * ``force_fp16``: the whole network in ``torch.float16`` (``model.half()``): every operation
      rounds its output to float16, convolutions accumulate in float32 inside oneDNN;
    * ``allow_fp32_to_fp16``: only the convolutions and transposed convolutions in float16 (their
      inputs cast to float16, their outputs back to float32), everything else in float32.

    Returns ``{mode: (per-image agreement with float32, mean IU)}``."""
    import copy

    import torch
    from mmseg.apis import init_model

    from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion
    model = init_model(config, ckpt, device='cpu')
    half = copy.deepcopy(model).half()
    cube = copy.deepcopy(model)
    for m in cube.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.half()
            m.register_forward_pre_hook(lambda mod, args: tuple(a.half() for a in args))
            m.register_forward_hook(lambda mod, args, out: out.float())
    figures = {'force_fp16': ([], []), 'allow_fp32_to_fp16': ([], [])}
    for name in sorted(os.listdir(images)):
        x, (h, w) = mmseg_input(model, images / name)
        gt = np.array(Image.open(labels / name.replace('.jpg', '.png')))
        with torch.no_grad():
            ref = model(x, mode='tensor')[0, :, :h, :w].argmax(0).numpy()
            maps = {'force_fp16': half(x.half(), mode='tensor'),
                    'allow_fp32_to_fp16': cube(x, mode='tensor')}
        for mode, logits in maps.items():
            pred = logits.float()[0, :, :h, :w].argmax(0).numpy()
            figures[mode][0].append(float((pred == ref).mean()))
            figures[mode][1].append(confusion_matrix(gt, pred, 21, 255))
    return {mode: (agree, 100 * scores_from_confusion(sum(hists)).mean_iou)
            for mode, (agree, hists) in figures.items()}


def test_to_onnx_writes_a_measured_precision_plan(converter_cli, tmp_path, narrow_fcn_config,
                                                  random_fcn_checkpoint, mmseg_input):
    config = narrow_fcn_config('configs/_base_/models/fcn8s_vgg16.py')  # narrow fc6/fc7
    onnx_file = osp.splitext(osp.basename(config))[0] + '.onnx'
    ckpt = random_fcn_checkpoint(config)
    images, labels = tmp_path / 'JPEGImages', tmp_path / 'SegmentationClass'
    images.mkdir()
    labels.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(
            images / f'{i}.jpg', quality=95)
        Image.fromarray(rng.integers(0, 21, (24, 32)).astype(np.uint8), 'L').save(
            labels / f'{i}.png')
    out = tmp_path / 'out'
    code = converter_cli('to_onnx').main([config, ckpt, '--out-dir', str(out), '--input-size',
                                          '24', '32', '--precision-images', str(images),
                                          '--precision-labels', str(labels),
                                          '--precision-threshold', '0.9999'])
    assert code == 0
    report = json.load(open(out / 'precision.json'))
    for mode in ('fp32', 'force_fp16', 'allow_fp32_to_fp16', 'plan'):
        entry = report[mode]
        assert set(entry) >= {'argmax_agreement_mean', 'argmax_agreement_worst', 'mIoU',
                              'layers'}, mode
        assert 0 <= entry['argmax_agreement_worst'] <= entry['argmax_agreement_mean'] <= 1
        assert entry['mIoU'] is not None
    assert report['fp32']['argmax_agreement_worst'] == 1.0
    # the emulation's figures against torch's own float16 on the same network and images
    for mode, (agree, miou) in _torch_precision_figures(config, ckpt, images, labels,
                                                        mmseg_input).items():
        entry = report[mode]
        assert entry['argmax_agreement_mean'] == pytest.approx(np.mean(agree), abs=TOLERANCE)
        assert entry['argmax_agreement_worst'] == pytest.approx(min(agree), abs=TOLERANCE)
        assert entry['mIoU'] == pytest.approx(miou, abs=100 * TOLERANCE)
    assert report['force_fp16']['layers']['backbone.conv1_1.conv']['kind'] == 'cube'
    assert 'backbone.conv1_1.activate' in report['force_fp16']['layers']  # vector layers too
    assert 'backbone.conv1_1.activate' not in report['allow_fp32_to_fp16']['layers']
    plan = report['plan']
    assert plan['fp16_only'] == ['decode_head.upscore2', 'decode_head.upscore_pool4',
                                 'decode_head.upscore8']
    assert not set(plan['keep_fp32']) & set(plan['fp16_only'])
    graph = onnx.load(str(out / onnx_file), load_external_data=False)
    node_names = {n.name for n in graph.graph.node}
    kept = (out / 'keep_dtype.cfg').read_text().split()
    assert kept == plan['keep_dtype_nodes'] and set(kept) <= node_names
    assert len(kept) >= len(plan['keep_fp32'])
    parity = json.load(open(out / 'onnx_parity.json'))
    assert parity['precision_plan']['passed'] == plan['reached'] == (
        plan['argmax_agreement_worst'] >= 0.9999)
    script = (out / 'atc.sh').read_text()
    assert '--precision_mode_v2=fp16' in script and 'input:1,3,24,32' in script
    assert ('--keep_dtype=keep_dtype.cfg' in script) == bool(kept)
    deploy = json.load(open(out / 'deploy.json'))['precision']
    assert deploy['keep_fp32'] == plan['keep_fp32']
    assert deploy['measured']['argmax_agreement_worst'] == plan['argmax_agreement_worst']
    assert deploy['measured']['reached'] == plan['reached']
    # every layer a plan may keep has its nodes in this graph (13 convs, fc6, fc7, 3 scores), and
    # a plan that keeps some is written in ATC's terms
    from mmseg_fcn_voc.conversion.checkpoint import build_and_load
    from mmseg_fcn_voc.conversion.context import Exported
    from mmseg_fcn_voc.conversion.onnx.backend import OnnxBackend
    from mmseg_fcn_voc.conversion.options import OnnxExportOptions
    from mmseg_fcn_voc.conversion.precision_plan import onnx_node_names, plan_candidates
    candidates = plan_candidates(build_and_load(config, ckpt))
    assert len(candidates) == 18
    assert all(onnx_node_names(graph, candidates).values())
    exporter = OnnxBackend(OnnxExportOptions(config, ckpt, str(tmp_path / 'plan'),
                                              input_size=(24, 32)))
    (tmp_path / 'plan').mkdir()
    keep = ['backbone.fc6.conv', 'decode_head.score_pool4']
    some = {'keep_fp32': keep, 'keep_dtype_nodes': []}
    exporter.write_precision_plan(some, Exported(str(out / onnx_file), [1, 3, 24, 32],
                                                 []))
    lines = (tmp_path / 'plan' / 'keep_dtype.cfg').read_text().split()
    assert lines == some['keep_dtype_nodes'] and len(lines) >= 2 and set(lines) <= node_names
    assert any('score_pool4' in n for n in lines) and any('fc6' in n for n in lines)
    assert '--keep_dtype=keep_dtype.cfg' in (tmp_path / 'plan' / 'atc.sh').read_text()
