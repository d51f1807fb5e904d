"""The distribution: ``python -m build`` gives a wheel and an sdist that pass ``twine check``; the
wheel carries the configs as OpenMMLab packages do (``mmseg_fcn_voc/.mim/configs``), so that,
installed without dependencies into a scratch folder and used from outside the repository,
``_base_ = ['mmseg_fcn_voc::...']`` resolves to the installed files and a recipe trains."""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BIN = osp.dirname(sys.executable)
pytestmark = pytest.mark.slow


def _run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1200, **kw)
    assert proc.returncode == 0, f'{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The repository's files (tracked and not ignored) copied aside and built there without
    build isolation (no network); the wheel installed with ``pip --target`` into a scratch
    folder, and a ``sitecustomize`` that makes that folder a site directory in front of the
    editable install (as a fresh environment's site-packages would be)."""
    root = tmp_path_factory.mktemp('wheel')
    src, dist, scratch = root / 'src', root / 'dist', root / 'site-packages'
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if osp.isfile(osp.join(REPO, name)) and not name.startswith('mutants/'):
            os.makedirs(src / osp.dirname(name), exist_ok=True)
            shutil.copy2(osp.join(REPO, name), src / name)
    _run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(dist), str(src)])
    wheel, = glob.glob(str(dist / '*.whl'))
    sdist, = glob.glob(str(dist / '*.tar.gz'))
    out = _run([sys.executable, '-m', 'twine', 'check', '--strict', wheel, sdist])
    assert out.count('PASSED') == 2
    _run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '--target',
          str(scratch), wheel])
    site = root / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(
        f'import site, sys\nsys.path.insert(0, {str(scratch)!r})\nsite.addsitedir({str(scratch)!r})\n')
    user = root / 'user'
    user.mkdir()
    return dict(scratch=str(scratch), user=user, wheel=wheel,
                env=dict(os.environ, PYTHONPATH=str(site)))


def test_the_wheel_carries_the_configs(installed):
    import zipfile
    names = zipfile.ZipFile(installed['wheel']).namelist()
    configs = [n for n in names if n.startswith('mmseg_fcn_voc/.mim/configs/')]
    repo_configs = glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    assert len([c for c in configs if not c.startswith('mmseg_fcn_voc/.mim/configs/fcn/')
                or c.endswith(('README.md', 'metafile.yaml'))]) >= len(repo_configs)
    assert 'mmseg_fcn_voc/.mim/model-index.yml' in names
    assert 'mmseg_fcn_voc/.mim/configs/_base_/models/fcn8s_vgg16.py' in names
    assert 'mmseg_fcn_voc-configs.pth' in names and '_mmseg_fcn_voc_configs.py' in names
    assert 'mmseg_fcn_voc/data_prep/pipeline.py' in names  # every subpackage
    # the torch-free packages are the fcn-voc-runtime distribution's, which this one requires
    assert not any(n.startswith(('fcn_voc_core/', 'fcn_voc_runtime/')) for n in names)
    metadata = zipfile.ZipFile(installed['wheel']).read(
        next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    assert 'Requires-Dist: fcn-voc-runtime==0.1.0' in metadata


def test_configs_resolve_from_outside_the_repository(installed):
    user = installed['user']
    (user / 'base.py').write_text("_base_ = ['mmseg_fcn_voc::_base_/models/fcn8s_vgg16.py']\n")
    (user / 'recipe.py').write_text("_base_ = ['mmseg_fcn_voc::fcn/fcn8s_vgg16_voc.py']\n")
    code = ('import json, mmseg_fcn_voc; from mmengine.config import Config; '
            'a = Config.fromfile("base.py"); b = Config.fromfile("recipe.py"); '
            'print("RESOLVED", json.dumps([mmseg_fcn_voc.__file__, a.model.backbone.type, '
            'a.model.decode_head.type, b.train_cfg.max_iters, b.test_evaluator.type]))')
    out = _run([sys.executable, '-c', code], cwd=str(user), env=installed['env'])
    module, backbone, head, iters, metric = json.loads(out.split('RESOLVED', 1)[1].splitlines()[0])
    assert module.startswith(installed['scratch'])  # the installed package, not the clone
    assert (backbone, head, iters, metric) == ('FCNVGG', 'FCN8sHead', 100000, 'FCNIoUMetric')


def test_an_installed_recipe_trains(installed, demo_voc, demo_cfg, tmp_path):
    """``mim train mmseg my_config.py`` where the config inherits the installed demo recipe (with
    fc6/fc7 64 channels wide), outside the repository: two iterations and a checkpoint."""
    user = installed['user']
    (user / 'demo.py').write_text(
        "_base_ = ['mmseg_fcn_voc::demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py']\n"
        "model = dict(backbone=dict(fc_channels=64), decode_head=dict(in_channels=[256, 512, 64]))\n")
    work = tmp_path / 'work'
    out = _run([osp.join(BIN, 'mim'), 'train', 'mmseg', 'demo.py', '--work-dir', str(work),
                '--cfg-options', *demo_cfg(demo_voc, str(work), max_iters=2)],
               cwd=str(user), env=dict(installed['env'], OMP_NUM_THREADS='2'))
    assert osp.isfile(work / 'iter_2.pth'), out[-3000:]
    import torch
    assert torch.load(work / 'iter_2.pth', map_location='cpu')['meta']['iter'] == 2
