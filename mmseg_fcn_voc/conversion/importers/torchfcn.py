# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The authors' FCN release in torchfcn naming -> mmseg checkpoints for the Caffe-geometry configs.

The library behind ``converters/from_torchfcn.py``. torchfcn (``fcn32s_from_caffe.pth``,
``fcn16s_from_caffe.pth``, ``fcn8s_from_caffe.pth``, ``fcn8s-atonce_from_caffe.pth`` and its own
training checkpoints under ``model_state_dict``) names the layers as the Caffe prototxts do::

    conv1_1.weight (64, 3, 3, 3) ... conv5_3.bias, fc6.weight (4096, 512, 7, 7), fc7.weight
    (4096, 4096, 1, 1), score_fr.weight (21, 4096, 1, 1), score_pool4.*, score_pool3.*,
    upscore2.weight (21, 21, 4, 4), upscore_pool4.weight, upscore8.weight (21, 21, 16, 16)
    FCN-16s: upscore16.weight (21, 21, 32, 32); FCN-32s: upscore.weight (21, 21, 64, 64)

The config must build the network those weights were trained in (Caffe geometry, conv biases, no
BN); the FCN variant is told by the names, so an FCN-16s file for an FCN-8s config is refused with
the missing (``score_pool3``, ``upscore_pool4``, ``upscore8``) and unexpected (``upscore16``) keys.
FCN-8s and FCN-8s at-once have the same names: the at-once file belongs with a config that sets
``skip_scales=(0.01, 0.0001)``, which only the file's origin can tell.
"""
import logging
import os.path as osp
import re
from typing import Dict

from ..checkpoint import CheckpointError, build_model, inference_state_dict, load_state_dict_file
from ..network.layouts import layout_key_map
from ..network.references import caffe_release_mismatches, format_mismatches
from ..network.trace import trace_network
from .common import state_dict_from_layout, write_checked

logger = logging.getLogger(__name__)


def import_torchfcn_checkpoint(src: str, out: str, config: str) -> Dict:
    """Convert the torchfcn-layout checkpoint ``src`` into the mmseg checkpoint ``out``.

    Returns:
        A report: ``tensors`` written and any ``warnings``.

    Raises:
        CheckpointError: ``src`` is missing, truncated, tampered or holds NaN/Inf; ``config``'s
            model is not the Caffe network (the differences listed) or holds tensors the release
            lacks (BN); the names differ (missing and unexpected keys listed); a shape differs.
    """
    model = build_model(config)
    expected = inference_state_dict(model)
    why = caffe_release_mismatches(trace_network(model, config))
    if why:
        raise CheckpointError(f'{config}: does not build the network of the Caffe FCN release, so '
                              f'{src} cannot be loaded into it: {format_mismatches(why)}')
    mapping, dropped = layout_key_map(expected, 'torchfcn', config)
    tensors = load_state_dict_file(src)  # DDP's 'module.' prefix removed
    state = state_dict_from_layout(expected, mapping, dropped, tensors, src, config, 'torchfcn')
    warnings = []
    at_once_file = bool(re.search(r'at-?once', osp.basename(src), re.IGNORECASE))
    at_once_config = any(s is not None for s in model.decode_head.skip_scales)
    if at_once_file != at_once_config:
        warnings.append(
            f'{src} looks like {"an at-once" if at_once_file else "a staged"} FCN-8s file but '
            f'{config} {"does not set" if at_once_file else "sets"} skip_scales; FCN-8s at-once '
            'weights need skip_scales=(0.01, 0.0001), staged ones none')
        logger.warning(f'warning: {warnings[-1]}')
    write_checked(model, state, out, config,
                  dict(converted_from=src, source_layout='torchfcn', config=config))
    logger.info(f'wrote {out}: {len(mapping)} tensors from torchfcn names')
    return dict(tensors=len(mapping), warnings=warnings, out=out)
