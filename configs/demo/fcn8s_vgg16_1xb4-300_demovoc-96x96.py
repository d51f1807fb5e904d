# The demo's training (data, crops, AdamW schedule) with FCN-8s in the authors' Caffe geometry
# instead of the BN variant: BGR 0-255 inputs minus the Caffe mean, no std, no BN, conv1_1 padding
# 100 and the crops at 5/9/31, skip scales 0.01 / 0.0001 (FCN-8s at-once), fixed bilinear
# upsampling. From scratch (no ImageNet weights can be fetched here), so it scores far below the
# BN demo: it is the network whose activations are largest, trained on the demo data, for
# measuring how the NPU's float16 treats that geometry (the converters' --precision-images).
#
#   mim train mmseg configs/demo/fcn8s_vgg16_1xb4-300_demovoc-96x96.py \
#       --cfg-options train_dataloader.dataset.data_root=demo_run/VOCdevkit \
#                     val_dataloader.dataset.data_root=demo_run/VOCdevkit \
#                     test_dataloader.dataset.data_root=demo_run/VOCdevkit
_base_ = './fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'
caffe_bgr_mean = [104.00699, 116.66877, 122.67892]
data_preprocessor = dict(
    mean=caffe_bgr_mean, std=[1.0, 1.0, 1.0], bgr_to_rgb=False, test_cfg=dict(size_divisor=1))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='FCNVGG',
        geometry='caffe',
        out_indices=(2, 3, 5),
        fc_dropout=0.5,
        ceil_mode=True),
    decode_head=dict(  # the BN head's settings turned back to the paper's
        geometry='caffe',
        skip_scales=(0.01, 0.0001),
        upsample_learnable=False,
        upsample_init='bilinear',
        score_bias=True,
        zero_init_score=True))
