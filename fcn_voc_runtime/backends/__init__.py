# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""One module per backend, each implementing :class:`.base.DeployedModel`; a backend module is
imported only when chosen (a host needs only its own)."""
import importlib

from fcn_voc_core.errors import InputError

from ..choices import RUN_BACKENDS
from ..deploy import DeployFolder
from .base import DEVICE_TARGETS, DeployedModel


def load_model(deploy: DeployFolder, backend: str = None, device_target: str = 'CPU',
               device_id: int = 0) -> DeployedModel:
    """The deployed model of ``deploy``, running on ``device_target``.

    Args:
        backend: ``'mindspore'`` (MINDIR) or ``'onnxruntime'`` (ONNX), by default the folder's;
            ``'om'``: the offline models the static ONNX folder's ``atc.sh`` made
            (:mod:`.om`).
        device_target: ``'CPU'``, ``'GPU'`` or ``'Ascend'``.
        device_id: which device of that kind (ignored on the CPU).

    Raises:
        InputError: an unknown backend or device, a folder of another backend, or a model that
            does not run on the device asked for (no silent fallback to another device).
    """
    backend = backend or deploy.backend
    if backend not in RUN_BACKENDS:
        raise InputError(f'unknown backend {backend!r}; expected one of {RUN_BACKENDS}')
    if backend != deploy.backend and not (backend == 'om' and deploy.backend == 'onnxruntime'):
        kind = 'an int8' if deploy.dtype == 'int8' else 'a'
        raise InputError(f'{deploy.folder}: holds {kind} {deploy.backend} model ({deploy.model_file}); '
                         f'--backend {backend} needs the folder converters/'
                         f'{"to_mindspore" if backend == "mindspore" else "to_onnx"}.py writes')
    if device_target not in DEVICE_TARGETS:
        raise InputError(f'unknown device target {device_target!r}; expected one of '
                         f'{DEVICE_TARGETS}')
    module = importlib.import_module(f'.{backend}', __name__)
    if deploy.gears:
        from ..geared_model import GearedModel
        model = GearedModel(deploy, lambda gear: module.load(gear, device_target, device_id))
    else:
        model = module.load(deploy, device_target, device_id)
    if model.device != device_target:
        raise InputError(f'{deploy.model_file}: asked to run on {device_target}, but {backend} runs '
                         f'it on {model.device}; refusing to report its results as {device_target}')
    return model


__all__ = ['DEVICE_TARGETS', 'DeployedModel', 'load_model']
