# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""onnxruntime: CPU, CUDA, or Ascend through CANN's execution provider (``onnxruntime-cann``)."""
import numpy as np

from ..deploy import DeploySpec
from ..errors import InputError

PROVIDERS = {'CPU': 'CPUExecutionProvider', 'GPU': 'CUDAExecutionProvider',
             'Ascend': 'CANNExecutionProvider'}


class OnnxRuntimeModel:
    """``model(x)``: (1, 3, H, W) float32 -> (1, K, H, W) float32 logits."""

    def __init__(self, spec: DeploySpec, device_target: str = 'CPU'):
        import onnxruntime as ort

        provider = PROVIDERS[device_target]
        if provider not in ort.get_available_providers():
            raise InputError(f'device target {device_target} needs onnxruntime\'s {provider}, '
                             f'which this onnxruntime lacks (it has '
                             f'{ort.get_available_providers()})')
        providers = [provider] + (['CPUExecutionProvider'] if provider != 'CPUExecutionProvider'
                                  else [])
        try:
            self.session = ort.InferenceSession(spec.model_file, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise InputError(f'{spec.model_file}: not a loadable ONNX model: {e}') from e
        self.input_name, self.output_name = spec.input_name, spec.output_name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name],
                                {self.input_name: np.ascontiguousarray(x, np.float32)})[0]


def load(spec: DeploySpec, device_target: str) -> OnnxRuntimeModel:
    if not spec.model_file.endswith('.onnx'):
        raise InputError(f'{spec.model_file}: onnxruntime runs an ONNX file')
    return OnnxRuntimeModel(spec, device_target)
