# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore cells for every FCN network the plugin builds on ``FCNVGG``.

:func:`build_mindspore_fcn` turns an :class:`~.architecture.FCNSpec` (read off the torch model) into
an :class:`FCNCell`: FCN-32s/16s/8s, at-once skip scales, the Caffe geometry (pad 100, ceil
pooling, crops at Caffe's offsets), the pad-free 'same' geometry, with or without BN. Its parameter
names are the ``'mindspore'`` layout of :mod:`.names`, i.e. mmseg's keys with MindSpore's BN names
and Caffe's ``score_fr``::

    backbone.conv1_1.conv.weight     backbone.conv1_1.bn.gamma     backbone.fc6.conv.weight
    decode_head.score_fr.weight      decode_head.score_pool4.bias  decode_head.upscore2.weight

The cells mirror ``FCNVGG.forward`` and ``FCNSkipHead.forward(inputs, out_size)`` step by step; they
run in PyNative mode and compile for ``mindspore.export`` (layer names and loops are constants),
with a static or a dynamic (``None``) input height and width.
"""
from mindspore import nn, ops

from ..spec import BackboneSpec, FCNSpec, HeadSpec, PoolSpec
from .layers import ConvNormReLU, conv2d, conv_transpose2d, max_pool2d


def crop(x, height: int, width: int, offset: int):
    """Caffe's crop: ``x[..., o:o + height, o:o + width]`` of an (N, C, H, W) tensor.

    ``ops.slice`` rather than indexing: indexing compiles to ``StridedSlice``, whose CPU kernel took
    77 ms for FCN-8s's final crop (21 x 584 x 720 -> 375 x 500, dynamic MINDIR) against 2.5 ms.
    """
    return ops.slice(x, (0, 0, offset, offset), (x.shape[0], x.shape[1], height, width))


class FCNVGGCell(nn.Cell):
    """The MindSpore ``FCNVGG``: (N, 3, H, W) -> one map per ``out_indices`` level.

    Layers keep the torch names (``conv1_1`` ... ``conv5_3``, ``pool1`` ... ``pool5``, ``fc6``,
    ``fc7``); dropout is left out (inference).
    """

    def __init__(self, spec: BackboneSpec, weight_init='zeros'):
        super().__init__()
        names = []
        for stage in spec.stages:
            for name, layer in stage:
                cell = max_pool2d(layer) if isinstance(layer, PoolSpec) else \
                    ConvNormReLU(layer, weight_init)
                setattr(self, name, cell)
            names.append(tuple(name for name, _ in stage))
        self.stage_layers = tuple(names)
        self.out_indices = tuple(spec.out_indices)

    def construct(self, x):
        outs = ()
        for level, names in enumerate(self.stage_layers):
            for name in names:
                x = getattr(self, name)(x)
            if level in self.out_indices:
                outs = outs + (x, )
        return outs


class FCNSkipHeadCell(nn.Cell):
    """The MindSpore ``FCNSkipHead`` (FCN-32s/16s/8s).

    ``construct(inputs, out_size)``: the backbone outputs and the input (H, W) ->
    (N, num_classes, H, W) logits, cropped exactly as ``FCNSkipHead.forward(inputs, out_size)``.
    """

    def __init__(self, spec: HeadSpec, weight_init='zeros'):
        super().__init__()
        self.in_index = tuple(spec.in_index)
        self.caffe = spec.geometry == 'caffe'
        self.score_fr = conv2d(spec.score_fr, weight_init)
        for skip in spec.skips:
            setattr(self, skip.score, conv2d(skip.score_conv, weight_init))
            setattr(self, skip.upsampler, conv_transpose2d(skip.upsample, weight_init))
        self.score_names = tuple(s.score for s in spec.skips)
        self.fuse_upsamplers = tuple(s.upsampler for s in spec.skips)
        self.skip_offsets = tuple(s.offset for s in spec.skips)
        self.skip_scales = tuple(s.scale for s in spec.skips)
        self.num_skips = len(spec.skips)
        self.final_upsampler = spec.final_upsampler
        setattr(self, spec.final_upsampler, conv_transpose2d(spec.final, weight_init))
        self.final_offset = spec.final_offset

    def construct(self, inputs, out_size):
        feats = ()
        for i in self.in_index:
            feats = feats + (inputs[i], )
        score = self.score_fr(feats[-1])
        for i in range(self.num_skips):
            up = getattr(self, self.fuse_upsamplers[i])(score)
            feat = feats[-2 - i]
            if self.skip_scales[i] is not None:
                feat = feat * self.skip_scales[i]
            skip_score = getattr(self, self.score_names[i])(feat)
            if self.caffe:
                score = up + crop(skip_score, up.shape[2], up.shape[3], self.skip_offsets[i])
            else:
                score = crop(up, skip_score.shape[2], skip_score.shape[3],
                             self.skip_offsets[i]) + skip_score
        out = getattr(self, self.final_upsampler)(score)
        return crop(out, out_size[0], out_size[1], self.final_offset)


class FCNCell(nn.Cell):
    """A whole FCN in MindSpore: (N, 3, H, W) normalised input -> (N, num_classes, H, W) logits.

    Equal to ``decode_head.forward(backbone(x), (H, W))`` of the torch model it was built from, in
    eval mode. Call ``set_train(False)`` before inference (BN then uses its moving statistics).
    """

    def __init__(self, spec: FCNSpec, weight_init='zeros'):
        super().__init__()
        self.backbone = FCNVGGCell(spec.backbone, weight_init)
        self.decode_head = FCNSkipHeadCell(spec.head, weight_init)

    def construct(self, x):
        return self.decode_head(self.backbone(x), (x.shape[2], x.shape[3]))


def build_mindspore_fcn(spec: FCNSpec, weight_init='zeros') -> FCNCell:
    """Build the :class:`FCNCell` for ``spec`` (from :func:`~..describe.describe_fcn`), in
    inference mode. Parameters start at ``weight_init`` (zeros) until a checkpoint is loaded."""
    cell = FCNCell(spec, weight_init)
    cell.set_train(False)
    return cell
