"""The bilinear kernel and the crop helper against closed forms and torch's own interpolation."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_fcn_voc.models.utils import (
    BilinearConvTranspose2d,
    bilinear_kernel,
    bilinear_kernel_1d,
    crop_to,
)


def test_kernel_closed_forms():
    # published: k=4 -> [0.25, 0.75, 0.75, 0.25]; by hand: k=3 (f=2, c=1) -> [.5, 1, .5],
    # k=16 (f=8, c=7.5) -> (1 - |i - 7.5| / 8).
    assert bilinear_kernel_1d(4).tolist() == [0.25, 0.75, 0.75, 0.25]
    assert bilinear_kernel_1d(3).tolist() == [0.5, 1.0, 0.5]
    assert bilinear_kernel_1d(1).tolist() == [1.0]
    expected16 = [1 - abs(i - 7.5) / 8 for i in range(16)]
    assert torch.allclose(bilinear_kernel_1d(16), torch.tensor(expected16))
    k = bilinear_kernel(4)
    assert k.shape == (4, 4) and k[1, 2] == 0.75 * 0.75 and k[0, 3] == 0.25 * 0.25


@pytest.mark.parametrize('stride', [2, 4, 8, 16, 32])
def test_same_padding_deconv_equals_bilinear_interpolation(stride):
    """k=2s, stride s, padding s/2 is bilinear interpolation (align_corners=False) away from the
    borders, where the deconvolution sees implicit zeros instead of replicated edge pixels."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 7, 9, dtype=torch.float64)
    up = BilinearConvTranspose2d(3, stride, padding=stride // 2).double()
    y = up(x)
    ref = F.interpolate(x, scale_factor=stride, mode='bilinear', align_corners=False)
    assert y.shape == ref.shape == (1, 3, 7 * stride, 9 * stride)
    m = stride  # one input pixel of margin
    assert torch.allclose(y[..., m:-m, m:-m], ref[..., m:-m, m:-m], atol=1e-12)


def test_full_and_depthwise_forms_agree_and_weights_are_diagonal():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 4)
    full = BilinearConvTranspose2d(5, 2)
    dw = BilinearConvTranspose2d(5, 2, depthwise=True)
    assert torch.allclose(full(x), dw(x), atol=1e-6)
    w = full.weight
    off_diag = w.clone()
    off_diag[range(5), range(5)] = 0
    assert off_diag.abs().sum() == 0
    assert torch.equal(w[3, 3], bilinear_kernel(4))
    assert not full.weight.requires_grad and full.bias is None
    assert BilinearConvTranspose2d(5, 2, learnable=True).weight.requires_grad


def test_init_weights_restores_bilinear():
    up = BilinearConvTranspose2d(4, 8, learnable=True)
    with torch.no_grad():
        up.weight.normal_()
    up.init_weights()
    assert torch.equal(up.weight[2, 2], bilinear_kernel(16))


def test_crop_offsets_and_refusal():
    x = torch.arange(100.).view(1, 1, 10, 10)
    c = crop_to(x, (3, 4), offset=5)
    assert c.shape == (1, 1, 3, 4) and c[0, 0, 0, 0] == 55 and c[0, 0, 2, 3] == 78
    assert crop_to(x, (10, 10)) is x
    with pytest.raises(ValueError, match='2 px too small'):
        crop_to(x, (7, 7), offset=5)
