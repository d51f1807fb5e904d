# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Segment images with a deployed model: ``Predictor(deploy_dir).predict(image)``."""
from typing import Optional

import numpy as np

from .backends import load_model
from .deploy import DeployFolder, load_deploy_dir
from .preprocess import postprocess, preprocess


class Predictor:
    """A converted FCN on the deployment host (numpy, Pillow and one backend; no torch/mmseg).

    Args:
        deploy_dir: the folder ``converters/to_mindspore.py`` / ``to_onnx.py`` wrote
            (``deploy.json`` and the model file; checked by
            :func:`~fcn_voc_runtime.deploy.load_deploy_dir`).
        backend: ``'mindspore'`` or ``'onnxruntime'``; by default the folder's.
        device_target: ``'CPU'``, ``'GPU'`` or ``'Ascend'``.
        device_id: which device of that kind.
    """

    def __init__(self, deploy_dir: str, backend: Optional[str] = None,
                 device_target: str = 'CPU', device_id: int = 0):
        self.deploy: DeployFolder = load_deploy_dir(deploy_dir)
        self.model = load_model(self.deploy, backend, device_target, device_id)

    def logits(self, image_rgb: np.ndarray):
        """(H, W, 3) uint8 RGB -> ((1, K, H', W') logits, (h, w) of the unpadded input)."""
        h, w = image_rgb.shape[:2]
        if min(h, w) < self.deploy.min_size:
            raise ValueError(f'image of {h}x{w} is smaller than the network\'s minimum input '
                             f'{self.deploy.min_size}')
        x, valid = preprocess(image_rgb, self.deploy, getattr(self.model, 'takes_uint8', False))
        return self.model(x, valid), valid

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 class indices, as mmseg's ``inference_model``."""
        logits, valid = self.logits(image_rgb)
        return postprocess(logits, valid, image_rgb.shape[:2])
