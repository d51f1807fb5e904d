# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The skip-fusion decoder shared by FCN-32s, FCN-16s and FCN-8s."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.utils import ConfigType, SampleList
from torch import Tensor, nn

from ..utils import (
    BilinearConvTranspose2d,
    check_geometry,
    crop_to,
    input_size_of,
    is_symbolic_tracing,
)

# Caffe's crop offsets, coarse -> fine: the skip scores (pool4, pool3) and the final outputs by
# output stride. They follow from conv1_1's padding of 100 in the authors' release.
CAFFE_SKIP_OFFSETS = (5, 9)
CAFFE_FINAL_OFFSETS = {32: 19, 16: 27, 8: 31}

# Layer names, as in the authors' Caffe release (the converters' name maps read them from here).
#: The skip levels, coarse to fine.
SKIP_LEVELS = ('pool4', 'pool3')


def score_layer_name(skip: str) -> str:
    """``'pool4'`` -> ``'score_pool4'``."""
    return f'score_{skip}'


def fuse_upsampler_name(i: int) -> str:
    """The x2 upsampler before fusing skip ``i``: ``upscore2``, then ``upscore_pool4``."""
    return 'upscore2' if i == 0 else f'upscore_{SKIP_LEVELS[i - 1]}'


def final_upsampler_name(output_stride: int) -> str:
    """``upscore`` (FCN-32s), ``upscore16``, ``upscore8``."""
    return 'upscore' if output_stride == 32 else f'upscore{output_stride}'


#: Every layer an FCN head may hold (mmseg names; ``conv_seg`` is Caffe's ``score_fr``).
HEAD_LAYERS = ('conv_seg', *map(score_layer_name, SKIP_LEVELS),
               *map(fuse_upsampler_name, range(len(SKIP_LEVELS))),
               *map(final_upsampler_name, CAFFE_FINAL_OFFSETS))


class FCNSkipHead(BaseDecodeHead):
    """FCN decoder: score the deepest map, then repeatedly upsample x2 and add a scored skip.

    With ``num_skips`` = 0 / 1 / 2 this is FCN-32s / 16s / 8s. Inputs are selected by
    ``in_index`` (``input_transform='multiple_select'`` when there are skips), ordered fine to coarse:
    e.g. pool3 (stride 8), pool4 (stride 16), fc7 (stride 32). For FCN-8s:

    .. code-block:: none

        fc7   (N, C2, h32, w32) --conv_seg (score_fr)--> (N, K, h32, w32) --upscore2 (x2)------+
        pool4 (N, C1, h16, w16) --[x 0.01]--score_pool4--> crop at o1 ----------------------(+)
              --upscore_pool4 (x2)--> + <-- crop at o2 <-- score_pool3 <--[x 0.0001]-- pool3 (N, C0, h8, w8)
              --upscore8 (x8)--> crop at the final offset to (N, K, H, W)

    ``conv_seg`` of ``BaseDecodeHead`` is the classifier on the deepest input (Caffe's ``score_fr``),
    so ``channels`` is that input's channel count. The other layers keep Caffe's names:
    ``score_pool4``, ``score_pool3``, ``upscore2``, ``upscore_pool4``, ``upscore8`` / ``upscore16`` /
    ``upscore``.

    Geometry (:mod:`mmseg_fcn_voc.models.utils.geometry`):

    * ``'caffe'``: transposed convs unpadded; each skip score is cropped at Caffe's offset to the
      upsampled map's size; the output is cropped at the final offset to the input size.
    * ``'same'``: transposed convs padded by ``stride / 2`` so they scale exactly; the upsampled map
      is cropped at 0 to the skip's size (equal for inputs that are multiples of 32), the output at 0
      to the input size. This is the geometry for mmseg backbones (e.g. ``ResNetV1c`` at 8/16/32).

    ``forward(inputs, out_size)`` crops to ``out_size``; ``loss()`` and ``predict()`` pass the
    batch's input size, so the logits have exactly the input's height and width and mmseg's final
    ``resize`` is an identity. ``forward(inputs)`` without a size (``model(x, mode='tensor')``,
    ``torch.onnx.export(model, x)``) takes the size from ``inputs.input_size``, which ``FCNVGG``
    attaches to its outputs, and so returns logits of exactly the input's size too. Inputs from
    other backbones carry no size: the map is then returned aligned to the input's top-left pixel,
    uncropped (for the 'same' geometry and inputs that are multiples of the output stride it is
    already the input's size).

    Args:
        in_channels (int | Sequence[int]): Channels of the selected inputs, fine to coarse; one
            entry per skip plus the deepest input.
        channels (int, optional): Input channels of ``conv_seg``; must equal the deepest input's
            channels. Defaults to it.
        num_skips (int): 0, 1 or 2 (set by the subclasses).
        geometry (str): ``'caffe'`` or ``'same'``. Defaults to ``'caffe'``.
        skip_offsets (Sequence[int], optional): Crop offsets of the skip scores, coarse to fine.
            Defaults to Caffe's (5, 9) for ``'caffe'`` and zeros for ``'same'``.
        final_offset (int, optional): Crop offset of the output. Defaults to Caffe's 19/27/31 for
            ``'caffe'`` and 0 for ``'same'``.
        skip_scales (Sequence[float], optional): Fixed factors applied to the skip features before
            scoring, coarse to fine: ``(0.01, 0.0001)`` for FCN-8s at-once. Defaults to none.
        upsample_learnable (bool): Train the transposed convs (Caffe keeps them fixed). Default False.
        upsample_init (str): ``'bilinear'`` (default) or ``'xavier'`` (the MindSpore tutorial).
        score_bias (bool): Bias in the score layers (Caffe: yes; the MindSpore tutorial: no).
        zero_init_score (bool): Start all score layers at zero, as FCN does. When False, mmseg's
            ``Normal(std=0.01)`` is used for all of them. Ignored if ``init_cfg`` is given.
        dropout_ratio (float): Dropout before ``conv_seg``. Defaults to 0: ``FCNVGG`` already
            drops out after fc7.
        **kwargs: ``num_classes``, ``in_index``, ``input_transform``, ``loss_decode``, ... of
            ``BaseDecodeHead``.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 channels: Optional[int] = None,
                 *,
                 num_skips: int,
                 geometry: str = 'caffe',
                 skip_offsets: Optional[Sequence[int]] = None,
                 final_offset: Optional[int] = None,
                 skip_scales: Optional[Sequence[float]] = None,
                 upsample_learnable: bool = False,
                 upsample_init: str = 'bilinear',
                 score_bias: bool = True,
                 zero_init_score: bool = True,
                 dropout_ratio: float = 0.0,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **kwargs):
        name = type(self).__name__
        check_geometry(geometry, name)
        # Configs may give tuples; BaseDecodeHead and the converters work with lists.
        if not isinstance(in_channels, int):
            in_channels = list(in_channels)
        if not isinstance(kwargs.get('in_index', -1), int):
            kwargs['in_index'] = list(kwargs['in_index'])
        if num_skips not in (0, 1, 2):
            raise ValueError(f'{name}: num_skips must be 0, 1 or 2, got {num_skips}')
        self._check_inputs(name, in_channels, num_skips, kwargs)
        deepest = in_channels if isinstance(in_channels, int) else in_channels[-1]
        if channels is None:
            channels = deepest
        elif channels != deepest:
            raise ValueError(f'{name}: channels={channels} must equal the deepest input\'s '
                             f'in_channels ({deepest}): conv_seg (score_fr) scores that input')
        self.num_skips = num_skips
        self.geometry = geometry
        caffe = geometry == 'caffe'
        self.output_stride = 32 // 2**num_skips
        self.skip_names = SKIP_LEVELS[:num_skips]
        self.skip_offsets = self._per_skip(
            name, 'skip_offsets', skip_offsets,
            CAFFE_SKIP_OFFSETS[:num_skips] if caffe else (0, ) * num_skips)
        self.skip_scales = self._per_skip(name, 'skip_scales', skip_scales, (None, ) * num_skips)
        self.final_offset = (CAFFE_FINAL_OFFSETS[self.output_stride] if caffe else 0) \
            if final_offset is None else final_offset
        score_names = ['conv_seg'] + [score_layer_name(s) for s in self.skip_names]
        if init_cfg is None:
            init_cfg = dict(type='Constant', val=0, bias=0) if zero_init_score else \
                dict(type='Normal', std=0.01)
            init_cfg['override'] = [dict(name=n) for n in score_names]
        super().__init__(
            in_channels, channels, dropout_ratio=dropout_ratio, init_cfg=init_cfg, **kwargs)

        self._build_layers(channels, score_bias, caffe,
                           dict(learnable=upsample_learnable, init=upsample_init))

    def _build_layers(self, channels: int, score_bias: bool, caffe: bool, up_kw: dict) -> None:
        """The skips' score layers and x2 upsamplers, and the final upsampler."""
        num_classes = self.out_channels
        if not score_bias:
            self.conv_seg = nn.Conv2d(channels, num_classes, 1, bias=False)
        skip_channels = list(self.in_channels[:-1])[::-1] if self.num_skips else []
        self.fuse_upsamplers = []
        for i, (skip, c_skip) in enumerate(zip(self.skip_names, skip_channels)):
            self.add_module(score_layer_name(skip),
                            nn.Conv2d(c_skip, num_classes, 1, bias=score_bias))
            up_name = fuse_upsampler_name(i)
            self.add_module(up_name, BilinearConvTranspose2d(
                num_classes, 2, padding=0 if caffe else 1, **up_kw))
            self.fuse_upsamplers.append(up_name)
        s = self.output_stride
        self.final_upsampler = final_upsampler_name(s)
        self.add_module(self.final_upsampler, BilinearConvTranspose2d(
            num_classes, s, padding=0 if caffe else s // 2, **up_kw))

    @staticmethod
    def _check_inputs(name: str, in_channels, num_skips: int, kwargs: dict) -> None:
        """Fail at build time, naming the argument, when the inputs do not fit the head."""
        expected = num_skips + 1
        transform = kwargs.get('input_transform')
        in_index = kwargs.get('in_index', -1)
        if num_skips == 0:
            if not isinstance(in_channels, int) or transform is not None \
                    or not isinstance(in_index, int):
                raise ValueError(
                    f'{name} takes one input: in_channels and in_index must be ints and '
                    f'input_transform None, got in_channels={in_channels}, in_index={in_index}, '
                    f'input_transform={transform!r}')
            return
        if transform != 'multiple_select':
            raise ValueError(f"{name} fuses {expected} inputs: input_transform must be "
                             f"'multiple_select', got {transform!r}")
        if isinstance(in_channels, int) or len(in_channels) != expected:
            raise ValueError(f'{name} fuses {expected} inputs (fine to coarse, e.g. '
                             f'{["pool3", "pool4", "fc7"][-expected:]}), but in_channels='
                             f'{in_channels}')
        if isinstance(in_index, int) or len(in_index) != expected:
            raise ValueError(f'{name} fuses {expected} inputs, but in_index={in_index} selects '
                             f'{1 if isinstance(in_index, int) else len(in_index)}')

    @staticmethod
    def _per_skip(name, arg, value, default) -> Tuple:
        value = tuple(default if value is None else value)
        if len(value) != len(default):
            raise ValueError(f'{name}: {arg}={value} needs one entry per skip ({len(default)})')
        return value

    def _check_channels(self, feats: List[Tensor]) -> None:
        if is_symbolic_tracing():
            return
        expected = self.in_channels if isinstance(self.in_channels, list) else [self.in_channels]
        got = [f.shape[1] for f in feats]
        if got != list(expected):
            raise ValueError(f'{type(self).__name__}: in_channels={list(expected)} do not match '
                             f'the selected inputs\' channels {got} (in_index={self.in_index}); '
                             'set decode_head.in_channels to the backbone/neck output channels')

    def forward(self,
                inputs: Sequence[Tensor],
                out_size: Optional[Sequence[int]] = None) -> Tensor:
        """Fuse the selected inputs into logits.

        Args:
            inputs (Sequence[Tensor]): The backbone/neck outputs; ``in_index`` selects from them.
            out_size (tuple[int, int], optional): Input (H, W); the logits are cropped to it.
                Defaults to ``inputs.input_size`` (see the class docstring).

        Returns:
            Tensor: (N, num_classes, H, W) logits.
        """
        if out_size is None:
            out_size = input_size_of(inputs)
        selected = self._transform_inputs(inputs)
        feats = list(selected) if self.num_skips else [selected]
        self._check_channels(feats)
        score = self.cls_seg(feats[-1])
        for i, skip in enumerate(self.skip_names):
            up = getattr(self, self.fuse_upsamplers[i])(score)
            feat = feats[-2 - i]
            if self.skip_scales[i] is not None:
                feat = feat * self.skip_scales[i]
            skip_score = getattr(self, score_layer_name(skip))(feat)
            if self.geometry == 'caffe':
                score = up + crop_to(skip_score, up.shape[-2:], self.skip_offsets[i],
                                     score_layer_name(skip))
            else:
                score = crop_to(up, skip_score.shape[-2:], self.skip_offsets[i],
                                self.fuse_upsamplers[i]) + skip_score
        out = getattr(self, self.final_upsampler)(score)
        o = self.final_offset
        if out_size is None:
            return out[..., o:, o:] if o else out
        return crop_to(out, out_size, o, self.final_upsampler)

    @staticmethod
    def _input_size(img_meta: dict) -> Tuple[int, int]:
        """The (H, W) of the network input: the same rule ``predict_by_feat`` resizes to."""
        if isinstance(img_meta['img_shape'], torch.Size):  # slide inference crop
            return tuple(img_meta['img_shape'])
        if 'pad_shape' in img_meta:
            return tuple(img_meta['pad_shape'][:2])
        return tuple(img_meta['img_shape'][:2])

    def loss(self, inputs: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """As ``BaseDecodeHead.loss``, with the logits cropped to the (padded) label size."""
        size = batch_data_samples[0].gt_sem_seg.data.shape[-2:]
        return self.loss_by_feat(self.forward(inputs, size), batch_data_samples)

    def predict(self, inputs: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg: ConfigType) -> Tensor:
        """As ``BaseDecodeHead.predict``, with the logits cropped to the network input size."""
        logits = self.forward(inputs, self._input_size(batch_img_metas[0]))
        return self.predict_by_feat(logits, batch_img_metas)

    def predict_by_feat(self, seg_logits: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Skip mmseg's final ``resize`` when the logits already have the target size.

        ``F.interpolate`` to the same size is an identity that still costs a pass over the logits
        (about 4M values for a VOC image); other sizes go through ``BaseDecodeHead`` unchanged.
        """
        if tuple(seg_logits.shape[-2:]) == self._input_size(batch_img_metas[0]):
            return seg_logits
        return super().predict_by_feat(seg_logits, batch_img_metas)
