# VOC aug without converting SBD: the same train_aug set as voc12aug.py, read as mmseg's own
# pascal_voc12_aug.py does (VOC train with VOC labels + aug.txt), but the aug part's labels come
# straight from SBD's cls/*.mat files through LoadSBDAnnotations (which reads PNGs as
# LoadAnnotations does, so one pipeline serves both parts).
#
# Needs VOC2012/ and SBD/ (the SBD dataset folder, cls/*.mat) under data_root, as
# tools/dataset_converters/prepare_voc.py leaves them.
_base_ = ['./voc12aug.py']

_sbd_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSBDAnnotations', num_classes=21),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(
                type='PascalVOCDataset',
                data_root={{_base_.data_root}},
                data_prefix=dict(
                    img_path='VOC2012/JPEGImages', seg_map_path='VOC2012/SegmentationClass'),
                ann_file='VOC2012/ImageSets/Segmentation/train.txt',
                pipeline=_sbd_train_pipeline),
            dict(
                type='PascalVOCDataset',
                data_root={{_base_.data_root}},
                data_prefix=dict(img_path='VOC2012/JPEGImages', seg_map_path='SBD/cls'),
                seg_map_suffix='.mat',
                ann_file='VOC2012/ImageSets/Segmentation/aug.txt',
                pipeline=_sbd_train_pipeline),
        ]))
