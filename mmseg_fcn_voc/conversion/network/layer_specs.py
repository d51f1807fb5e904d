# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A layer's arguments as plain data: the leaves of a traced network (:mod:`.trace`).

A *spec* in this package is always this: what one torch layer computes, read off the built
module (padding, ceil mode, BN eps and momentum, ...), so that another framework's layer can be
made to compute exactly the same (:mod:`..mindspore.cells` takes them). Dataclasses only: no torch,
no MindSpore. Pairs are ``(height, width)``.
"""
from dataclasses import dataclass
from typing import Tuple, Union

Pair = Tuple[int, int]


@dataclass(frozen=True)
class NormSpec:
    """An eval-mode BatchNorm's constants. ``momentum`` is torch's (MindSpore's is ``1 - m``)."""
    eps: float
    momentum: float


@dataclass(frozen=True)
class ConvSpec:
    """A 2-D convolution: weight ``(out_channels, in_channels / groups, kh, kw)``."""
    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    bias: bool


@dataclass(frozen=True)
class PoolSpec:
    """Max pooling: ``kernel_size``, ``stride``, ``padding`` and torch's ``ceil_mode``."""
    kernel_size: Pair
    stride: Pair
    padding: Pair
    ceil_mode: bool


@dataclass(frozen=True)
class DeconvSpec:
    """A transposed convolution, weight ``(in_channels, out_channels / groups, kh, kw)``."""
    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair
    padding: Pair
    groups: int
    bias: bool


@dataclass(frozen=True)
class BatchNormSpec:
    """A stand-alone eval-mode BatchNorm over ``num_features`` channels."""
    num_features: int
    norm: NormSpec


@dataclass(frozen=True)
class ReLUSpec:
    """``nn.ReLU``."""


@dataclass(frozen=True)
class IdentitySpec:
    """``nn.Identity`` or dropout (the identity at inference)."""


LayerSpec = Union[ConvSpec, DeconvSpec, PoolSpec, BatchNormSpec, ReLUSpec, IdentitySpec]
