# FCN-8s on VGG-16 in the authors' Caffe geometry (conv1_1 padding 100, crops at 5/9/31).
# Input: BGR 0-255 minus the Caffe mean, no std (mmcv loads images BGR, so no channel swap).
norm_cfg = None
caffe_bgr_mean = [104.00699, 116.66877, 122.67892]
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=caffe_bgr_mean,
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    # Any input size works in the Caffe geometry: batches are only padded to their largest image
    # (after mean subtraction, so padding is the mean colour); batch 1 is never padded.
    size_divisor=1,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='FCNVGG',
        geometry='caffe',
        out_indices=(2, 3, 5),  # pool3 (stride 8), pool4 (16), fc7 (32)
        fc_dropout=0.5,
        ceil_mode=True,
        # VGG-16 ImageNet weights with fc6/fc7 as convolutions, from tools/model_converters/vgg2mmseg.py.
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vgg16_fcn_caffe.pth')),
    decode_head=dict(
        type='FCN8sHead',
        in_channels=[256, 512, 4096],
        in_index=[0, 1, 2],
        input_transform='multiple_select',
        num_classes=21,
        geometry='caffe',
        upsample_learnable=False,  # Caffe keeps the bilinear deconvolutions fixed
        zero_init_score=True,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
