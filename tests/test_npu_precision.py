"""The NPU's arithmetic emulated on the CPU: against torch's own float16 on single layers, against
hand-computed rounding and overflow cases, and exactly float32 when every layer is kept."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mmseg_fcn_voc.conversion.npu_precision import (
    FP16_MAX,
    ActivationStats,
    cube_layers,
    npu_emulation,
    to_fp16,
)


def test_rounding_and_saturation_by_hand():
    x = torch.tensor([1 + 2**-11, 1 + 3 * 2**-11, 65519.0, 65520.0, 1e6, -1e6, 2**-25, 2**-24])
    # ties to even at 1 + half an ulp (ulp 2**-10 at 1): down to 1, up to 1 + 2**-9 for 3/2 ulp;
    # 65519 rounds to 65504, 65520 and beyond would be inf and saturate to 65504 instead;
    # 2**-25 (half the smallest subnormal) ties to 0, 2**-24 is the smallest subnormal
    expected = [1.0, 1 + 2**-9, 65504.0, 65504.0, 65504.0, -65504.0, 0.0, 2**-24]
    assert to_fp16(x).tolist() == expected
    assert torch.isnan(to_fp16(torch.tensor([float('nan')]))).all()


def _conv(kind, seed=0):
    torch.manual_seed(seed)
    if kind == 'conv':
        return nn.Conv2d(8, 6, 3, padding=1)
    return nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1)


@pytest.mark.parametrize('kind', ['conv', 'deconv'])
def test_a_cube_layer_equals_torchs_float16_within_one_rounding(kind):
    layer = _conv(kind).eval()
    x = torch.randn(1, 8, 9, 11, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        half = (F.conv2d if kind == 'conv' else F.conv_transpose2d)(
            x.half(), layer.weight.half(), layer.bias.half(),
            **({'padding': 1} if kind == 'conv' else {'stride': 2, 'padding': 1})).float()
        with npu_emulation(layer, 'allow_fp32_to_fp16'):
            emulated = layer(x)
        exact = layer(x)
    # the same float16 inputs and weights; torch rounds its partial sums its own way: within two
    # float16 steps of the output's scale, and the emulation (one rounding of a float32 sum) no
    # further from float32 than torch's float16
    eps = torch.finfo(torch.float16).eps
    assert (emulated - half).abs().max() <= 2 * eps * exact.abs().max()
    assert (emulated - exact).abs().mean() <= (half - exact).abs().mean() * 1.001
    assert torch.equal(to_fp16(emulated), emulated)  # outputs are float16 values
    assert not torch.equal(emulated, exact)  # and differ from float32
    with torch.no_grad():
        assert torch.equal(layer(x), exact)  # weights restored exactly after the block


def test_overflow_saturates_and_is_counted():
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.full((1, 3, 2, 2), 40000.0)  # 3 x 40000 = 120000 > 65504 in every pixel
    stats = ActivationStats()
    with torch.no_grad(), npu_emulation(conv, 'allow_fp32_to_fp16', stats=stats):
        out = conv(x)
    assert out.flatten().tolist() == [FP16_MAX] * 4
    assert stats.layers[''].overflows == 4 and stats.layers[''].kind == 'cube'
    net = nn.Sequential(conv, nn.ReLU())
    stats = ActivationStats()
    with torch.no_grad(), npu_emulation(net, 'force_fp16', stats=stats):
        out = net(x)
    assert out.flatten().tolist() == [FP16_MAX] * 4
    assert stats.layers['0'].overflows == 4 and stats.layers['0'].max_abs == 120000.0
    assert stats.layers['1'].kind == 'vector'


def _net():
    torch.manual_seed(0)
    # ends in a vector layer: float32 under allow_fp32_to_fp16, float16 under force_fp16
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.MaxPool2d(2, 2, ceil_mode=True), nn.Conv2d(8, 4, 1),
                         nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1),
                         nn.BatchNorm2d(4)).eval()


def test_modes_differ_as_described_and_keeping_every_layer_is_float32_exactly():
    net = _net()
    with torch.no_grad():
        for bn in (net[1], net[6]):
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 13, 17, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        ref = net(x)
        outs = {}
        for mode in ('fp32', 'force_fp16', 'allow_fp32_to_fp16'):
            with npu_emulation(net, mode):
                outs[mode] = net(x)
        every = list(dict(net.named_modules()))[1:]
        for mode in ('force_fp16', 'allow_fp32_to_fp16'):
            with npu_emulation(net, mode, keep_fp32=every):
                assert torch.equal(net(x), ref), mode  # all kept: the float32 logits exactly
        with npu_emulation(net, 'allow_fp32_to_fp16', keep_fp32=list(cube_layers(net))):
            assert torch.equal(net(x), ref)  # vector layers are float32 in this mode anyway
    assert torch.equal(outs['fp32'], ref)
    assert not torch.equal(outs['allow_fp32_to_fp16'], ref)
    assert not torch.equal(outs['force_fp16'], outs['allow_fp32_to_fp16'])
    rel = (outs['force_fp16'] - ref).abs().max() / ref.abs().max()
    assert 0 < rel < 1e-2  # float16 rounding, not a broken network
    with pytest.raises(ValueError, match='not_a_layer'):
        with npu_emulation(net, 'force_fp16', keep_fp32=['not_a_layer']):
            pass


class _Fcn(nn.Module):
    """A tiny FCN-shaped network whose logits are near ties, so float16 flips some pixels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.score = nn.Conv2d(16, 4, 1)
        self.up = nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)
        with torch.no_grad():  # class 1 = class 0 + 0.002: a tie at float16's resolution
            self.score.weight[1] = self.score.weight[0]
            self.score.bias[1] = self.score.bias[0] + 0.002
            self.score.weight[2:] *= 0.5
            self.up.weight.zero_()  # per-class upsampling (as FCN's bilinear), no mixing
            self.up.bias.zero_()
            for c in range(4):
                self.up.weight[c, c] = 0.25

    def forward(self, x, mode='tensor'):
        return self.up(self.score(F.max_pool2d(torch.relu(self.conv(x)), 2, 2)))


def test_the_plan_is_measured_and_never_keeps_a_transposed_convolution():
    from mmseg_fcn_voc.conversion.precision_plan import plan_candidates, precision_report
    net = _Fcn().eval()
    inputs = [torch.randn(1, 3, 16, 20, generator=torch.Generator().manual_seed(i)) * 40
              for i in range(3)]
    report = precision_report(net, inputs, threshold=1.0, num_classes=4)
    assert set(report) == {'fp32', 'force_fp16', 'allow_fp32_to_fp16', 'plan'}
    assert report['fp32']['argmax_agreement_worst'] == 1.0
    assert all(report[m]['seconds_per_image'] > 0 for m in report)  # each mode's forward timed
    assert report['force_fp16']['argmax_agreement_worst'] < 1.0  # float16 flips pixels here
    plan = report['plan']
    assert plan['fp16_only'] == ['up'] and 'up' not in plan['keep_fp32']
    assert set(plan['keep_fp32']) <= set(plan_candidates(net)) == {'conv', 'score'}
    # the plan's figures, recomputed here with the emulation directly
    with torch.no_grad():
        ref = [net(x).argmax(1) for x in inputs]
        with npu_emulation(net, 'force_fp16', plan['keep_fp32']):
            agree = [float((net(x).argmax(1) == r).float().mean()) for x, r in zip(inputs, ref)]
    assert plan['argmax_agreement_worst'] == pytest.approx(min(agree))
    assert plan['reached'] == (min(agree) >= 1.0)
    easy = precision_report(net, inputs, threshold=0.0, num_classes=4)
    assert easy['plan']['keep_fp32'] == [] and easy['plan']['reached']


def test_onnx_node_names_follow_the_module_paths():
    from onnx import TensorProto, helper

    from mmseg_fcn_voc.conversion.precision_plan import onnx_node_names
    nodes = [helper.make_node('Conv', ['x', 'w'], ['a'], name='/model/backbone/conv1_1/conv/Conv'),
             helper.make_node('Relu', ['a'], ['b'], name='/model/backbone/conv1_1/activate/Relu'),
             helper.make_node('Conv', ['b', 'w2'], ['y'], name='/model/conv_seg/Conv')]
    graph = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT,
                                                                         [1, 3, 4, 4])],
                              [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)])
    names = onnx_node_names(helper.make_model(graph), ['backbone.conv1_1.conv',
                                                       'decode_head.conv_seg', 'decode_head.x'])
    assert names == {'backbone.conv1_1.conv': ['/model/backbone/conv1_1/conv/Conv'],
                     'decode_head.conv_seg': ['/model/conv_seg/Conv'], 'decode_head.x': []}


def test_the_mindspore_runtime_sets_the_planned_precision_on_ascend():
    """What ``infer_deployed.py --backend mindspore --device-target Ascend`` sets: nothing
    without a plan, force_fp16 (the mode plans are measured in) with one, and a plan's
    keep-float32 layers reported as not applicable per layer."""
    from types import SimpleNamespace

    from fcn_voc_runtime.backends.mindspore import ascend_precision_mode
    unplanned = SimpleNamespace(raw={'precision': {'planned_for': None, 'measured': None}})
    assert ascend_precision_mode(unplanned)[0] is None
    assert ascend_precision_mode(SimpleNamespace(raw={}))[0] is None
    plain = SimpleNamespace(raw={'precision': {'planned_for': 'force_fp16', 'keep_fp32': []}})
    assert ascend_precision_mode(plain) == ('force_fp16', 'force_fp16 (as planned and measured: '
                                                          'precision.json)')
    kept = SimpleNamespace(raw={'precision': {'planned_for': 'force_fp16 + keep_fp32',
                                              'keep_fp32': ['decode_head.conv_seg']}})
    mode, note = ascend_precision_mode(kept)
    assert mode == 'force_fp16' and '1 layer(s) in float32' in note and 'keep_dtype' in note


def test_the_printed_precision_table():
    from mmseg_fcn_voc.conversion.precision_plan import precision_table

    def entry(mean, worst, miou, layers, seconds=0.5):
        return {'argmax_agreement_mean': mean, 'argmax_agreement_worst': worst, 'mIoU': miou,
                'layers': layers, 'seconds_per_image': seconds}
    layers = {'a': {'kind': 'cube', 'max_abs': 70000.0, 'overflows': 3},
              'b': {'kind': 'vector', 'max_abs': 2.5, 'overflows': 1}}
    table = precision_table({'fp32': entry(1.0, 1.0, None, {}),
                             'force_fp16': entry(0.99, 0.95, 61.25, layers, 1.5),
                             'allow_fp32_to_fp16': entry(0.995, 0.975, 61.5, layers),
                             'plan': entry(0.9995, 0.999, 61.75, layers)})
    rows = {line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:-1]]
            for line in table.splitlines() if line.startswith('| ') and 'mode' not in line}
    assert rows['fp32'] == ['100.000', '100.000', '-', '0', '0', '1.00']
    assert rows['force_fp16'] == ['99.000', '95.000', '61.25', '4', '7e+04', '3.00']
    assert rows['plan'][:3] == ['99.950', '99.900', '61.75']
