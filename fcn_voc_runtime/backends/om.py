# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Offline models (``.om``) on the Ascend NPU through ais_bench's ``InferSession``.

An ONNX deploy folder exported static (``--input-size``) or in gears (``--gears``) holds
``atc.sh``; run on the host (``SOC=Ascend310P3 bash DIR/atc.sh``), it converts each ONNX with
ATC into ``<name>.om`` (``<name>_<H>x<W>.om`` per gear) and records their sha256 in ``om.sha256``.
This backend runs those files: each is checked against ``om.sha256`` (and must lie inside the
folder), loaded with ``InferSession(device_id, model_path)`` and run with ``infer(feeds,
mode='static')``. With AIPP (``--aipp``) the model takes the (1, H, W, 3) uint8 RGB pixels and the
image's ``(h, w)`` (``valid_size``); otherwise the float32 input as the ONNX does.

ais_bench and its ``aclruntime`` come with CANN's msit tools (not the package registry); without
them, or without CANN's libraries, the runtime refuses in one line. Not run on an NPU here: tested
with a stand-in that follows ``InferSession``'s documented interface.
"""
import os.path as osp
from typing import Dict, List

import numpy as np

from fcn_voc_core.dependencies import MissingDependencyError, require
from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import file_sha256

from ..deploy import DeployError, DeployFolder, folder_file

#: What ``atc.sh`` writes after the conversions (``sha256sum`` format).
OM_MANIFEST = 'om.sha256'


def om_file(model_file: str) -> str:
    """The offline model ATC makes of an ONNX file of the folder."""
    return model_file[:-len('.onnx')] + '.om'


def read_manifest(folder: str) -> Dict[str, str]:
    """``{file name: sha256}`` of ``om.sha256``.

    Raises:
        DeployError: no manifest (``atc.sh`` has not run) or a malformed line.
    """
    path = osp.join(folder, OM_MANIFEST)
    if not osp.isfile(path):
        raise DeployError(f'{path}: missing: no offline models yet; run the folder\'s atc.sh on '
                          'the Ascend host first (SOC=<your chip> bash atc.sh)')
    hashes = {}
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            parts = line.split()
            if len(parts) != 2 or len(parts[0]) != 64:
                raise DeployError(f'{path}:{number}: not a sha256sum line: {line.strip()!r}')
            hashes[parts[1].lstrip('*')] = parts[0]
    return hashes


def checked_om(deploy: DeployFolder, model_file: str, manifest: Dict[str, str]) -> str:
    """The ``.om`` of ``model_file``: inside the folder, listed in the manifest, same bytes."""
    name = osp.basename(om_file(model_file))
    path = folder_file(deploy.folder, {'file': name}, f'om ({name})',
                       osp.join(deploy.folder, OM_MANIFEST))
    if name not in manifest:
        raise DeployError(f'{path}: not in {OM_MANIFEST}; run atc.sh again')
    if not osp.isfile(path):
        raise DeployError(f'{path}: missing; run the folder\'s atc.sh on the Ascend host')
    actual = file_sha256(path)
    if actual != manifest[name]:
        raise DeployError(f'{path}: {OM_MANIFEST} records sha256 {manifest[name][:16]}..., the '
                          f'file hashes to {actual[:16]}... (replaced or modified after ATC)')
    return path


def infer_session_class():
    """ais_bench's ``InferSession``, or a one-line refusal saying what to install."""
    try:
        return require('ais_bench.infer.interface', '--backend om').InferSession
    except MissingDependencyError as e:
        if 'libascendcl' in str(e) or 'aclruntime' in str(e):
            raise MissingDependencyError(
                f'--backend om: ais_bench is installed but CANN is not usable here ({e}); set up '
                "CANN's environment first (source <CANN>/set_env.sh)") from None
        raise


class OmModel:
    """``model(x, valid)`` on one offline model (a :class:`~.base.DeployedModel`)."""

    backend = 'om'

    def __init__(self, deploy: DeployFolder, device_target: str, device_id: int = 0):
        if device_target != 'Ascend':
            raise InputError(f'{deploy.model_file}: an offline model (.om) runs on an Ascend NPU '
                             f'only, not on {device_target} (--device-target Ascend)')
        manifest = read_manifest(deploy.folder)
        self.om_file = checked_om(deploy, deploy.model_file, manifest)
        session_class = infer_session_class()
        try:
            self.session = session_class(device_id=device_id, model_path=self.om_file)
        except Exception as e:  # noqa: BLE001 - ais_bench raises its own types
            raise InputError(f'{self.om_file}: InferSession cannot load it on device '
                             f'{device_id}: {type(e).__name__}: {e}') from e
        used = getattr(self.session, 'device_id', None)
        if used != device_id:
            raise InputError(f'{self.om_file}: asked to run on Ascend device {device_id}, but '
                             f'InferSession reports device {used}')
        self.device, self.device_id = 'Ascend', used
        self.takes_uint8 = bool((deploy.raw.get('aipp') or {}).get('valid_size_input'))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.precision = ('force_fp16 (ATC default)' if not (deploy.raw.get('precision') or {})
                          .get('planned_for') else deploy.raw['precision']['planned_for'])
        self.notes: List[str] = [f'offline model {osp.basename(self.om_file)} through '
                                 f'InferSession on device {used}']

    def __call__(self, x: np.ndarray, valid=None) -> np.ndarray:
        if self.takes_uint8:
            h, w = valid or x.shape[1:3]
            feeds = [np.ascontiguousarray(x, np.uint8), np.array([h, w], np.int32)]
        else:
            feeds = [np.ascontiguousarray(x, np.float32)]
        out = np.asarray(self.session.infer(feeds=feeds, mode='static')[0])
        return out if out.dtype.kind in 'iu' else out.astype(np.float32, copy=False)


def load(deploy: DeployFolder, device_target: str, device_id: int = 0) -> OmModel:
    if not deploy.model_file.endswith('.onnx') or deploy.static_size is None and not deploy.gears:
        raise InputError(f'{deploy.folder}: --backend om needs a static ONNX folder (to_onnx.py '
                         '--input-size or --gears), whose atc.sh makes the offline models')
    return OmModel(deploy, device_target, device_id)


__all__ = ['OmModel', 'load', 'read_manifest', 'om_file']
