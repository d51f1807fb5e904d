# The FCN paper's protocol: train on SBD train (8,498 images), validate on seg11valid (the 736 VOC
# 2011 segmentation val images that are not in SBD train); whole images (no resize, crop or flip;
# the paper found augmentation did not help), batch 1.
#
# The BGR mean subtraction (104.00699, 116.66877, 122.67892, no std) is done by the model's
# data_preprocessor (configs/_base_/models/fcn*_vgg16.py); mmcv loads images as BGR, so this
# pipeline neither normalises nor swaps channels.
#
# Layout: what `python tools/dataset_converters/prepare_voc.py --voc2011 ... --out-dir data/VOCdevkit` writes
# (sbd_train.txt with SegmentationClassSBD, seg11valid.txt with SegmentationClass). Point
# data_root elsewhere with --cfg-options train_dataloader.dataset.data_root=DIR
# val_dataloader.dataset.data_root=DIR test_dataloader.dataset.data_root=DIR.

# mmseg's PascalVOCDataset, with errors that say how to make a missing split
dataset_type = 'FCNVOCDataset'
prepare_hint = ('python tools/dataset_converters/prepare_voc.py --voc VOCtrainval_11-May-2012.tar '
                '--sbd benchmark.tgz --voc2011 VOCtrainval_25-May-2011.tar --out-dir data/VOCdevkit')
data_root = 'data/VOCdevkit'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        prepare_hint=prepare_hint,
        data_root=data_root,
        data_prefix=dict(
            img_path='VOC2012/JPEGImages', seg_map_path='VOC2012/SegmentationClassSBD'),
        ann_file='VOC2012/ImageSets/Segmentation/sbd_train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        prepare_hint=prepare_hint,
        data_root=data_root,
        data_prefix=dict(img_path='VOC2012/JPEGImages', seg_map_path='VOC2012/SegmentationClass'),
        ann_file='VOC2012/ImageSets/Segmentation/seg11valid.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# the paper's four metrics: pixel acc., mean acc., mean IU, fw IU (+ per-class IoU/Acc)
val_evaluator = dict(type='FCNIoUMetric', ignore_index=255)
test_evaluator = val_evaluator

# VOC 2012 test for the evaluation server (it has no labels): extract VOC2012test.tar into
# data_root, then in your config
#   test_dataloader = dict(dataset=dict(
#       ann_file='VOC2012/ImageSets/Segmentation/test.txt',
#       pipeline=[dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]))
#   test_evaluator = dict(type='FCNIoUMetric', format_only=True,
#                         output_dir='work_dirs/results/VOC2012/Segmentation/comp6_test_cls')
# and `mim test`: one palette PNG per image, no metrics (tar the results/ folder for the server).
