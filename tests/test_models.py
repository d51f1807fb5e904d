"""FCN components built from the configs, checked against the reference facts and baselines."""
import pytest
import torch
from mmengine.config import ConfigDict

from mmseg_fcn_voc.models.utils import bilinear_kernel
from mmseg_fcn_voc.testing import PlainFCN8s

CAFFE = {
    # config, state_dict elements (published), fixed deconvolution elements
    'fcn8s': ('configs/_base_/models/fcn8s_vgg16.py', 134_489_759, 127_008),
    'fcn16s': ('configs/_base_/models/fcn16s_vgg16.py', 134_815_994, 21 * 21 * (16 + 32 * 32)),
    'fcn32s': ('configs/_base_/models/fcn32s_vgg16.py', 136_152_917, 21 * 21 * 64 * 64),
}


def numel(tensors):
    return sum(t.numel() for t in tensors)


@pytest.mark.parametrize('name', list(CAFFE))
def test_caffe_parameter_counts_exact(name, build_model):
    path, total, fixed = CAFFE[name]
    model = build_model(path, device='meta')
    assert numel(model.state_dict().values()) == total
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert numel(frozen) == fixed


def test_bn_variant_parameter_count(build_model):
    model = build_model('configs/_base_/models/fcn8s_vgg16bn.py', device='meta')
    assert numel(p for p in model.parameters() if p.requires_grad) == 134_502_112
    stats = [b for n, b in model.named_buffers() if 'running_' in n]
    assert numel(stats) == 24_832  # BN moving mean/variance (published)
    assert not any('conv.bias' in n for n, _ in model.named_parameters())


def _dense_irregular_sizes():
    """Every size 1..1200 in each dimension, paired irregularly (W a permutation of H)."""
    return [(h, (h * 7919) % 1200 + 1) for h in range(1, 1201)]


@pytest.mark.parametrize('name', list(CAFFE))
def test_caffe_logits_have_exact_input_size(name, build_model):
    """Shape propagation on the meta device: no compute, every size, and crop_to refuses (instead
    of interpolating) if any map is too small, so an off-by-one cannot hide."""
    model = build_model(CAFFE[name][0], device='meta').eval()
    sizes = _dense_irregular_sizes()
    if name != 'fcn8s':
        sizes = sizes[::7] + [(1, 1), (2, 1199), (1200, 1200), (499, 997)]
    for h, w in sizes:
        feats = model.extract_feat(torch.empty(1, 3, h, w, device='meta'))
        out = model.decode_head.forward(feats, (h, w))
        assert tuple(out.shape) == (1, 21, h, w), (h, w)


@torch.no_grad()
def test_fcn8s_matches_plain_caffe_network(build_model):
    """The segmentor equals an independent flat implementation (literal offsets 5/9/31), which also
    pins where the crops are taken, not only their sizes."""
    torch.manual_seed(0)
    model = build_model(CAFFE['fcn8s'][0]).eval()
    for name in ('conv_seg', 'score_pool4', 'score_pool3'):
        torch.nn.init.normal_(getattr(model.decode_head, name).weight, std=0.01)
        torch.nn.init.normal_(getattr(model.decode_head, name).bias, std=0.01)
    plain = PlainFCN8s().load_from_segmentor(model).eval()
    for h, w in [(1, 1), (13, 17), (40, 33)]:
        x = torch.randn(1, 3, h, w) * 50
        ours = model.predict(x)[0].seg_logits.data
        ref = plain(x)[0]
        assert ours.shape == ref.shape == (21, h, w)
        assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-5 * ref.abs().max())
        # the identity resize in predict_by_feat changes nothing
        feats = model.extract_feat(x)
        assert torch.equal(model.decode_head.forward(feats, (h, w))[0], ours)
        # tensor mode (what torch.onnx.export(model, x) calls): the same logits, input-sized
        assert torch.equal(model(x, mode='tensor')[0], ours)


@pytest.mark.parametrize('name', list(CAFFE))
def test_tensor_mode_logits_have_the_input_size(name, build_model):
    """``model(x, mode='tensor')`` has no image metas: the head still crops to exactly (H, W).

    Before, a 1x1 input gave a 57x57 map; resizing such a map to the input size shifts it.
    """
    model = build_model(CAFFE[name][0], device='meta').eval()
    for h, w in [(1, 1), (2, 3), (31, 64), (500, 375), (257, 1)]:
        out = model(torch.empty(1, 3, h, w, device='meta'), mode='tensor')
        assert tuple(out.shape) == (1, 21, h, w), (h, w)


def test_init_weights_keeps_bilinear_and_zero_scores(build_model):
    model = build_model(CAFFE['fcn8s'][0])
    head = model.decode_head
    for name in ('upscore2', 'upscore_pool4', 'upscore8'):
        with torch.no_grad():
            getattr(head, name).weight.normal_()
    model.init_weights()
    for name, k in (('upscore2', 4), ('upscore_pool4', 4), ('upscore8', 16)):
        w = getattr(head, name).weight
        assert torch.equal(w[5, 5], bilinear_kernel(k))
        assert w.abs().sum() == pytest.approx(21 * bilinear_kernel(k).sum().item(), rel=1e-6)
    for name in ('conv_seg', 'score_pool4', 'score_pool3'):
        layer = getattr(head, name)
        assert layer.weight.abs().sum() == 0 and layer.bias.abs().sum() == 0


def test_atonce_scales_skip_features(build_model):
    torch.manual_seed(0)
    plain = build_model(CAFFE['fcn8s'][0]).eval()
    atonce = build_model(CAFFE['fcn8s'][0]).eval()
    atonce.decode_head.skip_scales = (0.01, 0.0001)
    atonce.load_state_dict(plain.state_dict())
    with torch.no_grad():
        for m in (plain, atonce):
            torch.nn.init.constant_(m.decode_head.score_pool4.weight, 0.02)
            torch.nn.init.constant_(m.decode_head.score_pool3.weight, 0.03)
        x = torch.randn(1, 3, 20, 20) * 50
        f = plain.extract_feat(x)
        ref = plain.decode_head.forward([f[0] * 0.0001, f[1] * 0.01, f[2]], (20, 20))
        assert torch.allclose(atonce.decode_head.forward(f, (20, 20)), ref, atol=1e-6)
        assert not torch.allclose(plain.decode_head.forward(f, (20, 20)), ref, atol=1e-6)


def test_bn_variant_same_geometry_batched(build_model):
    """Pad-free geometry: padded batch of two images of different sizes, logits at the pad size."""
    model = build_model('configs/_base_/models/fcn8s_vgg16bn.py').eval()
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    imgs = [torch.randint(0, 255, (3, 40, 50), dtype=torch.uint8),
            torch.randint(0, 255, (3, 64, 30), dtype=torch.uint8)]
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.zeros(1, *im.shape[1:]).long()))
               for im in imgs]
    data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples), training=True)
    assert data['inputs'].shape == (2, 3, 64, 64)  # size_divisor=32
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    with torch.no_grad():
        logits = model.decode_head.forward(model.extract_feat(data['inputs']), (64, 64))
    assert logits.shape == (2, 21, 64, 64)
    with pytest.raises(ValueError, match='multiples of the output stride'):
        with torch.no_grad():
            model.decode_head.forward(model.extract_feat(torch.zeros(1, 3, 40, 40)), (40, 40))


@pytest.mark.parametrize('head', ['FCN8sHead', 'FCN16sHead', 'FCN32sHead'])
def test_heads_on_resnet_v1c(head):
    """The heads mix into mmseg's own backbone: ResNetV1c features at strides 8/16/32."""
    from mmseg.registry import MODELS
    n = {'FCN8sHead': 3, 'FCN16sHead': 2, 'FCN32sHead': 1}[head]
    channels = [128, 256, 512][-n:]
    head_cfg = dict(type=head, num_classes=5, geometry='same', in_channels=channels,
                    in_index=list(range(4 - n, 4)))
    if n == 1:
        head_cfg.update(in_channels=512, in_index=3)
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size_divisor=32),
        backbone=dict(type='ResNetV1c', depth=18, out_indices=(0, 1, 2, 3), strides=(1, 2, 2, 2),
                      dilations=(1, 1, 1, 1)),
        decode_head=head_cfg,
        test_cfg=ConfigDict(mode='whole')))
    model.eval()
    with torch.no_grad():
        out = model.predict(torch.randn(2, 3, 64, 96))
    assert out[0].seg_logits.data.shape == (5, 64, 96)
    # ResNet's stride-2 convs round up, so odd sizes work too (the head crops at 0)
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 70, 45))
        assert model.decode_head.forward(feats, (70, 45)).shape == (1, 5, 70, 45)


def test_neck_feeds_mmseg_head():
    from mmseg.registry import MODELS
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='ResNetV1c', depth=18),
        neck=dict(type='BilinearDeconvNeck', in_channels=[64, 128, 256, 512],
                  scale_factors=[1, 2, 4, 8]),
        decode_head=dict(type='FCNHead', in_channels=[64, 128, 256, 512], channels=32,
                         num_convs=1, in_index=[0, 1, 2, 3], input_transform='resize_concat',
                         num_classes=4),
        test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    x = torch.randn(1, 3, 64, 64)
    feats = model.backbone(x)
    outs = model.neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, c, 16, 16) for c in (64, 128, 256, 512)]
    assert torch.equal(outs[0], feats[0])
    up = model.neck.upsamplers[1]
    assert torch.equal(up.weight[7, 0], bilinear_kernel(4)) and not up.weight.requires_grad
    model.eval()
    with torch.no_grad():
        assert model.predict(x)[0].seg_logits.data.shape == (4, 64, 64)


@pytest.mark.parametrize('cfg,match', [
    (dict(type='FCN8sHead', in_channels=[512, 4096], in_index=[0, 1]), 'in_channels'),
    (dict(type='FCN8sHead', in_channels=[256, 512, 4096], in_index=[0, 1]), 'in_index'),
    (dict(type='FCN16sHead', in_channels=[512, 4096], in_index=[0, 1], input_transform=None),
     'input_transform'),
    (dict(type='FCN32sHead', in_channels=[512, 4096]), 'in_channels'),
    (dict(type='FCN8sHead', geometry='valid'), 'geometry'),
    (dict(type='FCN8sHead', channels=512), 'channels'),
    (dict(type='FCN8sHead', skip_scales=[0.01]), 'skip_scales'),
    (dict(type='FCNVGG', geometry='vgg'), 'geometry'),
    (dict(type='FCNVGG', out_indices=(2, 7)), 'out_indices'),
    (dict(type='FCNVGG', frozen_stages=9), 'frozen_stages'),
    (dict(type='BilinearDeconvNeck', in_channels=[1, 2], scale_factors=[2]), 'scale_factors'),
])
def test_bad_configs_fail_at_build_naming_the_argument(cfg, match):
    from mmseg.registry import MODELS
    if 'Head' in cfg['type']:
        cfg.setdefault('num_classes', 21)
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg)


def test_channel_mismatch_with_backbone_names_in_channels(build_model):
    model = build_model(CAFFE['fcn16s'][0], device='meta',
                        decode_head=dict(in_channels=[256, 4096]))
    feats = model.extract_feat(torch.empty(1, 3, 32, 32, device='meta'))
    with pytest.raises(ValueError, match=r'in_channels=\[256, 4096\].*\[512, 4096\]'):
        model.decode_head.forward(feats, (32, 32))


def test_backbone_out_indices_and_frozen_stages():
    from mmseg.registry import MODELS
    bb = MODELS.build(dict(type='FCNVGG', geometry='same', out_indices=(0, 1, 2, 3, 4),
                           frozen_stages=2))
    assert not hasattr(bb, 'fc6')  # fc layers are built only when fc7 is requested
    outs = bb(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 32, 32), (128, 16, 16), (256, 8, 8),
                                                  (512, 4, 4), (512, 2, 2)]
    assert bb.out_channels == [64, 128, 256, 512, 512]
    frozen = {n.split('.')[0] for n, p in bb.named_parameters() if not p.requires_grad}
    assert frozen == {'conv1_1', 'conv1_2', 'conv2_1', 'conv2_2'}
    bb.train()
    assert not bb.conv2_2.training and bb.conv3_1.training
