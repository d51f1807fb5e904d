# PASCAL VOC 2012 + SBD ("VOC aug"): train on train_aug (10,582 images), validate on VOC 2012 val
# (1,449), with mmseg's usual 512x512 random-crop pipeline (as mmseg's pascal_voc12_aug.py).
#
# Layout: what `python tools/dataset_converters/prepare_voc.py --out-dir data/VOCdevkit ...` writes. train_aug is one
# list (trainaug.txt) with one label folder (SegmentationClassAug: VOC's label where VOC has one,
# SBD's otherwise). Point `data_root` of both dataloaders elsewhere with, e.g.,
#   --cfg-options train_dataloader.dataset.data_root=DIR val_dataloader.dataset.data_root=DIR \
#                 test_dataloader.dataset.data_root=DIR
# Normalisation belongs to the model's data_preprocessor, not to this pipeline.

# mmseg's PascalVOCDataset, with errors that say how to make a missing split
dataset_type = 'FCNVOCDataset'
data_root = 'data/VOCdevkit'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # labels are loaded after Resize: metrics are computed at the original resolution
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='VOC2012/JPEGImages', seg_map_path='VOC2012/SegmentationClassAug'),
        ann_file='VOC2012/ImageSets/Segmentation/trainaug.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='VOC2012/JPEGImages', seg_map_path='VOC2012/SegmentationClass'),
        ann_file='VOC2012/ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# pixel acc., mean acc., mean IU, fw IU and per-class IoU/Acc (percent, unrounded)
val_evaluator = dict(type='FCNIoUMetric', ignore_index=255)
test_evaluator = val_evaluator
