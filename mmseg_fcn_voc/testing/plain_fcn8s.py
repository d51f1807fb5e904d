# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""FCN-8s written out flat in plain PyTorch, straight from the Caffe prototxt.

This is the baseline the benchmarks time the mmseg segmentor against, and an independent check in
the tests: it shares no code with the registered components (its own layers, its own literal crop
offsets 5 / 9 / 31 and its own bilinear filler), so a wrong offset or kernel in the plugin shows up
as a mismatch rather than being reproduced on both sides.
"""
import torch
import torch.nn.functional as F
from torch import nn


class PlainFCN8s(nn.Module):
    """FCN-8s, Caffe geometry, input (N, 3, H, W) BGR minus mean -> logits (N, K, H, W)."""

    def __init__(self, num_classes: int = 21):
        super().__init__()
        cfg = [(3, 64), (64, 64), 'M', (64, 128), (128, 128), 'M', (128, 256), (256, 256),
               (256, 256), 'M', (256, 512), (512, 512), (512, 512), 'M', (512, 512), (512, 512),
               (512, 512), 'M']
        self.features = nn.ModuleList()
        first = True
        for item in cfg:
            if item == 'M':
                self.features.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                self.features.append(nn.Conv2d(*item, 3, padding=100 if first else 1))
                self.features.append(nn.ReLU(inplace=True))
                first = False
        self.fc6 = nn.Conv2d(512, 4096, 7)
        self.fc7 = nn.Conv2d(4096, 4096, 1)
        self.drop = nn.Dropout(0.5)
        self.score_fr = nn.Conv2d(4096, num_classes, 1)
        self.score_pool4 = nn.Conv2d(512, num_classes, 1)
        self.score_pool3 = nn.Conv2d(256, num_classes, 1)
        self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, 2, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, 2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(num_classes, num_classes, 16, 8, bias=False)
        for up in (self.upscore2, self.upscore_pool4, self.upscore8):
            k = up.kernel_size[0]
            f = (k + 1) // 2
            c = f - 1 if k % 2 == 1 else f - 0.5
            og = torch.arange(k, dtype=torch.float32)
            filt = 1 - (og - c).abs() / f
            with torch.no_grad():
                up.weight.zero_()
                for m in range(num_classes):
                    up.weight[m, m] = filt[:, None] * filt[None, :]
            up.weight.requires_grad_(False)

    def forward(self, x):
        h, w = x.shape[-2:]
        pools = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                pools.append(x)
        pool3, pool4 = pools[2], pools[3]
        x = self.drop(F.relu(self.fc6(x), inplace=True))
        x = self.drop(F.relu(self.fc7(x), inplace=True))
        up2 = self.upscore2(self.score_fr(x))
        s4 = self.score_pool4(pool4)[..., 5:5 + up2.shape[2], 5:5 + up2.shape[3]]
        up4 = self.upscore_pool4(up2 + s4)
        s3 = self.score_pool3(pool3)[..., 9:9 + up4.shape[2], 9:9 + up4.shape[3]]
        out = self.upscore8(up4 + s3)
        return out[..., 31:31 + h, 31:31 + w]

    @torch.no_grad()
    def load_from_segmentor(self, segmentor) -> 'PlainFCN8s':
        """Copy the weights of an mmseg ``EncoderDecoder`` (FCNVGG + FCN8sHead) layer by layer."""
        bb, head = segmentor.backbone, segmentor.decode_head
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        src = [getattr(bb, f'conv{s}_{j}').conv for s, n in
               ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for j in range(1, n + 1)]
        pairs = list(zip(convs, src)) + [(self.fc6, bb.fc6.conv), (self.fc7, bb.fc7.conv),
                                          (self.score_fr, head.conv_seg),
                                          (self.score_pool4, head.score_pool4),
                                          (self.score_pool3, head.score_pool3),
                                          (self.upscore2, head.upscore2),
                                          (self.upscore_pool4, head.upscore_pool4),
                                          (self.upscore8, head.upscore8)]
        for dst, s in pairs:
            dst.weight.copy_(s.weight)
            if dst.bias is not None:
                dst.bias.copy_(s.bias)
        return self
