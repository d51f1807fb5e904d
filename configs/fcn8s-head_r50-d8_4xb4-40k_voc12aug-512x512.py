# Mixing example (a): FCNSkipHead's FCN-8s fusion on mmseg's ResNetV1c-50 without dilation, i.e.
# features at strides 8 / 16 / 32 (stages 2-4), pad-free ('same') geometry, inputs padded to
# multiples of 32. Everything else is stock mmseg.
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/datasets/voc12aug.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size,
    test_cfg=dict(size_divisor=32))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),  # strides 8, 16, 32
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='FCN8sHead',
        in_channels=[512, 1024, 2048],
        in_index=[0, 1, 2],
        input_transform='multiple_select',
        num_classes=21,
        geometry='same',
        upsample_learnable=True,
        dropout_ratio=0.1,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
train_dataloader = dict(batch_size=4)
