# FCN-8s (Caffe geometry, fixed bilinear deconvolutions) trained the modern mmseg way: VOC 2012
# train_aug (10,582), 512x512 random crops, batch 16 (4 GPUs x 4), SGD + poly, 40k iterations,
# evaluated on VOC 2012 val (1,449) with the four FCN metrics. One stage from VGG-16.
#
#   mim train mmseg configs/fcn8s_vgg16_4xb4-40k_voc12aug-512x512.py --launcher pytorch --gpus 4
custom_imports = dict(imports=['mmseg_fcn_voc'], allow_failed_imports=False)
_base_ = [
    './_base_/models/fcn8s_vgg16.py', './_base_/datasets/voc12aug.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/fcn_voc12aug_40k.py'
]
crop_size = (512, 512)
# batches of 512x512 crops (images smaller than the crop are padded with the ignore label)
data_preprocessor = dict(size=crop_size, size_divisor=None)
model = dict(data_preprocessor=data_preprocessor)
train_dataloader = dict(batch_size=4)
