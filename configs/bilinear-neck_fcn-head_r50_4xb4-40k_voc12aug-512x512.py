# Mixing example (b): BilinearDeconvNeck in front of mmseg's own FCNHead. An undilated ResNetV1c-50
# gives strides 4/8/16/32; the neck brings stages 3 and 4 to stride 8 with bilinear-initialised,
# learnable transposed convolutions (instead of dilation), and mmseg's FCNHead + auxiliary head
# consume them as in mmseg's fcn_r50-d8 configs.
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py', './_base_/datasets/voc12aug.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(dilations=(1, 1, 1, 1), strides=(1, 2, 2, 2)),
    neck=dict(
        type='BilinearDeconvNeck',
        in_channels=[256, 512, 1024, 2048],
        scale_factors=[1, 1, 2, 4],  # strides 4, 8, 8, 8
        learnable=True),
    decode_head=dict(num_classes=21),
    auxiliary_head=dict(num_classes=21))
train_dataloader = dict(batch_size=4)
