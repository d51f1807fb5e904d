# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""onnxruntime: CPU, CUDA, or Ascend through CANN's execution provider (``onnxruntime-cann``)."""
from typing import List

import numpy as np

from fcn_voc_core.dependencies import require
from fcn_voc_core.errors import InputError

from ..deploy import DeployFolder

PROVIDERS = {'CPU': 'CPUExecutionProvider', 'GPU': 'CUDAExecutionProvider',
             'Ascend': 'CANNExecutionProvider'}
DEVICES = {provider: device for device, provider in PROVIDERS.items()}


class OnnxRuntimeModel:
    """``model(x)``: (1, 3, H, W) float32 -> (1, K, H, W) float32 logits (a
    :class:`~.base.DeployedModel`).

    Only the provider of ``device_target`` is given to the session, and :attr:`device` is read
    back from ``session.get_providers()``: a provider that is listed as available but cannot run
    (``onnxruntime-cann`` without CANN's libraries) shows as the CPU.
    """

    backend = 'onnxruntime'

    def __init__(self, deploy: DeployFolder, device_target: str = 'CPU', device_id: int = 0):
        ort = require('onnxruntime', '--backend onnxruntime')

        if deploy.dtype == 'int8' and device_target != 'CPU':
            raise InputError(
                f"{deploy.model_file}: an int8 QDQ model runs as int8 on onnxruntime's CPU provider "
                f'only; on {device_target} it would run dequantized or in float16, not as '
                'measured (for the Ascend NPU, quantize the float32 ONNX of this folder with '
                'AMCT: amct_quant.cfg)')
        provider = PROVIDERS[device_target]
        if provider not in ort.get_available_providers():
            raise InputError(f'device target {device_target} needs onnxruntime\'s {provider}, '
                             f'which this onnxruntime lacks (it has '
                             f'{ort.get_available_providers()})')
        try:
            options = {} if device_target == 'CPU' else {'device_id': str(device_id)}
            session_options = ort.SessionOptions()
            # the host pipeline decodes, writes and scores in threads beside the model call: the
            # model's idle threads sleep instead of spinning on the cores those threads need
            session_options.add_session_config_entry('session.intra_op.allow_spinning', '0')
            self.session = ort.InferenceSession(deploy.model_file, sess_options=session_options,
                                                providers=[(provider, options)])
        except Exception as e:  # onnxruntime raises its own exception types
            raise InputError(f'{deploy.model_file}: not a loadable ONNX model: {e}') from e
        used = self.session.get_providers()
        self.device = DEVICES.get(used[0], used[0]) if used else 'none'
        # CANN's graph engine builds force_fp16 when no precision mode is passed (none is)
        self.precision = {'CPU': 'float32', 'Ascend': 'force_fp16 (CANN default)'}.get(
            self.device, f'{self.device} default')
        if deploy.dtype == 'int8':
            self.precision = 'int8 (QDQ: int8 weights, uint8 activations)'
        self.notes: List[str] = []
        self.input_name, self.output_name = deploy.input_name, deploy.output_name
        #: an AIPP export's second input: the (h, w) of the image inside the padded input
        self.valid_name = next((i.name for i in self.session.get_inputs()[1:]), None)

    def __call__(self, x: np.ndarray, valid=None) -> np.ndarray:
        feeds = {self.input_name: np.ascontiguousarray(x, np.float32)}
        if self.valid_name is not None:
            feeds[self.valid_name] = np.array(valid or x.shape[-2:], np.int32)
        return self.session.run([self.output_name], feeds)[0]


def load(deploy: DeployFolder, device_target: str, device_id: int = 0) -> OnnxRuntimeModel:
    if not deploy.model_file.endswith('.onnx'):
        raise InputError(f'{deploy.model_file}: onnxruntime runs an ONNX file')
    return OnnxRuntimeModel(deploy, device_target, device_id)
