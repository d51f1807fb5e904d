# The README demo: FCN-8s (the MindSpore tutorial's BN variant, so it trains from scratch: no
# ImageNet weights can be fetched here) on the generated VOC-format demo data, on CPU in ~10 min.
#
#   python tools/dataset_converters/make_demo_voc.py --out-dir demo_run/raw
#   python tools/dataset_converters/prepare_voc.py --voc demo_run/raw/VOCdevkit --sbd demo_run/raw/benchmark_RELEASE \
#       --out-dir demo_run/VOCdevkit
#   mim train mmseg configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py \
#       --cfg-options train_dataloader.dataset.data_root=demo_run/VOCdevkit \
#                     val_dataloader.dataset.data_root=demo_run/VOCdevkit \
#                     test_dataloader.dataset.data_root=demo_run/VOCdevkit
# mmseg_fcn_voc.utils.cpu_launch: lets `--launcher pytorch` start on a CPU-only torch (see there)
custom_imports = dict(
    imports=['mmseg_fcn_voc', 'mmseg_fcn_voc.utils.cpu_launch'], allow_failed_imports=False)
_base_ = [
    '../_base_/models/fcn8s_vgg16bn.py', '../_base_/datasets/voc12aug.py',
    'mmseg::_base_/default_runtime.py'
]
crop_size = (96, 96)
data_root = 'demo_run/VOCdevkit'
data_preprocessor = dict(size=crop_size, size_divisor=None)
model = dict(data_preprocessor=data_preprocessor)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='FCNIoUMetric', ignore_index=255)
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    # from scratch in a few hundred iterations: AdamW converges far faster than SGD here.
    # fused=True: torch's fused CPU kernel; the default per-tensor loop over VGG's 134M parameters
    # took ~1.4 s per step on 2 cores, about half of each training iteration, fused ~0.15 s.
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=1e-4, fused=True),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=30, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=30, end=300, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
custom_hooks = [dict(type='InvalidLossGuardHook')]
# CPU-friendly distributed runs (mim train ... --launcher pytorch --gpus 2): gloo, and DDP without
# device_ids (mmengine's default passes [LOCAL_RANK], which only works for GPU modules).
env_cfg = dict(dist_cfg=dict(backend='gloo'))
model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)
randomness = dict(seed=0)
