# mmseg's 40k schedule (SGD + poly, 40k iterations, checkpoints every 4k) with FCN's treatment of the
# VGG-16 recipes: bias lr x2 without decay, and a learning rate an order below mmseg's default of
# 0.01, because the input is Caffe-style (BGR 0-255 minus mean, no std).
_base_ = ['mmseg::_base_/schedules/schedule_40k.py']
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=40000, by_epoch=False)
]
default_hooks = dict(
    checkpoint=dict(max_keep_ckpts=3, save_best='mIoU', rule='greater'))
custom_hooks = [dict(type='InvalidLossGuardHook')]  # stop on NaN loss before checkpointing
