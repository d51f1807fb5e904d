# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Convert VGG-16 ImageNet weights into an FCNVGG backbone checkpoint (fc6/fc7 as convolutions).

    python tools/model_converters/vgg2mmseg.py vgg16-397923af.pth checkpoints/vgg16_fcn_caffe.pth --source torchvision
    python tools/model_converters/vgg2mmseg.py vgg16_from_caffe.pth checkpoints/vgg16_fcn_caffe.pth --source caffe

``torchvision``: torchvision's ``vgg16`` state dict (RGB input in [0, 1] normalised by ImageNet
mean/std); the normalisation is folded into conv1_1 so that the checkpoint takes the Caffe input
format of the configs. ``caffe``: the Caffe-derived VGG-16 ``.pth`` with the same key layout that
expects BGR 0-255 minus the mean (e.g. torchfcn's ``vgg16_from_caffe.pth``).

The configs load the result with
``backbone.init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vgg16_fcn_caffe.pth')``.

Exit status: 0 success, 2 usage error, 3 the source is not a usable VGG-16 state dict (the
message names the file and what is wrong), 4 internal error. The output gets a ``.sha256``
sidecar, which the configs' loader checks.
"""
from .importer import IMPORT_COMMANDS, import_main


def main(argv=None) -> int:
    return import_main(argv, IMPORT_COMMANDS['vgg2mmseg'])
