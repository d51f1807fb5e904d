# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""One module per backend; each is imported only when chosen (a host needs only its own)."""
import importlib

from ..deploy import BACKENDS, DeploySpec
from ..errors import InputError

DEVICE_TARGETS = ('CPU', 'GPU', 'Ascend')


def load_model(spec: DeploySpec, backend: str = None, device_target: str = 'CPU'):
    """The deployed model of ``spec`` as a callable ``(1, 3, H, W) float32 -> (1, K, H, W)``.

    Args:
        backend: ``'mindspore'`` (MINDIR) or ``'onnxruntime'`` (ONNX); by default the folder's.
        device_target: ``'CPU'``, ``'GPU'`` or ``'Ascend'``.
    """
    backend = backend or spec.backend
    if backend not in BACKENDS:
        raise InputError(f'unknown backend {backend!r}; expected one of {BACKENDS}')
    if backend != spec.backend:
        raise InputError(f'{spec.folder}: holds a {spec.backend} model ({spec.model_file}); '
                         f'--backend {backend} needs the folder converters/'
                         f'{"to_mindspore" if backend == "mindspore" else "to_onnx"}.py writes')
    if device_target not in DEVICE_TARGETS:
        raise InputError(f'unknown device target {device_target!r}; expected one of '
                         f'{DEVICE_TARGETS}')
    module = importlib.import_module(f'.{backend}', __name__)
    return module.load(spec, device_target)
