"""tools/model_converters/vgg2mmseg.py: torchvision / Caffe-derived VGG-16 -> FCNVGG backbone."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mmseg_fcn_voc.conversion import CheckpointError
from mmseg_fcn_voc.conversion.importers import convert_vgg16
from mmseg_fcn_voc.conversion.network.layouts import vgg16_torchvision_names

# Written out here, not imported from the converter: the Caffe VGG-16 input is BGR 0-255 minus this
# per-channel mean (blue first); torchvision's is RGB in [0, 1] normalised by ImageNet mean/std.
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)


@pytest.fixture(scope='module')
def vgg16_state_dict():
    """A state dict with torchvision's vgg16 keys and shapes (written out by hand here)."""
    gen = torch.Generator().manual_seed(0)
    sd, c_in = {}, 3
    convs = [i for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    for idx, c_out in zip(convs, widths):
        sd[f'features.{idx}.weight'] = torch.randn(c_out, c_in, 3, 3, generator=gen) * 0.05
        sd[f'features.{idx}.bias'] = torch.randn(c_out, generator=gen) * 0.05
        c_in = c_out
    for idx, (o, i) in {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}.items():
        sd[f'classifier.{idx}.weight'] = torch.randn(o, i, generator=gen) * 0.01
        sd[f'classifier.{idx}.bias'] = torch.randn(o, generator=gen) * 0.01
    return sd


def test_name_map_matches_torchvision_layout():
    names = vgg16_torchvision_names()
    assert names['features.0'] == 'conv1_1' and names['features.28'] == 'conv5_3'
    assert names['features.10'] == 'conv3_1' and names['classifier.3'] == 'fc7'
    assert len(names) == 15


def test_torchvision_normalisation_is_folded_into_conv1_1(vgg16_state_dict):
    out = convert_vgg16(vgg16_state_dict, 'torchvision')
    gen = torch.Generator().manual_seed(1)
    rgb = torch.rand(1, 3, 9, 11, generator=gen, dtype=torch.float64) * 255
    mean = torch.tensor(TORCHVISION_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(TORCHVISION_STD, dtype=torch.float64).view(1, 3, 1, 1)
    tv_input = (rgb / 255 - mean) / std
    caffe_input = rgb.flip(1) - torch.tensor(CAFFE_BGR_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    w, b = vgg16_state_dict['features.0.weight'], vgg16_state_dict['features.0.bias']
    ref = F.conv2d(tv_input, w.double(), b.double())  # padding 0: no border effects
    ours = F.conv2d(caffe_input, out['conv1_1.conv.weight'].double(),
                    out['conv1_1.conv.bias'].double())
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_fc_layers_become_equivalent_convolutions(vgg16_state_dict):
    out = convert_vgg16(vgg16_state_dict, 'caffe')
    x = torch.randn(1, 512, 7, 7, dtype=torch.float64)
    w6, b6 = vgg16_state_dict['classifier.0.weight'], vgg16_state_dict['classifier.0.bias']
    ref = F.linear(x.flatten(1), w6.double(), b6.double())
    conv = F.conv2d(x, out['fc6.conv.weight'].double(), out['fc6.conv.bias'].double())
    assert conv.shape == (1, 4096, 1, 1)
    assert torch.allclose(conv.flatten(1), ref, atol=1e-10)
    assert out['fc7.conv.weight'].shape == (4096, 4096, 1, 1)
    # the Caffe-derived source is already in the input format: copied as is
    assert torch.equal(out['conv1_1.conv.weight'], vgg16_state_dict['features.0.weight'])
    assert not any(k.startswith('classifier') or 'fc8' in k for k in out)


@pytest.mark.slow  # a command line end to end, 0.5 GB checkpoints
def test_cli_output_loads_through_pretrained_init_cfg(vgg16_state_dict, tmp_path, repo_root):
    from mmseg.registry import MODELS
    src, dst = str(tmp_path / 'vgg16.pth'), str(tmp_path / 'vgg16_fcn.pth')
    torch.save(vgg16_state_dict, src)
    for script in ('tools/model_converters/vgg2mmseg.py', ):
        proc = subprocess.run([sys.executable, osp.join(repo_root, script), src, dst, '--source',
                               'caffe'], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert f'wrote {dst}: 30 tensors, 134,260,544 parameters' in proc.stdout
    assert osp.isfile(dst + '.sha256')  # the written checkpoint declares its hash
    backbone = MODELS.build(dict(type='FCNVGG', init_cfg=dict(type='Pretrained', checkpoint=dst)))
    backbone.init_weights()
    assert torch.equal(backbone.fc6.conv.weight,
                       vgg16_state_dict['classifier.0.weight'].view(4096, 512, 7, 7))
    assert torch.equal(backbone.conv5_3.conv.bias, vgg16_state_dict['features.28.bias'])


def test_bad_sources_are_refused(vgg16_state_dict, tmp_path):
    missing = dict(vgg16_state_dict)
    del missing['features.7.weight']
    with pytest.raises(CheckpointError, match=r"vgg.pth.*missing keys \['features.7.weight'\]"):
        convert_vgg16(missing, 'torchvision', name='vgg.pth')
    wrong = dict(vgg16_state_dict, **{'features.2.weight': torch.zeros(64, 64, 5, 5)})
    with pytest.raises(CheckpointError, match=r'features.2.weight \(64, 64, 5, 5\)'):
        convert_vgg16(wrong, 'caffe')
    nan = dict(vgg16_state_dict, **{'features.0.bias': torch.full((64, ), float('nan'))})
    with pytest.raises(CheckpointError, match='NaN'):
        convert_vgg16(nan, 'caffe')
    resnet_like = {'conv1.weight': torch.zeros(64, 3, 7, 7)}
    with pytest.raises(CheckpointError, match='not a VGG-16'):
        convert_vgg16(resnet_like, 'caffe')
