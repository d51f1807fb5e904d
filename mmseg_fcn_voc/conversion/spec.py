# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What an FCN network computes at inference, as plain data: every layer's arguments.

:func:`~.describe.describe_fcn` reads an :class:`FCNSpec` off a built torch model; the reference
checks (:mod:`.references`: is it the tutorial network?) and the deployment facts are read from
it, and the layers' specs are what the MindSpore layer factories take. Dataclasses only: no torch,
no MindSpore. Pairs are ``(height, width)``.
"""
from dataclasses import dataclass, replace
from typing import Optional, Tuple, Union

Pair = Tuple[int, int]


@dataclass(frozen=True)
class NormSpec:
    """An eval-mode BatchNorm. ``momentum`` is torch's (MindSpore's is ``1 - momentum``)."""
    eps: float
    momentum: float


@dataclass(frozen=True)
class ConvSpec:
    """A 2-D convolution, optionally followed by BatchNorm and ReLU (mmcv ``ConvModule`` order)."""
    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    bias: bool
    norm: Optional[NormSpec] = None
    relu: bool = False

    def with_post(self, norm: Optional[NormSpec], relu: bool) -> 'ConvSpec':
        """This convolution followed by ``norm`` and (if ``relu``) ReLU."""
        return replace(self, norm=norm, relu=relu)


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


LayerSpec = Union[ConvSpec, PoolSpec]


@dataclass(frozen=True)
class BackboneSpec:
    """``FCNVGG``: ``stages[l]`` lists ``(name, spec)`` of level ``l`` (pool1 .. pool5, fc7)."""
    stages: Tuple[Tuple[Tuple[str, LayerSpec], ...], ...]
    out_indices: Tuple[int, ...]


@dataclass(frozen=True)
class SkipSpec:
    """One skip fusion of an FCN head: upsample the running score x2, add the scored skip.

    Attributes:
        score: the score layer's name (``score_pool4``), ``score_conv`` its 1x1 convolution.
        upsampler: the x2 transposed conv's name (``upscore2``), ``upsample`` its arguments.
        offset: the crop offset (Caffe: 5 for pool4, 9 for pool3; 'same' geometry: 0).
        scale: the fixed factor on the skip features before scoring (FCN-8s at-once), or None.
    """
    score: str
    score_conv: ConvSpec
    upsampler: str
    upsample: DeconvSpec
    offset: int
    scale: Optional[float]


@dataclass(frozen=True)
class HeadSpec:
    """``FCNSkipHead``; layer names are Caffe's (``score_fr`` for mmseg's ``conv_seg``).

    ``skips`` are coarse to fine (pool4, then pool3).
    """
    in_index: Tuple[int, ...]
    multiple_select: bool
    geometry: str
    score_fr: ConvSpec
    skips: Tuple[SkipSpec, ...]
    final_upsampler: str
    final: DeconvSpec
    final_offset: int

    @property
    def num_classes(self) -> int:
        return self.score_fr.out_channels


@dataclass(frozen=True)
class FCNSpec:
    """A whole ``EncoderDecoder(FCNVGG, FCNSkipHead)`` at inference."""
    backbone: BackboneSpec
    head: HeadSpec

    @property
    def output_stride(self) -> int:
        return 32 // 2**len(self.head.skips)

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def geometry(self) -> str:
        return self.head.geometry

    @property
    def summary(self) -> str:
        return f'FCN-{self.output_stride}s on FCNVGG, {self.geometry} geometry'

    @property
    def size_divisor(self) -> int:
        """The input sizes the network takes: any (1) for the Caffe geometry, multiples of 32
        for the pad-free ('same') one."""
        return 1 if self.head.geometry == 'caffe' else 32

    def conv(self, name: str) -> ConvSpec:
        """The backbone layer ``name`` (``'conv1_1'``, ``'fc6'``, ...)."""
        for stage in self.backbone.stages:
            for layer, spec in stage:
                if layer == name:
                    return spec
        raise KeyError(name)
