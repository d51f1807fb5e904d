# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""VGG-16 with fc6/fc7 as convolutions: the FCN backbone."""
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import FeatureMaps, SmallMapConv2d, check_geometry

# (convs per stage, channels) of VGG-16 (configuration "D").
VGG16_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
# Output levels selectable through ``out_indices``: name, stride, channels (fc7 channels = fc_channels).
LEVELS = ('pool1', 'pool2', 'pool3', 'pool4', 'pool5', 'fc7')
STRIDES = (2, 4, 8, 16, 32, 32)


@MODELS.register_module()
class FCNVGG(BaseModule):
    """VGG-16 with its classifier turned into convolutions, as FCN uses it.

    Layers (names as in the authors' Caffe release): ``conv1_1 .. conv5_3`` (3x3, ReLU),
    ``pool1 .. pool5`` (max 2x2 stride 2), ``fc6`` (512 -> 4096, 7x7, ReLU, dropout) and ``fc7``
    (4096 -> 4096, 1x1, ReLU, dropout). Every conv is an mmcv ``ConvModule``, so state-dict keys read
    ``conv1_1.conv.weight``, ``fc6.conv.weight``, and with ``norm_cfg`` ``conv1_1.bn.weight``.

    Output levels (pick with ``out_indices``), for an input of shape (N, 3, H, W):

    ====  ======  ======  ========  =======================================================
    idx   level   stride  channels  shape with ``geometry='same'`` (H, W multiples of 32)
    ====  ======  ======  ========  =======================================================
    0     pool1   2       64        (N, 64, H/2, W/2)
    1     pool2   4       128       (N, 128, H/4, W/4)
    2     pool3   8       256       (N, 256, H/8, W/8)
    3     pool4   16      512       (N, 512, H/16, W/16)
    4     pool5   32      512       (N, 512, H/32, W/32)
    5     fc7     32      4096      (N, 4096, H/32, W/32)
    ====  ======  ======  ========  =======================================================

    With ``geometry='caffe'`` (conv1_1 padding 100, fc6 unpadded, ceil-mode pooling) the maps are
    larger than ``H / stride`` by the padding; the FCN heads crop them back at Caffe's offsets.

    Args:
        in_channels (int): Input channels. Defaults to 3.
        geometry (str): ``'caffe'`` or ``'same'``, see :mod:`mmseg_fcn_voc.models.utils.geometry`.
            Sets the defaults of ``conv1_padding`` and ``fc6_padding``. Defaults to ``'caffe'``.
        conv1_padding (int, optional): Padding of conv1_1; 100 (caffe) or 1 (same) by default.
        fc6_padding (int, optional): Padding of the 7x7 fc6; 0 (caffe) or 3 (same) by default.
        out_indices (Sequence[int]): Levels to return, see the table. fc6/fc7 are built only if 5 is
            among them. Defaults to (2, 3, 5): pool3, pool4, fc7 for FCN-8s.
        fc_channels (int): Channels of fc6/fc7. Defaults to 4096.
        fc_dropout (float): Dropout after fc6 and fc7 (Caffe: 0.5; the BN variant: 0).
        ceil_mode (bool): Round pooled sizes up, as Caffe does. Defaults to True.
        conv_bias (bool | str): Bias of the convs; ``'auto'`` drops it when a norm follows.
        conv_cfg, norm_cfg, act_cfg (dict): mmcv layer configs. With ``conv_cfg=None`` fc6 is a
            :class:`~mmseg_fcn_voc.models.utils.SmallMapConv2d` (a ``Conv2d`` that stays fast when
            its input map is smaller than the 7x7 kernel, as with small crops in the 'same'
            geometry). ``norm_cfg=None`` (Caffe) or
            ``dict(type='BN')`` (the MindSpore tutorial's FCN8s, BN after every conv incl. fc6/fc7).
        frozen_stages (int): Freeze (no grad, eval-mode norms) conv stages 1..k; 6 also freezes
            fc6/fc7. -1 freezes nothing.
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint='vgg16_fcn.pth')`` as
            written by ``tools/model_converters/vgg2mmseg.py``.
    """

    def __init__(self,
                 in_channels: int = 3,
                 geometry: str = 'caffe',
                 conv1_padding: Optional[int] = None,
                 fc6_padding: Optional[int] = None,
                 out_indices: Sequence[int] = (2, 3, 5),
                 fc_channels: int = 4096,
                 fc_dropout: float = 0.5,
                 ceil_mode: bool = True,
                 conv_bias: Union[bool, str] = 'auto',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='ReLU'),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        self.geometry = check_geometry(geometry, 'FCNVGG')
        caffe = geometry == 'caffe'
        self.conv1_padding = (100 if caffe else 1) if conv1_padding is None else conv1_padding
        self.fc6_padding = (0 if caffe else 3) if fc6_padding is None else fc6_padding
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(len(LEVELS)) for i in out_indices):
            raise ValueError(f'FCNVGG: out_indices={out_indices} must be non-empty indices into '
                             f'{dict(enumerate(LEVELS))}')
        if list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f'FCNVGG: out_indices={out_indices} must be increasing and unique')
        if frozen_stages not in range(-1, 7):
            raise ValueError(f'FCNVGG: frozen_stages={frozen_stages} must be in -1..6')
        self.out_indices = out_indices
        self.with_fc = 5 in out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        channels = [c for _, c in VGG16_STAGES] + [fc_channels]
        self.out_channels = [channels[i] for i in out_indices]
        self.out_strides = [STRIDES[i] for i in out_indices]

        layer_kw = dict(bias=conv_bias, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stage_layers = []
        c_in = self._build_conv_stages(in_channels, ceil_mode, layer_kw)
        if self.with_fc:
            self._build_fc(c_in, fc_channels, fc_dropout, conv_cfg, layer_kw)
        self._freeze_stages()

    def _build_conv_stages(self, c_in: int, ceil_mode: bool, layer_kw: dict) -> int:
        """conv1_1 .. pool5 (as far as ``out_indices`` need); returns the channels after them."""
        num_stages = (5 if self.with_fc else max(self.out_indices) + 1)
        for s, (num_convs, c_out) in enumerate(VGG16_STAGES[:num_stages], start=1):
            names = []
            for j in range(1, num_convs + 1):
                pad = self.conv1_padding if (s, j) == (1, 1) else 1
                name = f'conv{s}_{j}'
                self.add_module(name, ConvModule(c_in, c_out, 3, padding=pad, **layer_kw))
                names.append(name)
                c_in = c_out
            self.add_module(f'pool{s}', nn.MaxPool2d(2, stride=2, ceil_mode=ceil_mode))
            self.stage_layers.append(names + [f'pool{s}'])
        return c_in

    def _build_fc(self, c_in: int, fc_channels: int, fc_dropout: float,
                  conv_cfg: Optional[dict], layer_kw: dict) -> None:
        """fc6 (7x7) and fc7 (1x1) as convolutions, each followed by dropout."""
        # fc6 is the one layer whose input map can be smaller than its kernel (7x7 on stride 32,
        # i.e. crops under 224 px in the 'same' geometry), where oneDNN's weight gradient is
        # pathologically slow on AVX2 CPUs: SmallMapConv2d computes that case as a GEMM.
        fc6_kw = dict(layer_kw, conv_cfg=conv_cfg or dict(type=SmallMapConv2d))
        self.fc6 = ConvModule(c_in, fc_channels, 7, padding=self.fc6_padding, **fc6_kw)
        self.drop6 = nn.Dropout(fc_dropout) if fc_dropout > 0 else nn.Identity()
        self.fc7 = ConvModule(fc_channels, fc_channels, 1, **layer_kw)
        self.drop7 = nn.Dropout(fc_dropout) if fc_dropout > 0 else nn.Identity()
        self.stage_layers.append(['fc6', 'drop6', 'fc7', 'drop7'])

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(N, C, H, W) -> a tuple with one map per ``out_indices`` entry (see the class table).

        The tuple is a :class:`~mmseg_fcn_voc.models.utils.FeatureMaps` that also carries
        ``input_size = (H, W)``, which the FCN heads use in ``mode='tensor'``.
        """
        size = x.shape[-2:]
        outs = []
        for level, names in enumerate(self.stage_layers):
            for name in names:
                x = getattr(self, name)(x)
            if level in self.out_indices:
                outs.append(x)
        return FeatureMaps(outs, size)

    def init_weights(self) -> None:
        """mmengine's init; a missing pretrained file is reported with how to make it."""
        init = self.init_cfg if isinstance(self.init_cfg, dict) else {}
        checkpoint = init.get('checkpoint')
        if init.get('type') == 'Pretrained' and isinstance(checkpoint, str) \
                and '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'{checkpoint}: the pretrained VGG-16 backbone (backbone.init_cfg) does not exist. '
                'Make it from the ImageNet VGG-16 weights with '
                f'`python tools/model_converters/vgg2mmseg.py vgg16-397923af.pth {checkpoint} '
                '--source torchvision` (or --source caffe for vgg16_from_caffe.pth), or set '
                'model.backbone.init_cfg=None to train from scratch.')
        super().init_weights()

    def _freeze_stages(self) -> None:
        for level in range(min(self.frozen_stages, len(self.stage_layers))):
            for name in self.stage_layers[level]:
                module = getattr(self, name)
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'FCNVGG':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
