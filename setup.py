# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Builds the wheel as OpenMMLab packages are built (metadata in pyproject.toml): the repository's
``configs/`` ship inside the package as ``mmseg_fcn_voc/.mim/configs`` (with ``model-index.yml``
naming the model zoo's ``metafile.yaml``), and ``mmseg_fcn_voc-configs.pth`` makes
``mmseg_fcn_voc::`` config paths resolve in an installed package (see ``_mmseg_fcn_voc_configs``).

mmengine takes ``package::folder/file.py`` (a folder is required), so each recipe of the top of
``configs/`` is also reachable as ``mmseg_fcn_voc::fcn/<recipe>.py``: a one-line config in
``.mim/configs/fcn/`` inheriting it."""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
PTH = 'mmseg_fcn_voc-configs.pth'


class BuildWithConfigs(build_py):
    """``build_py`` plus the configs under ``mmseg_fcn_voc/.mim`` and the ``.pth`` file."""

    def run(self):
        super().run()
        if self.editable_mode:  # a clone uses configs/ where they are
            return
        mim = osp.join(self.build_lib, 'mmseg_fcn_voc', '.mim')
        if osp.isdir(mim):
            shutil.rmtree(mim)
        shutil.copytree(osp.join(ROOT, 'configs'), osp.join(mim, 'configs'),
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        for name in sorted(os.listdir(osp.join(ROOT, 'configs'))):
            if name.endswith('.py'):
                with open(osp.join(mim, 'configs', 'fcn', name), 'w', encoding='utf-8') as f:
                    f.write(f"_base_ = ['../{name}']\n")
        with open(osp.join(mim, 'model-index.yml'), 'w', encoding='utf-8') as f:
            f.write('Import:\n- configs/fcn/metafile.yaml\n')
        with open(osp.join(self.build_lib, PTH), 'w', encoding='utf-8') as f:
            f.write('import _mmseg_fcn_voc_configs\n')
        os.chmod(osp.join(self.build_lib, PTH), 0o644)


setup(cmdclass={'build_py': BuildWithConfigs})
