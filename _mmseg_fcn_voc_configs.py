# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``mmseg_fcn_voc::`` config paths for an installed mmseg-fcn-voc, as ``mmseg::`` works for mmseg.

mmengine resolves ``_base_ = ['package::path']`` only for the packages in its
``mmengine.config.utils.MODULE2PACKAGE``, before a config's ``custom_imports`` run, so importing the
plugin is too late for ``mim train mmseg my_config.py``. The wheel installs a ``.pth`` file that
imports this module at interpreter start-up; it imports nothing itself, and adds the plugin to that
table when (and if) mmengine's config utilities are imported. The plugin's configs are in the
installed package under ``mmseg_fcn_voc/.mim/configs``, where mmengine looks for them.
"""
import importlib.util
import sys

TARGET = 'mmengine.config.utils'
MODULE, DISTRIBUTION = 'mmseg_fcn_voc', 'mmseg_fcn_voc'


def register(utils) -> None:
    """Add the plugin to mmengine's ``MODULE2PACKAGE`` (``get_installed_path`` finds
    ``<site-packages>/mmseg_fcn_voc`` under the distribution's normalised name)."""
    utils.MODULE2PACKAGE.setdefault(MODULE, DISTRIBUTION)


class _RegisterOnImport:
    """A meta path finder that lets ``mmengine.config.utils`` load as usual, then registers."""

    def find_spec(self, name, path=None, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            register(module)

        spec.loader.exec_module = exec_module
        return spec


if TARGET in sys.modules:
    register(sys.modules[TARGET])
elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnImport())
