# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Describe a converted model for the deployment host: the contents of ``deploy.json``.

Read off the built model and its config: the data preprocessor (channel order, mean/std, test-time
padding), the test pipeline (native size or mmcv ``Resize``), the dataset's classes and palette.
The format is defined by :mod:`fcn_voc_runtime.deploy`, which reads it on the host.
"""
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from torch import nn

from fcn_voc_core.errors import InputError
from fcn_voc_runtime.deploy import DEPLOY_FORMAT, DEPLOY_VERSION, file_entry

from .network.trace import TracedNetwork

#: Test-pipeline transforms the runtime reproduces (loading and packing do nothing to pixels).
PASSIVE_TRANSFORMS = ('LoadImageFromFile', 'LoadAnnotations', 'LoadSBDAnnotations',
                      'PackSegInputs')


def _test_pipeline(cfg) -> List[dict]:
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    pipeline = dataset.get('pipeline', cfg.get('test_pipeline'))
    return list(pipeline or [])


def size_policy(cfg, config: str) -> Dict:
    """``{'policy': 'native'}`` or ``{'policy': 'resize', 'resize': {...}}`` from the test
    pipeline; anything else it does to the pixels cannot be reproduced on the host."""
    resize = None
    for step in _test_pipeline(cfg):
        kind = step.get('type')
        if kind in PASSIVE_TRANSFORMS:
            continue
        if kind == 'Resize' and resize is None and step.get('scale') is not None:
            resize = {'scale': list(step['scale']), 'keep_ratio': bool(step.get('keep_ratio'))}
            continue
        raise InputError(f'{config}: the test pipeline step {step} changes the image in a way the '
                         'deployment runtime does not reproduce (it supports native size and one '
                         f'Resize(scale=..., keep_ratio=...)); supported steps: '
                         f'{PASSIVE_TRANSFORMS + ("Resize", )}')
    return {'policy': 'resize', 'resize': resize} if resize else {'policy': 'native',
                                                                   'resize': None}


def check_argmax_applies(model: nn.Module, config: str) -> None:
    """``--with-argmax`` needs the logits at the network input's size: cropping the padding
    commutes with the argmax, resizing the logits back to the image (the resize policy) does not.

    Raises:
        InputError: for a config whose test pipeline resizes images.
    """
    policy = size_policy(model.cfg, config)
    if policy['policy'] == 'resize':
        raise InputError(f'{config}: --with-argmax: the test pipeline resizes images '
                         f'({policy["resize"]}), so mmseg resizes the logits back to each image '
                         'before the argmax, which does not commute with it; export the logits '
                         '(without --with-argmax) for this config')


def normalization(model: nn.Module) -> Tuple[str, List[float], List[float]]:
    """``(channel_order, mean, std)`` of the network input as the model's data preprocessor makes
    it from an RGB image: ``(pixel - mean) / std`` per channel, in the network's channel order
    (``'RGB'`` or ``'BGR'``), on 0-255 values."""
    pre = model.data_preprocessor
    enabled = getattr(pre, '_enable_normalize', True)
    mean = pre.mean.flatten().tolist() if enabled else [0.0, 0.0, 0.0]
    std = pre.std.flatten().tolist() if enabled else [1.0, 1.0, 1.0]
    return ('RGB' if getattr(pre, 'channel_conversion', False) else 'BGR'), mean, std


def bit_palette(num_classes: int) -> List[List[int]]:
    """The VOC colour map: class ``c``'s colour is built from the bits of ``c``."""
    palette = []
    for c in range(num_classes):
        r = g = b = 0
        for shift in range(8):
            r |= ((c >> (3 * shift)) & 1) << (7 - shift)
            g |= ((c >> (3 * shift + 1)) & 1) << (7 - shift)
            b |= ((c >> (3 * shift + 2)) & 1) << (7 - shift)
        palette.append([r, g, b])
    return palette


def dataset_meta(cfg, num_classes: int) -> Dict:
    """``classes`` and ``palette`` of the config's test dataset (its type's ``METAINFO``, updated
    by the config's ``metainfo``); a config without a test dataset gets ``class_<i>`` names and the
    VOC colour map."""
    from mmseg.registry import DATASETS

    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    cls = DATASETS.get(dataset['type']) if dataset.get('type') else None
    if cls is None:
        return {'classes': [f'class_{i}' for i in range(num_classes)],
                'palette': bit_palette(num_classes), 'source': 'none (no test dataset)'}
    meta = dict(getattr(cls, 'METAINFO', {}))
    meta.update(dataset.get('metainfo') or {})
    meta['source'] = dataset['type']
    return meta


def describe_deployment(model: nn.Module, net: TracedNetwork, config: str, checkpoint: str,
                        checkpoint_sha256: str, backend: str, out_dir: str, model_file: str,
                        input_shape: Sequence[Optional[int]], other_files: Dict[str, str],
                        versions: Dict[str, str], precision: Optional[Dict] = None,
                        class_map: bool = False) -> Dict:
    """The ``deploy.json`` contents for ``model_file`` (written in ``out_dir``); ``precision``:
    what the folder was planned for on the NPU and the agreement measured (none: float32);
    ``class_map``: the network ends with its argmax (int32 class map instead of logits)."""
    cfg = model.cfg
    pre = model.data_preprocessor
    test_cfg = dict(getattr(pre, 'test_cfg', None) or {})
    if test_cfg.get('size') is not None:
        raise InputError(f'{config}: data_preprocessor.test_cfg.size pads every test image to one '
                         'size; the deployment runtime pads to a size divisor only')
    # pad as the config does, and at least to what the network takes ('same': multiples of 32)
    divisor = math.lcm(int(test_cfg.get('size_divisor') or 1), net.size_divisor)
    meta = dataset_meta(cfg, net.num_classes)
    classes = list(meta.get('classes', []))
    if len(classes) != net.num_classes:
        raise InputError(f'{config}: the test dataset has {len(classes)} classes, the model '
                         f'{net.num_classes}')
    palette = [[int(v) for v in c] for c in meta.get('palette', [])][:len(classes)]
    channel_order, mean, std = normalization(model)
    ignore_index = int(getattr(model.decode_head, 'ignore_index', 255))
    return {
        'format': DEPLOY_FORMAT,
        'version': DEPLOY_VERSION,
        'backend': backend,
        'model': {**file_entry(out_dir, model_file), 'input_name': 'input',
                  'output_name': 'output', 'input_shape': list(input_shape)},
        'files': {role: file_entry(out_dir, path) for role, path in other_files.items()},
        'input': {'layout': 'NCHW', 'dtype': 'float32',
                  'channel_order': channel_order, 'mean': mean, 'std': std},
        'size': {**size_policy(cfg, config), 'size_divisor': divisor,
                 'pad_value': float(getattr(pre, 'pad_val', 0)),
                 'pad': 'bottom and right', 'min_size': net.size_divisor,
                 'geometry': net.geometry},
        'output': ({'kind': 'class_map', 'layout': 'NHW', 'dtype': 'integer (ONNX int64, the '
                                                                   '.om and MINDIR int32)',
                    'num_classes': net.num_classes,
                    'size': 'the (padded) input size; the prediction of an H x W image is its '
                            'top-left H x W'} if class_map else
                   {'kind': 'logits', 'layout': 'NCHW', 'num_classes': net.num_classes,
                    'size': 'the (padded) input size; the prediction of an H x W image is the '
                            'argmax over classes of the top-left H x W'}),
        'classes': classes,
        'classes_from': meta['source'],
        'palette': palette,
        'ignore_index': ignore_index,
        'source': {'config': config, 'config_text': cfg.pretty_text,
                   'checkpoint': osp.abspath(checkpoint), 'checkpoint_sha256': checkpoint_sha256},
        'versions': versions,
        'precision': precision or {
            'planned_for': None, 'measured': None,
            'note': 'float32 parity on the CPU only; the NPU computes in float16 by default (run '
                    'the converter with --precision-images for a measured plan)'},
    }
