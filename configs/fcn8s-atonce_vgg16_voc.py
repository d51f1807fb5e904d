# FCN-8s "at-once": trained in one stage from VGG-16 with pool4 x 0.01 and pool3 x 0.0001 before
# their score layers, base_lr 1e-10, 300k iterations. Published: 91.13 / 78.50 / 65.40 / 84.43.
#
#   mim train mmseg configs/fcn8s-atonce_vgg16_voc.py
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/models/fcn8s_vgg16.py', './_base_/datasets/voc_fcn_paper.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/fcn_paper.py'
]
model = dict(decode_head=dict(skip_scales=(0.01, 0.0001)))
caffe_lr = 1e-10
voc_pixels = 500 * 375  # lr_mmseg = lr_caffe * N (see _base_/schedules/fcn_paper.py)
optim_wrapper = dict(optimizer=dict(lr=caffe_lr * voc_pixels))
train_cfg = dict(max_iters=300000)
