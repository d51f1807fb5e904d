"""SmallMapConv2d (FCNVGG's fc6): the same outputs and gradients as a plain convolution, computed as
a GEMM where oneDNN's AVX2 weight gradient is pathologically slow (maps smaller than the kernel)."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_fcn_voc.models.utils import SmallMapConv2d


def _outputs_and_grads(conv_fn, x, weight, bias):
    x, weight, bias = (t.detach().clone().requires_grad_() for t in (x, weight, bias))
    out = conv_fn(x, weight, bias)
    # a non-uniform upstream gradient, so that transposed or shifted gradients would differ
    grad = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    out.backward(grad)
    return out.detach(), x.grad, weight.grad, bias.grad


@pytest.mark.parametrize('map_size, kernel, padding', [
    ((3, 3), 7, 3),  # fc6 on 96x96 crops: the case of the cliff
    ((1, 1), 7, 3),  # 32x32 crops
    ((2, 5), 7, 3),  # non-square, both sides smaller than the kernel
    ((9, 8), 7, 3),  # larger than the kernel: the plain path
])
def test_equals_conv2d_forward_and_backward(map_size, kernel, padding):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, *map_size, generator=gen, dtype=torch.float64)
    weight = torch.randn(6, 5, kernel, kernel, generator=gen, dtype=torch.float64)
    bias = torch.randn(6, generator=gen, dtype=torch.float64)
    conv = SmallMapConv2d(5, 6, kernel, padding=padding).double()

    def ours(x, w, b):
        return torch.func.functional_call(conv, {'weight': w, 'bias': b}, (x, ))

    def reference(x, w, b):
        return F.conv2d(x, w, b, padding=padding)

    expected = _outputs_and_grads(reference, x, weight, bias)
    got = _outputs_and_grads(ours, x, weight, bias)
    for name, a, b in zip(('output', 'grad x', 'grad weight', 'grad bias'), got, expected):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)


def test_a_map_too_small_for_any_output_fails_as_conv2d_does():
    x = torch.randn(1, 5, 4, 4)  # unpadded 7x7 (Caffe's fc6) on a 4x4 map
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        SmallMapConv2d(5, 6, 7)(x)


def test_float32_gradients_agree_to_rounding():
    """fc6's real shape in float32: 512 -> 4096, 7x7, padding 3, on 3x3 maps (batch 2)."""
    gen = torch.Generator().manual_seed(1)
    conv = SmallMapConv2d(512, 4096, 7, padding=3)
    x = torch.randn(2, 512, 3, 3, generator=gen)
    expected = _outputs_and_grads(lambda x, w, b: F.conv2d(x, w, b, padding=3), x, conv.weight,
                                  conv.bias)
    got = _outputs_and_grads(
        lambda x, w, b: torch.func.functional_call(conv, {'weight': w, 'bias': b}, (x, )), x,
        conv.weight, conv.bias)
    for a, b in zip(got, expected):
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


def test_fcnvgg_uses_it_for_fc6_only_and_keeps_the_state_dict_keys():
    from mmseg.registry import MODELS
    backbone = MODELS.build(dict(type='FCNVGG', geometry='same', norm_cfg=dict(type='BN')))
    assert type(backbone.fc6.conv) is SmallMapConv2d
    assert type(backbone.fc7.conv) is torch.nn.Conv2d and type(backbone.conv1_1.conv) is \
        torch.nn.Conv2d
    assert 'fc6.conv.weight' in backbone.state_dict()
    # a conv_cfg of the user's is respected for every layer, fc6 included
    custom = MODELS.build(dict(type='FCNVGG', conv_cfg=dict(type='Conv2d')))
    assert type(custom.fc6.conv) is torch.nn.Conv2d


def test_an_onnx_export_traced_on_a_small_map_is_one_conv_for_every_size(tmp_path):
    """Traced (``torch.onnx.export``) where the map is smaller than the kernel, the graph is still
    ONNX's ``Conv`` (no im2col + ``MatMul`` fixed to that size), and right at other sizes."""
    import numpy as np
    import onnx
    import onnxruntime
    conv = SmallMapConv2d(5, 6, 7, padding=3).eval()
    path = str(tmp_path / 'fc6.onnx')
    axes = {2: 'height', 3: 'width'}
    with torch.no_grad():
        torch.onnx.export(conv, (torch.randn(1, 5, 2, 3), ), path, dynamo=False, opset_version=11,
                          input_names=['x'], output_names=['y'],
                          dynamic_axes={'x': axes, 'y': axes})
    assert [n.op_type for n in onnx.load(path).graph.node] == ['Conv']
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in [(2, 3), (12, 9)]:
        x = torch.randn(1, 5, *size, generator=torch.Generator().manual_seed(2))
        want = F.conv2d(x, conv.weight, conv.bias, padding=3).detach().numpy()
        got = session.run(None, {'x': x.numpy()})[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
