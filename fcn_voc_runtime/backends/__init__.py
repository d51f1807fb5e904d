# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""One module per backend, each implementing :class:`.base.DeployedModel`; a backend module is
imported only when chosen (a host needs only its own)."""
import importlib

from fcn_voc_core.errors import InputError

from ..deploy import BACKENDS, DeploySpec
from .base import DEVICE_TARGETS, DeployedModel


def load_model(spec: DeploySpec, backend: str = None, device_target: str = 'CPU',
               device_id: int = 0) -> DeployedModel:
    """The deployed model of ``spec``, running on ``device_target``.

    Args:
        backend: ``'mindspore'`` (MINDIR) or ``'onnxruntime'`` (ONNX); by default the folder's.
        device_target: ``'CPU'``, ``'GPU'`` or ``'Ascend'``.
        device_id: which device of that kind (ignored on the CPU).

    Raises:
        InputError: an unknown backend or device, a folder of another backend, or a model that
            does not run on the device asked for (no silent fallback to another device).
    """
    backend = backend or spec.backend
    if backend not in BACKENDS:
        raise InputError(f'unknown backend {backend!r}; expected one of {BACKENDS}')
    if backend != spec.backend:
        kind = 'an int8' if spec.dtype == 'int8' else 'a'
        raise InputError(f'{spec.folder}: holds {kind} {spec.backend} model ({spec.model_file}); '
                         f'--backend {backend} needs the folder converters/'
                         f'{"to_mindspore" if backend == "mindspore" else "to_onnx"}.py writes')
    if device_target not in DEVICE_TARGETS:
        raise InputError(f'unknown device target {device_target!r}; expected one of '
                         f'{DEVICE_TARGETS}')
    module = importlib.import_module(f'.{backend}', __name__)
    if spec.gears:
        from ..gears import GearedModel
        model = GearedModel(spec, lambda gear: module.load(gear, device_target, device_id))
    else:
        model = module.load(spec, device_target, device_id)
    if model.device != device_target:
        raise InputError(f'{spec.model_file}: asked to run on {device_target}, but {backend} runs '
                         f'it on {model.device}; refusing to report its results as {device_target}')
    return model


__all__ = ['DEVICE_TARGETS', 'DeployedModel', 'load_model']
