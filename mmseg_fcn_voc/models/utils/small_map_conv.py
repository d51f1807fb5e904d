# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A convolution that stays fast on feature maps smaller than its kernel."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes maps smaller than its kernel as im2col + one matrix product.

    Same parameters, state-dict keys, outputs and gradients as ``nn.Conv2d`` (to float32 rounding:
    only the summation order differs). Why it exists: FCN's fc6 is a 7x7 convolution with 4096
    outputs; in the pad-free ('same') networks on small crops its input map is smaller than the
    kernel (3x3 for 96x96 crops). torch's oneDNN kernels compute the *weight gradient* of that
    layer pathologically slowly on AVX2 CPUs (about 9 s against a 0.5 s forward, measured with
    torch 2.13, and reproducible on AVX-512 machines with ``ONEDNN_MAX_CPU_ISA=AVX2``), while an
    unfold + GEMM of the same numbers takes a fraction of a second on every CPU. Turning oneDNN off
    for the whole network is slower overall, so the decision is taken per layer and per call: the
    GEMM path is used only when the input map is smaller than the kernel, where the unfolded
    matrix is small (its ``C * kh * kw x H_out * W_out`` columns are at most the kernel's size).

    Grouped, non-zero-padded and string-padded convolutions always take ``nn.Conv2d``'s path, and
    so does every call under ``torch.jit`` tracing (the ONNX export): an exported graph is one
    ``Conv`` for every input size, not the GEMM form of the size it happened to be traced at.
    """

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out), as ``nn.Conv2d``."""
        (kh, kw), (h, w) = self.kernel_size, x.shape[-2:]
        if (h >= kh and w >= kw) or x.dim() != 4 or self.groups != 1 \
                or torch.jit.is_tracing() or self.padding_mode != 'zeros' or isinstance(self.padding, str):
            return super().forward(x)
        (ph, pw), (sh, sw), (dh, dw) = self.padding, self.stride, self.dilation
        if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
            return super().forward(x)  # no output at all: nn.Conv2d's own error
        out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        out = self.weight.reshape(self.out_channels, -1) @ cols  # (N, C_out, H_out * W_out)
        if self.bias is not None:
            out = out + self.bias[:, None]
        return out.reshape(x.shape[0], self.out_channels, out_h, out_w)
