# FCN-8s, the paper's recipe, stage 3: initialised from the trained FCN-16s (score_pool3 starts at
# zero), base_lr 1e-14 (summed loss; see fcn_paper.py). Published: 91.22 / 77.61 / 65.51 / 84.54
# on seg11valid, 62.2 mean IU on VOC 2012 test.
#
#   mim train mmseg configs/fcn8s_vgg16_voc.py \
#       --cfg-options load_from=work_dirs/fcn16s_vgg16_voc/best_mIoU_iter_XXXX.pth  (default: iter_100000.pth)
#   mim test mmseg configs/fcn8s_vgg16_voc.py --checkpoint work_dirs/fcn8s_vgg16_voc/best_mIoU_iter_XXXX.pth
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/models/fcn8s_vgg16.py', './_base_/datasets/voc_fcn_paper.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/fcn_paper.py'
]
model = dict(backbone=dict(init_cfg=None))  # weights come from the FCN-16s checkpoint
load_from = 'work_dirs/fcn16s_vgg16_voc/iter_100000.pth'  # where stage 2 ends
caffe_lr = 1e-14
voc_pixels = 500 * 375  # lr_mmseg = lr_caffe * N (see _base_/schedules/fcn_paper.py)
optim_wrapper = dict(optimizer=dict(lr=caffe_lr * voc_pixels))
# a missing load_from says to train the previous stage first
custom_hooks = [
    dict(type='InvalidLossGuardHook'),
    dict(type='LoadFromHintHook',
         hint='Train stage 2 first: mim train mmseg configs/fcn16s_vgg16_voc.py'),
]
