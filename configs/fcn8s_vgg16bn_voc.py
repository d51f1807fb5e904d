# The MindSpore tutorial / model-zoo FCN8s (BN after every conv, 'same' padding, floor pooling,
# learned transposed convs), trained as that tutorial does on VOC 2012 aug with 512x512 crops.
# Its checkpoints convert both ways with converters/to_mindspore.py and from_mindspore.py.
# Reported (MindSpore, VOC 2012 val): mean IU 62.7-64.7.
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/models/fcn8s_vgg16bn.py', './_base_/datasets/voc12aug.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size, size_divisor=None)
model = dict(data_preprocessor=data_preprocessor)
train_dataloader = dict(batch_size=8)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
val_evaluator = dict(type='FCNIoUMetric', ignore_index=255)
test_evaluator = val_evaluator
