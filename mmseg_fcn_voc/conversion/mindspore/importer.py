# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore FCN checkpoint -> mmseg checkpoint; the library of ``converters/from_mindspore.py``.

Reads the MindSpore tutorial / model-zoo FCN8s checkpoints (``conv1.0.weight``, ``conv1.1.gamma``,
... ``upscore8.weight``) and the ``.ckpt`` files ``to_mindspore`` writes in the plugin layout
(``backbone.conv1_1.conv.weight``, ...), and those of every other network it translates (torch's keys
with MindSpore's BN names, :mod:`.translate`). Optimizer and training-loop entries (``moments.*``,
``learning_rate``, ``global_step``, ...) are ignored and counted; every network tensor must be
present with the config's shapes, and nothing else. A tutorial checkpoint is accepted only for a
config whose model computes what the tutorial network computes (``configs/fcn8s_vgg16bn_voc.py``).
"""
import logging
from typing import Dict

import torch

from ..checkpoint import CheckpointError, build_model, inference_state_dict
from ..importers.common import layout_mismatch_error, state_dict_from_layout, write_checked
from ..network.layouts import TRANSLATED_LAYOUT, KeyMapError, compare_keys, network_key_map
from ..network.references import format_mismatches, is_fcn_vgg, tutorial_mismatches
from ..network.trace import trace_network
from .io import is_optimizer_entry, read_mindspore_checkpoint

logger = logging.getLogger(__name__)

MINDSPORE_LAYOUTS = ('mindspore_tutorial', 'mindspore')


def import_mindspore_checkpoint(src: str, out: str, config: str) -> Dict:
    """Convert the MindSpore checkpoint ``src`` into the mmseg checkpoint ``out`` for ``config``.

    Returns:
        A report: ``layout`` recognised, ``tensors`` written, ``ignored`` optimizer entries.

    Raises:
        CheckpointError: ``src`` is missing, truncated, corrupted or holds NaN/Inf; its tensors do
            not match the config's model (missing and unexpected names listed, or wrong shapes);
            or it is a tutorial checkpoint for a config that is not the tutorial network.
    """
    model = build_model(config)
    expected = inference_state_dict(model)
    net = trace_network(model, config)
    arrays = read_mindspore_checkpoint(src)
    ignored = sorted(k for k in arrays if is_optimizer_entry(k))
    weights = {k: torch.from_numpy(a) for k, a in arrays.items() if k not in ignored}

    # Recognise the layout by its names; report against the closest one when none fits.
    candidates = []
    for layout in MINDSPORE_LAYOUTS if is_fcn_vgg(net) else (TRANSLATED_LAYOUT, ):
        try:
            mapping, dropped = network_key_map(net, expected, layout, config)
        except KeyMapError:
            continue
        missing, unexpected = compare_keys(mapping.values(), weights)
        candidates.append((len(missing) + len(unexpected), layout, mapping, dropped, missing,
                           unexpected))
    if not candidates:
        raise CheckpointError(f'{config}: its model has tensors no MindSpore layout holds')
    _, layout, mapping, dropped, missing, unexpected = min(candidates, key=lambda c: c[0])
    if missing or unexpected:
        raise layout_mismatch_error(src, config, layout, missing, unexpected)
    if layout == 'mindspore_tutorial':
        why = tutorial_mismatches(net)
        if why:
            raise CheckpointError(f'{src}: a MindSpore tutorial FCN8s checkpoint, but {config} '
                                  'does not build the tutorial network, so the weights would '
                                  f'compute something else: {format_mismatches(why)}')
    state = state_dict_from_layout(expected, mapping, dropped, weights, src, config, layout)
    meta = dict(converted_from=src, source_layout=layout, config=config,
                ignored_entries=len(ignored))
    write_checked(model, state, out, config, meta)
    logger.info(f'wrote {out}: {len(mapping)} tensors from {layout!r} names'
        + (f', {len(ignored)} optimizer entries ignored' if ignored else ''))
    return dict(layout=layout, tensors=len(mapping), ignored=ignored, out=out)
