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
from typing import Callable, Dict

import torch

from ..describe import describe_network
from ..importers.common import layout_mismatch_error, state_dict_from_layout, write_checked
from ..model_io import CheckpointError, build_model, inference_state_dict
from ..names import KeyMapError, compare_keys, layout_key_map
from ..references import format_mismatches, tutorial_mismatches
from ..spec import FCNSpec
from .io import is_optimizer_entry, read_mindspore_checkpoint
from .translate import TRANSLATED_LAYOUT, translated_key_map

MINDSPORE_LAYOUTS = ('mindspore_tutorial', 'mindspore')


def import_mindspore_checkpoint(src: str, out: str, config: str,
                                log: Callable[[str], None] = print) -> Dict:
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
    spec = describe_network(model, config)
    arrays = read_mindspore_checkpoint(src)
    ignored = sorted(k for k in arrays if is_optimizer_entry(k))
    weights = {k: torch.from_numpy(a) for k, a in arrays.items() if k not in ignored}

    # Recognise the layout by its names; report against the closest one when none fits.
    candidates = []
    for layout in MINDSPORE_LAYOUTS if isinstance(spec, FCNSpec) else (TRANSLATED_LAYOUT, ):
        try:
            mapping, dropped = translated_key_map(spec, expected) \
                if layout == TRANSLATED_LAYOUT else layout_key_map(expected, layout, config)
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
        why = tutorial_mismatches(spec)
        if why:
            raise CheckpointError(f'{src}: a MindSpore tutorial FCN8s checkpoint, but {config} '
                                  'does not build the tutorial network, so the weights would '
                                  f'compute something else: {format_mismatches(why)}')
    state = state_dict_from_layout(expected, mapping, dropped, weights, src, config, layout)
    meta = dict(converted_from=src, source_layout=layout, config=config,
                ignored_entries=len(ignored))
    write_checked(model, state, out, config, meta)
    log(f'wrote {out}: {len(mapping)} tensors from {layout!r} names'
        + (f', {len(ignored)} optimizer entries ignored' if ignored else ''))
    return dict(layout=layout, tensors=len(mapping), ignored=ignored, out=out)
