# FCN-32s, the paper's recipe: VGG-16 (ImageNet) -> FCN-32s on SBD train (8,498), scored on
# seg11valid (736), whole images, batch 1, Caffe geometry. Stage 1 of 32s -> 16s -> 8s.
# Published: 90.48 / 76.48 / 63.63 / 83.46 (pixel acc. / mean acc. / mean IU / fw IU).
#
#   python tools/model_converters/vgg2mmseg.py vgg16-397923af.pth checkpoints/vgg16_fcn_caffe.pth --source torchvision
#   mim train mmseg configs/fcn32s_vgg16_voc.py
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/models/fcn32s_vgg16.py', './_base_/datasets/voc_fcn_paper.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/fcn_paper.py'
]
caffe_lr = 1e-10
voc_pixels = 500 * 375  # lr_mmseg = lr_caffe * N (see _base_/schedules/fcn_paper.py)
optim_wrapper = dict(optimizer=dict(lr=caffe_lr * voc_pixels))
