# FCN-32s on VGG-16, Caffe geometry (final crop at 19). One input: fc7.
_base_ = ['./fcn8s_vgg16.py']
model = dict(
    backbone=dict(out_indices=(5, )),
    decode_head=dict(
        _delete_=True,
        type='FCN32sHead',
        in_channels=4096,
        in_index=-1,
        num_classes=21,
        geometry='caffe',
        upsample_learnable=False,
        zero_init_score=True,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)))
