# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The original FCN (Long, Shelhamer, Darrell) as mmsegmentation components.

Importing this package (``custom_imports = dict(imports=['mmseg_fcn_voc'],
allow_failed_imports=False)`` in a config) registers:

* ``MODELS``: ``FCNVGG`` (backbone), ``FCN32sHead`` / ``FCN16sHead`` / ``FCN8sHead`` (decode heads),
  ``BilinearDeconvNeck`` (neck);
* ``TRANSFORMS``: ``LoadSBDAnnotations`` (SBD ``.mat`` labels without conversion);
* ``METRICS``: ``FCNIoUMetric`` (pixel acc., mean acc., mean IU, frequency-weighted IU);
* ``HOOKS``: ``InvalidLossGuardHook`` (stops on a NaN/Inf loss before a checkpoint is written);

and allow-lists, for ``torch.load(weights_only=True)``, the few types an mmengine checkpoint holds, so
``--resume``, ``load_from`` and ``mim test`` work under torch >= 2.6 without turning the protection off.

Nothing else is changed on import. CPU-only distributed launches (``--launcher pytorch`` with gloo)
opt in to :mod:`mmseg_fcn_voc.utils.cpu_launch` from their config.
"""
from . import (
    datasets,  # noqa: F401,E402  (TRANSFORMS)
    engine,  # noqa: F401,E402  (HOOKS)
    evaluation,  # noqa: F401,E402  (METRICS)
    models,  # noqa: F401,E402  (registers into mmseg.registry.MODELS)
)
from .utils.safe_load import register_checkpoint_safe_globals
from .version import __version__  # noqa: F401

register_checkpoint_safe_globals()

__all__ = ['__version__', 'register_checkpoint_safe_globals']
