# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore layers that compute what their torch counterparts compute: every argument explicit.

MindSpore's defaults differ from torch's and would silently change results (``nn.Conv2d`` and
``nn.Conv2dTranspose`` default to ``pad_mode='same'`` and no bias, ``nn.MaxPool2d`` to stride 1 and
floor mode, BatchNorm momentum is ``1 - torch_momentum``), so each factory below passes every
argument. Weights start at zero or at BN's identity: the converters load every parameter and check
that none is left at its initial value. Weight layouts equal torch's: conv ``(out, in / groups, kh,
kw)``, transposed conv ``(in, out / groups, kh, kw)``.

Every layer also runs in a MINDIR exported with a dynamic height and width (``None`` dimensions).
"""
from mindspore import nn, ops

from ..network.layer_specs import ConvSpec, DeconvSpec, NormSpec, PoolSpec


def _padding4(padding):
    """torch ``(ph, pw)`` -> MindSpore ``(top, bottom, left, right)``."""
    ph, pw = padding
    return (ph, ph, pw, pw)


def conv2d(spec: ConvSpec, weight_init='zeros') -> nn.Conv2d:
    """``nn.Conv2d`` equal to ``torch.nn.Conv2d`` with the spec's explicit zero padding."""
    return nn.Conv2d(
        spec.in_channels,
        spec.out_channels,
        spec.kernel_size,
        stride=spec.stride,
        pad_mode='pad',
        padding=_padding4(spec.padding),
        dilation=spec.dilation,
        group=spec.groups,
        has_bias=spec.bias,
        weight_init=weight_init,
        bias_init='zeros' if spec.bias else None,
        data_format='NCHW')


def batch_norm2d(num_features: int, norm: NormSpec) -> nn.BatchNorm2d:
    """``nn.BatchNorm2d`` equal to an eval-mode torch BN; momentum converted to ``1 - m``.

    Parameters ``gamma``, ``beta``, ``moving_mean``, ``moving_variance`` hold torch's ``weight``,
    ``bias``, ``running_mean``, ``running_var``. ``use_batch_statistics=None``: batch statistics
    in training mode, the moving ones after ``set_train(False)``.
    """
    return nn.BatchNorm2d(
        num_features,
        eps=norm.eps,
        momentum=1.0 - norm.momentum,
        affine=True,
        gamma_init='ones',
        beta_init='zeros',
        moving_mean_init='zeros',
        moving_var_init='ones',
        use_batch_statistics=None,
        data_format='NCHW')


class CeilMaxPool2d(nn.Cell):
    """torch's ``MaxPool2d(k, s, ceil_mode=True)`` (no padding, ``k >= s``) that also runs with
    dynamic input shapes (MindSpore 2.10's ceil-mode kernel fails there at run time).

    Both forms below give ``ceil((H - k) / s) + 1`` outputs whose last, partial window sees only
    the real values beside it, as torch's:

    * ``k == s <= 2`` (VGG's pools): ``nn.MaxPool2d(pad_mode='same')``, which pads
      ``ceil(H / s) * s - H`` (0 or 1) rows/columns at the bottom/right and leaves them out of the
      maxima. One kernel, as fast as a 'valid' pool.
    * otherwise: ``-inf`` padding of ``s - 1`` rows/columns at the bottom/right, then 'valid'
      pooling. MindSpore's constant ``Pad`` is slow on CPU (0.4 s for 64x573x698 on an Intel Xeon,
      15x the pool itself), which is why the first form exists.

    (N, C, H, W) -> (N, C, ceil((H - kh) / sh) + 1, ceil((W - kw) / sw) + 1).
    """

    def __init__(self, spec: PoolSpec):
        super().__init__()
        (sh, sw) = spec.stride
        same = tuple(spec.kernel_size) == tuple(spec.stride) and max(sh, sw) <= 2
        # 'same' splits an odd padding total as (total // 2 before, the rest after): for s <= 2
        # the total is 0 or 1, so nothing goes before, as in ceil mode.
        self.pad = None if same else (0, sw - 1, 0, sh - 1)  # (left, right, top, bottom)
        self.pool = nn.MaxPool2d(kernel_size=spec.kernel_size, stride=spec.stride,
                                 pad_mode='same' if same else 'valid', data_format='NCHW')

    def construct(self, x):
        if self.pad is not None:
            x = ops.pad(x, self.pad, mode='constant', value=float('-inf'))
        return self.pool(x)


class PaddedMaxPool2d(nn.Cell):
    """torch's ``MaxPool2d(k, s, padding=p)`` that also runs with dynamic input shapes
    (MindSpore 2.10's ``pad_mode='pad'`` pool fails in a dynamic-shape MINDIR): ``-inf`` padding of
    ``p`` on every side (never a maximum, as torch's implicit padding), then the unpadded pool
    of :func:`max_pool2d` (floor or ceil mode).

    (N, C, H, W) -> (N, C, (H + 2 ph - kh) / sh + 1, ...), rounded as ``ceil_mode`` says.
    """

    def __init__(self, spec: PoolSpec):
        super().__init__()
        ph, pw = spec.padding
        self.pad = (pw, pw, ph, ph)  # (left, right, top, bottom)
        self.pool = max_pool2d(PoolSpec(spec.kernel_size, spec.stride, (0, 0), spec.ceil_mode))

    def construct(self, x):
        return self.pool(ops.pad(x, self.pad, mode='constant', value=float('-inf')))


def max_pool2d(spec: PoolSpec) -> nn.Cell:
    """A MindSpore max pool equal to torch's ``nn.MaxPool2d`` of ``spec``; every form also runs
    with dynamic shapes.

    Floor mode: ``nn.MaxPool2d(pad_mode='valid')``; ceil mode without padding (FCN's Caffe
    geometry): :class:`CeilMaxPool2d`; with padding (ResNet's stem): :class:`PaddedMaxPool2d`;
    ceil mode with a kernel smaller than its stride: ``nn.MaxPool2d(pad_mode='pad')`` (static
    shapes only).
    """
    if spec.padding != (0, 0) and all(2 * p <= k for p, k in zip(spec.padding,
                                                                 spec.kernel_size)):
        return PaddedMaxPool2d(spec)
    if spec.ceil_mode and spec.padding == (0, 0) and all(
            k >= s for k, s in zip(spec.kernel_size, spec.stride)):
        return CeilMaxPool2d(spec)
    explicit = spec.ceil_mode or spec.padding != (0, 0)
    return nn.MaxPool2d(
        kernel_size=spec.kernel_size,
        stride=spec.stride,
        pad_mode='pad' if explicit else 'valid',
        padding=spec.padding if explicit else 0,
        dilation=1,
        return_indices=False,
        ceil_mode=spec.ceil_mode,
        data_format='NCHW')


def conv_transpose2d(spec: DeconvSpec, weight_init='zeros') -> nn.Conv2dTranspose:
    """``nn.Conv2dTranspose`` equal to ``torch.nn.ConvTranspose2d`` (``pad_mode='pad'``).

    (N, C, H, W) -> (N, C', (H - 1) s - 2 p + k, ...).
    """
    return nn.Conv2dTranspose(
        spec.in_channels,
        spec.out_channels,
        spec.kernel_size,
        stride=spec.stride,
        pad_mode='pad',
        padding=_padding4(spec.padding),
        output_padding=0,
        dilation=1,
        group=spec.groups,
        has_bias=spec.bias,
        weight_init=weight_init,
        bias_init='zeros' if spec.bias else None)


class Resize(nn.Cell):
    """torch's ``F.interpolate(x, size, mode, align_corners)`` (mmseg's ``resize``), with a size
    that may come from another tensor's shape in a dynamic-shape MINDIR (``ops.interpolate``
    needs a constant size there).

    ``'bilinear'``: ``ResizeBilinearV2`` with ``half_pixel_centers = not align_corners`` (torch's
    ``align_corners=False`` samples at pixel centres); ``'nearest'``: ``ResizeNearestNeighborV2``
    without half-pixel centres (torch's ``floor(dst * in / out)``).

    ``construct(x, size)``: (N, C, H, W), (h, w) -> (N, C, h, w).
    """

    def __init__(self, mode: str, align_corners: bool = False):
        super().__init__()
        if mode == 'bilinear':
            self.op = ops.ResizeBilinearV2(align_corners=bool(align_corners),
                                           half_pixel_centers=not align_corners)
        elif mode == 'nearest':
            self.op = ops.ResizeNearestNeighborV2(align_corners=False, half_pixel_centers=False)
        else:
            raise ValueError(f'Resize: mode {mode!r} does not translate')

    def construct(self, x, size):
        return self.op(x, size)
