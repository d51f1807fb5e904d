# The FCN paper's protocol (voc_fcn_paper.py) reading SBD labels straight from cls/*.mat through
# LoadSBDAnnotations, with no PNG conversion. Needs VOC2012/ and SBD/ under data_root, as
# tools/dataset_converters/prepare_voc.py leaves them (SBD/ is the SBD dataset folder or a link to it).
_base_ = ['./voc_fcn_paper.py']

train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(img_path='VOC2012/JPEGImages', seg_map_path='SBD/cls'),
        seg_map_suffix='.mat',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadSBDAnnotations', num_classes=21),
            dict(type='PackSegInputs'),
        ]))
