# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The MindSpore tutorial / model-zoo FCN8s, with its exact structure and parameter names.

Written from the tutorial's published description, so that a ``.ckpt`` converted from
``configs/fcn8s_vgg16bn_voc.py`` loads into the tutorial's own network and the tutorial's
checkpoints import into mmseg. Structure (81 tensors: 134,502,112 trainable parameters and 24,832
BN moving statistics for 21 classes):

=======================  =========================================================  =======
cell                     layers                                                     stride
=======================  =========================================================  =======
``conv1`` .. ``conv5``   ``SequentialCell`` of (Conv2d 3x3 no bias, BatchNorm2d,     2 .. 32
                         ReLU) x 2/2/3/3/3 (indices 0, 3, 6 convs; 1, 4, 7 BNs),
                         each followed by ``pool1`` .. ``pool5`` (max 2x2 stride 2,
                         floor)
``conv6``                (Conv2d 512 -> 4096 7x7 pad 3, BN, ReLU)                    32
``conv7``                (Conv2d 4096 -> 4096 1x1, BN, ReLU)                         32
``score_fr``             Conv2d 4096 -> K, 1x1, no bias                              32
``upscore2``             Conv2dTranspose K -> K, 4x4 stride 2 'same', no bias;       16
                         plus ``score_pool4`` (Conv2d 512 -> K on pool4, no bias)
``upscore_pool4``        Conv2dTranspose 4x4 stride 2 'same'; plus ``score_pool3``   8
                         (Conv2d 256 -> K on pool3, no bias)
``upscore8``             Conv2dTranspose 16x16 stride 8 'same'                       1
=======================  =========================================================  =======

Input: (N, 3, H, W), RGB normalised with mean (123.675, 116.28, 103.53) and std (58.395, 57.12,
57.375), H and W multiples of 32; output (N, K, H, W) logits. The tutorial writes its layers with
MindSpore's defaults (``pad_mode='same'``); here every argument is explicit with the equivalent
padding (3x3 -> 1, 7x7 -> 3, transposed convs ``stride / 2``), which computes the same.
"""
from mindspore import nn

from ..spec import ConvSpec, DeconvSpec, NormSpec, PoolSpec
from .layers import batch_norm2d, conv2d, conv_transpose2d, max_pool2d

#: (convs, channels) of the five VGG-16 stages.
TUTORIAL_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
#: BN of the tutorial: MindSpore's defaults (eps 1e-5, MindSpore momentum 0.9 = torch 0.1).
TUTORIAL_NORM = NormSpec(eps=1e-5, momentum=0.1)


def _conv_spec(c_in: int, c_out: int, k: int, bias: bool = False) -> ConvSpec:
    return ConvSpec(c_in, c_out, (k, k), (1, 1), (k // 2, k // 2), (1, 1), 1, bias)


def _up_spec(channels: int, stride: int) -> DeconvSpec:
    return DeconvSpec(channels, channels, (2 * stride, 2 * stride), (stride, stride),
                      (stride // 2, stride // 2), 1, False)


def _conv_bn_relu_stage(specs, norm: NormSpec, weight_init) -> nn.SequentialCell:
    """One ``SequentialCell`` [conv, BN, ReLU, conv, BN, ReLU, ...] (built whole, then assigned,
    so its parameters are named ``0.weight``, ``1.gamma``, ... under the stage)."""
    cells = []
    for spec in specs:
        cells += [conv2d(spec, weight_init), batch_norm2d(spec.out_channels, norm), nn.ReLU()]
    return nn.SequentialCell(cells)


class FCN8sTutorial(nn.Cell):
    """The MindSpore tutorial's FCN8s (see the module docstring for the layers and names).

    Args:
        num_classes (int): K. Defaults to 21 (PASCAL VOC).
        norm (NormSpec): BN eps and (torch-convention) momentum. Defaults to the tutorial's.
        weight_init: initial conv weights. ``'zeros'`` for conversion (every parameter is then
            loaded and checked); the tutorial trains from ``'xavier_uniform'``.
    """

    def __init__(self, num_classes: int = 21, norm: NormSpec = TUTORIAL_NORM, weight_init='zeros'):
        super().__init__()
        c_in = 3
        for s, (num_convs, c_out) in enumerate(TUTORIAL_STAGES, start=1):
            specs = []
            for _ in range(num_convs):
                specs.append(_conv_spec(c_in, c_out, 3))
                c_in = c_out
            setattr(self, f'conv{s}', _conv_bn_relu_stage(specs, norm, weight_init))
            setattr(self, f'pool{s}', max_pool2d(PoolSpec((2, 2), (2, 2), (0, 0), False)))
        self.conv6 = _conv_bn_relu_stage([_conv_spec(512, 4096, 7)], norm, weight_init)
        self.conv7 = _conv_bn_relu_stage([_conv_spec(4096, 4096, 1)], norm, weight_init)
        self.score_fr = conv2d(_conv_spec(4096, num_classes, 1), weight_init)
        self.upscore2 = conv_transpose2d(_up_spec(num_classes, 2), weight_init)
        self.score_pool4 = conv2d(_conv_spec(512, num_classes, 1), weight_init)
        self.upscore_pool4 = conv_transpose2d(_up_spec(num_classes, 2), weight_init)
        self.score_pool3 = conv2d(_conv_spec(256, num_classes, 1), weight_init)
        self.upscore8 = conv_transpose2d(_up_spec(num_classes, 8), weight_init)

    def construct(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        pool3 = self.pool3(self.conv3(x))
        pool4 = self.pool4(self.conv4(pool3))
        pool5 = self.pool5(self.conv5(pool4))
        score = self.score_fr(self.conv7(self.conv6(pool5)))
        fuse_pool4 = self.upscore2(score) + self.score_pool4(pool4)
        fuse_pool3 = self.upscore_pool4(fuse_pool4) + self.score_pool3(pool3)
        return self.upscore8(fuse_pool3)


def build_mindspore_tutorial_fcn8s(num_classes: int, norm: NormSpec = TUTORIAL_NORM,
                                   weight_init='zeros') -> FCN8sTutorial:
    """An :class:`FCN8sTutorial` in inference mode."""
    cell = FCN8sTutorial(num_classes, norm, weight_init)
    cell.set_train(False)
    return cell
