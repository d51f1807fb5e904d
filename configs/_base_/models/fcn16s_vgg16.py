# FCN-16s on VGG-16, Caffe geometry (crops at 5 and 27).
_base_ = ['./fcn8s_vgg16.py']
model = dict(
    backbone=dict(out_indices=(3, 5)),  # pool4 (stride 16), fc7 (32)
    decode_head=dict(type='FCN16sHead', in_channels=[512, 4096], in_index=[0, 1]))
