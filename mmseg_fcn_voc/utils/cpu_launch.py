# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Let mmengine's ``--launcher pytorch`` start on a CPU-only torch build.

mmengine 0.10.7's ``_init_dist_pytorch`` calls ``torch.cuda.set_device(local_rank)`` before
``init_process_group``, whatever the backend. On a torch build without CUDA that call raises
``AttributeError: module 'torch._C' has no attribute '_cuda_setDevice'``, so
``mim train ... --launcher pytorch`` (and torchrun) fail before gloo is even reached.

On such a build there is no device to select, so :func:`allow_cpu_pytorch_launcher` replaces
``torch.cuda.set_device`` with a function that does nothing for a plain index and raises, as before,
for anything else. Builds with CUDA are left untouched.

Opt in from a config; importing this module installs the shim (``import mmseg_fcn_voc`` does not)::

    custom_imports = dict(imports=['mmseg_fcn_voc', 'mmseg_fcn_voc.utils.cpu_launch'],
                          allow_failed_imports=False)
    env_cfg = dict(dist_cfg=dict(backend='gloo'))
    model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
"""
import torch

_patched = False


def allow_cpu_pytorch_launcher() -> bool:
    """Install the shim on CPU-only torch builds; returns whether it is installed."""
    global _patched
    if _patched:
        return True
    if torch.backends.cuda.is_built() or hasattr(torch._C, '_cuda_setDevice'):
        return False
    original = torch.cuda.set_device

    def set_device(device) -> None:
        if isinstance(device, int):
            return None  # mmengine's local_rank on a CUDA-less build: nothing to select
        return original(device)

    set_device.__doc__ = original.__doc__
    torch.cuda.set_device = set_device
    _patched = True
    return True


allow_cpu_pytorch_launcher()
