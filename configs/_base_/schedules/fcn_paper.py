# The FCN paper's solver, translated to mmseg's loss.
#
# Caffe's FCN sums the cross-entropy over the pixels of an image (normalize: false, batch 1) and
# uses base_lr 1e-10 (32s), 1e-12 (16s), 1e-14 (8s), momentum 0.99, weight decay 5e-4, bias lr x2
# without decay, a fixed learning rate, 100k iterations.
#
# mmseg averages the loss over the valid pixels (CrossEntropyLoss(avg_non_ignore=True) in the model
# configs), which divides every gradient by N, the number of labelled pixels of the image. For the
# same SGD step the learning rate is multiplied by N and, because SGD adds lr * wd * w, the weight
# decay is divided by N (Caffe's effective decay per step, lr * wd = 5e-14, is negligible):
#     lr_mmseg = lr_caffe * N,  wd_mmseg = wd_caffe / N,  N ~= 500 * 375 = 187,500 for VOC images.
# N varies per image (the summed loss weighs large images more); 187,500 is VOC's typical size.
voc_pixels = 500 * 375
caffe_lr = 1e-10  # overridden by the 16s / 8s configs
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=caffe_lr * voc_pixels, momentum=0.99, weight_decay=5e-4 / voc_pixels),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
    clip_grad=None)
param_scheduler = []  # Caffe's lr_policy: "fixed"
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000, max_keep_ckpts=3,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
custom_hooks = [dict(type='InvalidLossGuardHook')]  # stop on NaN loss before checkpointing
