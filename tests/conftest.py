# Shared fixtures. pytest runs with --import-mode=importlib: mmsegmentation's wheel installs a
# top-level package named `tests`, so this directory is deliberately not a package.
import os.path as osp
import shutil

import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session', autouse=True)
def mmseg_scope():
    """Register mmseg's modules (default scope 'mmseg') and the plugin's, as a config would."""
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    import mmseg_fcn_voc  # noqa: F401


@pytest.fixture(scope='session', autouse=True)
def mindspore_cpu_setup():
    """Tests run MindSpore cells in-process: the converters' CPU set-up, before any kernel runs
    (on AVX-512 machines MindSpore 2.10's own oneDNN is otherwise far slower, see
    :func:`fcn_voc_core.mindspore_cpu.configure_cpu`)."""
    from fcn_voc_core.mindspore_cpu import configure_cpu
    return configure_cpu()


@pytest.fixture(autouse=True)
def fresh_message_hub(request):
    """Each test gets its own current MessageHub: runtime info (the last training iteration, the
    loop stage) that an earlier test's Runner recorded must not leak into the next test."""
    from mmengine.logging import MessageHub
    return MessageHub.get_instance(f'test:{request.node.nodeid}')


@pytest.fixture(autouse=True)
def mmseg_default_scope():
    """Each test starts in mmseg's scope (a Runner built with another scope must not leak)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item._fcn_failed = True


@pytest.fixture(autouse=True)
def free_tmp_path(request):
    """Delete a passing test's ``tmp_path`` at once: FCN checkpoints are 0.5-1.6 GB each, and the
    suite would otherwise hold ~20 GB until it ends. Failing tests keep theirs for inspection."""
    path = request.getfixturevalue('tmp_path') if 'tmp_path' in request.fixturenames else None
    yield
    if path is not None and not getattr(request.node, '_fcn_failed', False):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture
def load_config():
    """``load_config('configs/x.py')`` -> mmengine Config, with pretrained backbones switched off."""
    from mmengine.config import Config

    def _load(rel_path, pretrained=False):
        cfg = Config.fromfile(osp.join(REPO_ROOT, rel_path))
        if not pretrained and cfg.model.get('backbone', {}).get('init_cfg'):
            cfg.model.backbone.init_cfg = None
        return cfg

    return _load


@pytest.fixture
def build_model(load_config):
    """``build_model('configs/x.py', device=None, **model_overrides)`` -> an mmseg segmentor."""
    import torch
    from mmseg.registry import MODELS

    def _build(rel_path, device=None, **overrides):
        cfg = load_config(rel_path)
        cfg.model.update(overrides)
        if device is None:
            return MODELS.build(cfg.model)
        with torch.device(device):
            return MODELS.build(cfg.model)

    return _build


# --------------------------------------------------------------------------------------------------
# Converters: configs with model overrides and checkpoints with random weights
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope='session')
def fcn_config_file(tmp_path_factory):
    """``fcn_config_file('configs/_base_/models/fcn8s_vgg16.py', backbone=dict(...))`` -> the path
    of a config that inherits that file and overrides ``model`` (e.g. the 'same' geometry)."""
    folder = tmp_path_factory.mktemp('configs')
    made = {}

    def _make(base, **model_overrides):
        key = (base, repr(sorted(model_overrides.items())))
        if key not in made:
            path = folder / f'cfg{len(made)}_{osp.basename(base)}'
            path.write_text(f'_base_ = [{osp.join(REPO_ROOT, base)!r}]\n'
                            f'model = {model_overrides!r}\n')
            made[key] = str(path)
        return made[key]

    return _make


#: fc6/fc7 width of the narrow FCNs of :func:`narrow_fcn_config`.
NARROW_FC = 64


def narrow_fc_overrides(model) -> dict:
    """The ``model`` overrides that make an FCNVGG model config's fc6/fc7 :data:`NARROW_FC` wide
    (the head's ``in_channels`` follow); ``{}`` for other backbones."""
    if model.get('backbone', {}).get('type') != 'FCNVGG':
        return {}
    in_channels = model.decode_head.in_channels
    wide = model.backbone.get('fc_channels', 4096)
    if isinstance(in_channels, int):
        in_channels = NARROW_FC if in_channels == wide else in_channels
    else:
        in_channels = [NARROW_FC if c == wide else c for c in in_channels]
    return dict(backbone=dict(fc_channels=NARROW_FC), decode_head=dict(in_channels=in_channels))


@pytest.fixture(scope='session')
def narrow_fc():
    """``narrow_fc(cfg.model)`` narrows a loaded config's fc6/fc7 in place (see
    :func:`narrow_fc_overrides`)."""
    def _narrow(model):
        for part, overrides in narrow_fc_overrides(model).items():
            model[part].update(overrides)
    return _narrow


@pytest.fixture(scope='session')
def narrow_fcn_config(fcn_config_file):
    """``narrow_fcn_config('configs/x.py')`` -> a config that inherits that one with fc6 and fc7
    :data:`NARROW_FC` channels wide instead of 4096 (the head's ``in_channels`` follow).

    Every component, geometry, crop and skip stays; what goes is fc6's 103M parameters: the
    checkpoints, converted models and training states of end-to-end tests shrink from 0.5-1.6 GB
    to tens of MB. The full-width networks are built by the model summary (in the demo test)
    and converted by the converters' own tests; the README's demo and benchmarks run them."""
    from mmengine.config import Config

    def _make(config):
        model = Config.fromfile(osp.join(REPO_ROOT, config)).model
        return fcn_config_file(config, **narrow_fc_overrides(model))

    return _make


@pytest.fixture(scope='session')
def randomize_fcn():
    """``randomize_fcn(model, seed=0)``: give every tensor of an FCN model random, non-trivial
    values, in place, and return the model in eval mode.

    A tensor loaded into the wrong layer, transposed or left at its initial value then changes the
    outputs: convs Kaiming-normal (activations keep their scale through VGG), score layers and all
    transposed convs (even the fixed bilinear ones, whose symmetric kernels would hide a transposed
    weight) normal, BN affine parameters and running statistics random.
    """
    import torch
    from torch import nn

    @torch.no_grad()
    def _randomize(model, seed=0):
        torch.manual_seed(seed)
        for name, m in model.named_modules():
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.normal_(0, 0.1)
            elif isinstance(m, nn.Conv2d):
                if name.startswith('backbone'):
                    nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                else:
                    m.weight.normal_(0, 0.01)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        return model.eval()

    return _randomize


@pytest.fixture(scope='session')
def random_fcn_checkpoint(tmp_path_factory, randomize_fcn):
    """``random_fcn_checkpoint(config, seed=0)`` -> the path of an mmseg checkpoint of the config's
    model with :func:`randomize_fcn` weights. Written once per (config, seed); only the path is
    kept (an FCN state dict is 0.5 GB)."""
    from mmseg_fcn_voc.conversion.checkpoint import build_model, save_checkpoint

    folder = tmp_path_factory.mktemp('random_checkpoints')
    made = {}

    def _make(config, seed=0):
        key = (config, seed)
        if key not in made:
            model = randomize_fcn(build_model(osp.join(REPO_ROOT, config)), seed)
            path = folder / f'{len(made)}_{osp.splitext(osp.basename(config))[0]}_{seed}.pth'
            save_checkpoint(model.state_dict(), str(path))
            made[key] = str(path)
        return made[key]

    return _make


class PublishedLayouts:
    """Tensor names and shapes of the published FCN checkpoints, written out from their
    descriptions (the FCN paper and the MindSpore tutorial), independently of the converters' name maps."""

    #: (stage, convs, channels) of VGG-16.
    STAGES = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))

    @classmethod
    def mindspore_tutorial(cls, k=21):
        """The MindSpore tutorial FCN8s's 81 tensors: ``conv1.0.weight``, ``conv1.1.gamma``, ..."""
        shapes, c_in = {}, 3
        bn = ('gamma', 'beta', 'moving_mean', 'moving_variance')
        for s, n, c in cls.STAGES:
            for j in range(n):
                shapes[f'conv{s}.{3 * j}.weight'] = (c, c_in, 3, 3)
                for p in bn:
                    shapes[f'conv{s}.{3 * j + 1}.{p}'] = (c, )
                c_in = c
        shapes['conv6.0.weight'] = (4096, 512, 7, 7)
        shapes['conv7.0.weight'] = (4096, 4096, 1, 1)
        for stage in ('conv6', 'conv7'):
            for p in bn:
                shapes[f'{stage}.1.{p}'] = (4096, )
        shapes.update({
            'score_fr.weight': (k, 4096, 1, 1),
            'upscore2.weight': (k, k, 4, 4),
            'score_pool4.weight': (k, 512, 1, 1),
            'upscore_pool4.weight': (k, k, 4, 4),
            'score_pool3.weight': (k, 256, 1, 1),
            'upscore8.weight': (k, k, 16, 16),
        })
        return shapes

    @classmethod
    def torchfcn(cls, variant, k=21):
        """torchfcn's tensors for ``'fcn32s'`` / ``'fcn16s'`` / ``'fcn8s'`` (= at-once)."""
        shapes, c_in = {}, 3
        for s, n, c in cls.STAGES:
            for j in range(1, n + 1):
                shapes[f'conv{s}_{j}.weight'] = (c, c_in, 3, 3)
                shapes[f'conv{s}_{j}.bias'] = (c, )
                c_in = c
        shapes.update({'fc6.weight': (4096, 512, 7, 7), 'fc6.bias': (4096, ),
                       'fc7.weight': (4096, 4096, 1, 1), 'fc7.bias': (4096, ),
                       'score_fr.weight': (k, 4096, 1, 1), 'score_fr.bias': (k, )})
        if variant == 'fcn32s':
            shapes['upscore.weight'] = (k, k, 64, 64)
        else:
            shapes.update({'score_pool4.weight': (k, 512, 1, 1), 'score_pool4.bias': (k, ),
                           'upscore2.weight': (k, k, 4, 4)})
        if variant == 'fcn16s':
            shapes['upscore16.weight'] = (k, k, 32, 32)
        if variant == 'fcn8s':
            shapes.update({'score_pool3.weight': (k, 256, 1, 1), 'score_pool3.bias': (k, ),
                           'upscore_pool4.weight': (k, k, 4, 4),
                           'upscore8.weight': (k, k, 16, 16)})
        return shapes


@pytest.fixture(scope='session')
def published_layouts():
    """:class:`PublishedLayouts`: names and shapes of the tutorial and torchfcn checkpoints."""
    return PublishedLayouts


@pytest.fixture(scope='session')
def mmseg_input():
    """``mmseg_input(model, image_path)`` -> ``(x, (h, w))``: the (1, 3, H', W') network input that
    mmseg's own components make of an image (``LoadImageFromFile``, ``PackSegInputs``, the model's
    ``SegDataPreProcessor``), and the image's size; independent of the converters' preprocessing."""
    import torch
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate

    pipeline = Compose([dict(type='LoadImageFromFile'), dict(type='PackSegInputs')])

    def _input(model, path):
        data = pipeline(dict(img_path=str(path)))
        with torch.no_grad():
            batch = model.data_preprocessor(pseudo_collate([data]), False)
        return batch['inputs'], tuple(data['data_samples'].ori_shape)

    return _input


@pytest.fixture(scope='session')
def demo_voc(tmp_path_factory):
    """A small generated VOC + SBD dataset, prepared by prepare_voc: returns its data_root."""
    from mmseg_fcn_voc.data_prep.pipeline import PrepareOptions, prepare_voc
    from mmseg_fcn_voc.testing.demo_voc import make_demo_voc
    root = tmp_path_factory.mktemp('demo_voc')
    raw = root / 'raw'
    make_demo_voc(str(raw), num_images=24, seed=0)
    out = root / 'VOCdevkit'
    prepare_voc(PrepareOptions(out_dir=str(out), voc=str(raw / 'VOCdevkit'),
                               sbd=str(raw / 'benchmark_RELEASE'),
                               voc2011=str(raw / 'TrainVal'), nproc=1))
    return str(out)


@pytest.fixture(scope='session')
def demo_split(demo_voc):
    """A split of the demo data for scoring: 7 VOC-labelled images of 7 different sizes (an odd
    number: a 2-process evaluation pads it). Returns ``(ann_file relative to data_root, ids)``."""
    import os
    rel = 'VOC2012/ImageSets/Segmentation/scoring7.txt'
    with open(osp.join(demo_voc, 'VOC2012/ImageSets/Segmentation/trainval.txt')) as f:
        ids = f.read().split()[:7]
    path = osp.join(demo_voc, rel)
    if not os.path.isfile(path):
        with open(path, 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return rel, ids


def free_port() -> int:
    """A TCP port nobody listens on now (for torchrun's rendezvous)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def port():
    return free_port()


@pytest.fixture(scope='session')
def port_factory():
    """``port_factory()`` -> a free local port (for module- and session-scoped fixtures)."""
    return free_port


def demo_cfg_options(data_root, work_dir, max_iters=2, extra=()):
    """--cfg-options for the demo config pointed at ``data_root``, with a short schedule."""
    opts = [f'{k}.dataset.data_root={data_root}'
            for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
             f'default_hooks.checkpoint.interval={max_iters}',
             'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
             'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
             'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
             'train_dataloader.batch_size=2']
    return opts + list(extra)


@pytest.fixture(scope='session')
def demo_cfg():
    return demo_cfg_options


@pytest.fixture(scope='session')
def converter_cli():
    """``converter_cli('to_mindspore')`` -> the command module behind ``converters/to_mindspore.py``
    (:mod:`mmseg_fcn_voc.commands.to_mindspore`); its ``main(argv)`` returns the exit status."""
    import importlib

    def _load(name):
        return importlib.import_module(f'mmseg_fcn_voc.commands.{name}')

    return _load


# --------------------------------------------------------------------------------------------------
# The deployment host: numpy, Pillow and a backend, but no torch or mmseg
# --------------------------------------------------------------------------------------------------
#: A ``sitecustomize`` that makes torch, mmcv, mmengine and mmseg (and the plugin) unimportable.
HOST_BLOCKER = '''
import sys
BLOCKED = {'torch', 'torchvision', 'mmcv', 'mmengine', 'mmseg', 'mmseg_fcn_voc'}
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'No module named {name!r} (blocked: deployment host)')
        return None
sys.meta_path.insert(0, _Blocker())
'''


@pytest.fixture(scope='session')
def host_python():
    """The interpreter of the torch-free host environment ``tools/setup_env.sh`` makes (numpy,
    Pillow, MindSpore 2.7.2, onnxruntime), or the one named by FCN_HOST_PYTHON."""
    import os
    return os.environ.get('FCN_HOST_PYTHON') or osp.join(REPO_ROOT, '.venv-host', 'bin', 'python')


@pytest.fixture
def host_env(tmp_path):
    """``host_env(**extra)``: the environment of a subprocess that runs like a deployment host:
    ``import torch`` (mmcv, mmengine, mmseg, mmseg_fcn_voc) fails there; the repository's
    torch-free ``fcn_voc_runtime`` is importable."""
    import os
    site = tmp_path / 'host_site'
    site.mkdir(exist_ok=True)
    (site / 'sitecustomize.py').write_text(HOST_BLOCKER)

    def _env(**extra):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), REPO_ROOT]), **extra)
        env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
        return env

    return _env


# --------------------------------------------------------------------------------------------------
# A tiny deploy folder around a real ONNX model, for the runtime's folder logic (seconds)
# --------------------------------------------------------------------------------------------------
def _tiny_onnx(path, weights, bias, size=None):
    """The 1x1 convolution ``weights`` (K, 3) + ``bias`` as ONNX (opset 11, IR 7: what opset-11
    exports carry, readable by older onnxruntime builds); ``size`` None: any height and width."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    k = len(weights)
    hw = list(size) if size else ['h', 'w']
    graph = helper.make_graph(
        [helper.make_node('Conv', ['input', 'w', 'b'], ['output'])], 'tiny',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, *hw])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, [1, k, *hw])],
        [numpy_helper.from_array(np.asarray(weights, np.float32).reshape(k, 3, 1, 1), 'w'),
         numpy_helper.from_array(np.asarray(bias, np.float32), 'b')])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)], ir_version=7),
              path)


def _write_tiny_deploy(folder, weights=None, bias=None, mean=(0.0, 0.0, 0.0),
                       std=(1.0, 1.0, 1.0), channel_order='RGB', size_divisor=1, gears=None):
    """A deploy folder in the converters' format around a real ONNX: a 1x1 convolution, so each
    pixel's class scores are ``weights @ ((pixel - mean) / std) + bias`` (channels in
    ``channel_order``). By default the scores are the three colour channels (the prediction is
    the brightest channel). ``gears``: one static ONNX per (H, W) as ``to_onnx --gears`` lists
    them."""
    import json
    import os

    from fcn_voc_runtime.deploy import DEPLOY_FILE, DEPLOY_FORMAT, DEPLOY_VERSION, file_entry
    os.makedirs(folder, exist_ok=True)
    weights = np.eye(3) if weights is None else np.asarray(weights)
    bias = np.zeros(len(weights)) if bias is None else bias
    k = len(weights)
    model = osp.join(folder, 'tiny.onnx')
    _tiny_onnx(model, weights, bias)
    deploy = {
        'format': DEPLOY_FORMAT, 'version': DEPLOY_VERSION, 'backend': 'onnxruntime',
        'model': {**file_entry(folder, model), 'input_name': 'input', 'output_name': 'output',
                  'input_shape': [1, 3, None, None]},
        'files': {}, 'input': {'layout': 'NCHW', 'dtype': 'float32',
                               'channel_order': channel_order, 'mean': list(mean),
                               'std': list(std)},
        'size': {'policy': 'native', 'resize': None, 'size_divisor': size_divisor,
                 'pad_value': 0.0, 'min_size': 1},
        'output': {'kind': 'logits', 'layout': 'NCHW', 'num_classes': k},
        'classes': ['background', 'red', 'green', 'blue', 'grey'][:k],
        'palette': [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]][:k],
        'ignore_index': 255}
    if gears:
        deploy['gears'] = []
        for h, w in sorted(gears, key=lambda g: (g[0] * g[1], g)):
            path = osp.join(folder, f'tiny_{h}x{w}.onnx')
            _tiny_onnx(path, weights, bias, (h, w))
            deploy['gears'].append({'size': [h, w], **file_entry(folder, path)})
        deploy['model'].update(file_entry(folder, path), input_shape=[1, 3, h, w])
    with open(osp.join(folder, DEPLOY_FILE), 'w') as f:
        json.dump(deploy, f)
    return folder


def _write_tiny_mindspore_deploy(folder):
    """:func:`_write_tiny_deploy`'s network as a dynamic-shape MINDIR (MindSpore 2.10 exports it;
    the host's MindSpore 2.7.2 loads it), in a deploy folder of backend ``mindspore``."""
    import json
    import os

    import mindspore as ms
    import numpy as np
    from mindspore import nn

    from fcn_voc_runtime.deploy import DEPLOY_FILE, file_entry
    _write_tiny_deploy(folder)
    cell = nn.Conv2d(3, 3, 1, has_bias=False, pad_mode='valid',
                     weight_init=ms.Tensor(np.eye(3, dtype=np.float32)[:, :, None, None]))
    ms.export(cell, ms.Tensor(shape=[1, 3, None, None], dtype=ms.float32),
              file_name=osp.join(folder, 'tiny'), file_format='MINDIR')
    os.remove(osp.join(folder, 'tiny.onnx'))
    with open(osp.join(folder, DEPLOY_FILE)) as f:
        deploy = json.load(f)
    deploy['backend'] = 'mindspore'
    deploy['model'].update(file_entry(folder, osp.join(folder, 'tiny.mindir')))
    with open(osp.join(folder, DEPLOY_FILE), 'w') as f:
        json.dump(deploy, f)
    return folder


def _write_tiny_dataset(root, n, size=(24, 32), seed=0):
    """``n`` PNG images and labels; each label is the image's brightest channel except a void
    border and a few wrong pixels, so the scores are neither 0 nor 100."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    images, labels = root / 'images', root / 'labels'
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(exist_ok=True)
    for i in range(n):
        rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        label = rgb.argmax(-1).astype(np.uint8)
        label[rng.random(size) < 0.1] = rng.integers(0, 3)
        label[0] = 255
        Image.fromarray(rgb).save(images / f'img{i:03d}.png')
        Image.fromarray(label, 'L').save(labels / f'img{i:03d}.png')
    return str(images), str(labels)



@pytest.fixture(scope='session')
def tiny_deploy():
    """``tiny_deploy(folder)`` -> a deploy folder (converters' format) whose ONNX predicts each
    pixel's brightest colour channel (classes background / red / green)."""
    return _write_tiny_deploy


@pytest.fixture(scope='session')
def tiny_mindspore_deploy():
    """``tiny_mindspore_deploy(folder)`` -> :func:`tiny_deploy`'s model as a dynamic MINDIR."""
    return _write_tiny_mindspore_deploy


@pytest.fixture(scope='session')
def tiny_dataset():
    """``tiny_dataset(root, n, size=(24, 32), seed=0)`` -> ``(images, labels)`` folders of PNGs
    whose labels mostly agree with :func:`tiny_deploy`'s predictions, with void borders."""
    return _write_tiny_dataset
