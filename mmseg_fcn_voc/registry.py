# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The ``mmseg_fcn_voc`` registry scope: one child of each of mmseg's registries.

The plugin's components register into mmseg's own registries (``@MODELS.register_module()`` of
``mmseg.registry``), so mmseg configs find them under the default scope ``mmseg``. A config that
inherits an installed recipe through ``_base_ = ['mmseg_fcn_voc::...']`` gets mmengine's scope
``mmseg_fcn_voc`` on every component (``_scope_``); mmengine then imports this module and looks
the scope up in each registry tree. Each child here looks a name up in mmseg's registry of the same
kind (and so in mmengine's above it), so those configs build exactly what ``mmseg`` configs build.
"""
from mmengine.registry import Registry
from mmseg import registry as _mmseg

import mmseg_fcn_voc  # noqa: F401  (registers the plugin's components into mmseg's registries)

SCOPE = 'mmseg_fcn_voc'
_children = {}
for _name in dir(_mmseg):
    _parent = getattr(_mmseg, _name)
    if _name.isupper() and isinstance(_parent, Registry):
        _children[_name] = Registry(_parent.name, parent=_parent, scope=SCOPE,
                                    locations=['mmseg_fcn_voc'])
globals().update(_children)

__all__ = sorted(_children)
