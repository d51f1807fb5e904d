# FCN-16s, the paper's recipe, stage 2: initialised from the trained FCN-32s (load_from: the layers
# they share; score_pool4 starts at zero), base_lr 1e-12 (summed loss; see fcn_paper.py).
# Published: 91.00 / 78.07 / 65.01 / 84.26.
#
#   mim train mmseg configs/fcn16s_vgg16_voc.py \
#       --cfg-options load_from=work_dirs/fcn32s_vgg16_voc/best_mIoU_iter_XXXX.pth  (default: iter_100000.pth)
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/models/fcn16s_vgg16.py', './_base_/datasets/voc_fcn_paper.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/fcn_paper.py'
]
model = dict(backbone=dict(init_cfg=None))  # weights come from the FCN-32s checkpoint
load_from = 'work_dirs/fcn32s_vgg16_voc/iter_100000.pth'  # where stage 1 ends
caffe_lr = 1e-12
voc_pixels = 500 * 375  # lr_mmseg = lr_caffe * N (see _base_/schedules/fcn_paper.py)
optim_wrapper = dict(optimizer=dict(lr=caffe_lr * voc_pixels))
# a missing load_from says to train the previous stage first
custom_hooks = [
    dict(type='InvalidLossGuardHook'),
    dict(type='LoadFromHintHook',
         hint='Train stage 1 first: mim train mmseg configs/fcn32s_vgg16_voc.py'),
]
