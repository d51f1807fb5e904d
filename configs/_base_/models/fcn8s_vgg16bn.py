# The MindSpore tutorial / model-zoo FCN8s: BN (eps 1e-5) + ReLU after every conv (no conv bias),
# 'same' padding (conv1_1 pad 1, conv6 7x7 pad 3), floor pooling, no dropout, score layers without
# bias, learned 'same' transposed convs (xavier), inputs padded to multiples of 32, RGB mean/std.
norm_cfg = dict(type='BN', requires_grad=True, eps=1e-5, momentum=0.1)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32,
    test_cfg=dict(size_divisor=32))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='FCNVGG',
        geometry='same',
        out_indices=(2, 3, 5),
        fc_dropout=0.0,
        ceil_mode=False,
        norm_cfg=norm_cfg,
        conv_bias=False),
    decode_head=dict(
        type='FCN8sHead',
        in_channels=[256, 512, 4096],
        in_index=[0, 1, 2],
        input_transform='multiple_select',
        num_classes=21,
        geometry='same',
        upsample_learnable=True,
        upsample_init='xavier',
        score_bias=False,
        zero_init_score=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
