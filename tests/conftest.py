# Shared fixtures. pytest runs with --import-mode=importlib: mmsegmentation's wheel installs a
# top-level package named `tests`, so this directory is deliberately not a package.
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session', autouse=True)
def mmseg_scope():
    """Register mmseg's modules (default scope 'mmseg') and the plugin's, as a config would."""
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    import mmseg_fcn_voc  # noqa: F401


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
