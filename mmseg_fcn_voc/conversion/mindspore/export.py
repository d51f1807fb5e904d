# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""mmseg FCN checkpoint -> MindSpore ``.ckpt`` + MINDIR + ``deploy.json``, with a parity proof.

The library behind ``converters/to_mindspore.py``, on the shared skeleton of
:class:`~..exporter.Exporter`. The MindSpore part:

1. build the cell: the translation of the traced inference network (:mod:`.translate`), its
   parameters named in the layout: the tutorial's FCN8s names when the model is exactly that
   network, the plugin's FCN/VGG names for the other FCN/VGG networks, torch's keys for every
   other network; map every tensor through :mod:`..names` and load it with
   :func:`~.io.load_params_exact` (nothing left at its initial value);
2. save the ``.ckpt`` and read it back bit for bit;
3. export the MINDIR: for any height and width by default (one graph for every image size), or
   for one static size (``input_size``, what ATC and some Ascend tools need); load it back with
   ``mindspore.load`` + ``nn.GraphCell``.

The skeleton then checks the cell (report key ``seeded``) and the MINDIR (``mindir``) against torch.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import mindspore
import numpy as np
import torch

from fcn_voc_core.fileio import atomic_output
from fcn_voc_core.mindspore_cpu import configure_cpu

from ..exporter import Converted, Exported, Exporter
from ..graph import NetworkSpec, TracedNetwork, trace_network
from ..model_io import CheckpointError, inference_state_dict
from ..names import format_keys
from ..options import MindSporeExportOptions
from ..references import format_mismatches, tutorial_mismatches
from ..spec import FCNSpec
from .io import (
    export_mindir,
    load_mindir,
    load_params_exact,
    read_mindspore_checkpoint,
    run_cell,
    save_mindspore_checkpoint,
)
from .translate import TRANSLATED_LAYOUT, build_translated_cell, network_key_map

#: ``layout`` choices: ``auto`` takes the tutorial layout when the model is the tutorial network.
LAYOUT_CHOICES = ('auto', 'mindspore', 'mindspore_tutorial')


def choose_layout(spec: FCNSpec, layout: str = 'auto', what: str = 'the model') -> str:
    """The MindSpore layout for ``spec``: ``'mindspore_tutorial'`` or ``'mindspore'``.

    Raises:
        ValueError: the tutorial layout was asked for a model that is not the tutorial network
            (the message lists why).
    """
    if layout not in LAYOUT_CHOICES:
        raise ValueError(f'unknown layout {layout!r}; expected one of {LAYOUT_CHOICES}')
    mismatches = tutorial_mismatches(spec)
    if layout == 'auto':
        return 'mindspore' if mismatches else 'mindspore_tutorial'
    if layout == 'mindspore_tutorial' and mismatches:
        raise CheckpointError(f'{what} is not the MindSpore tutorial FCN8s: '
                              f'{format_mismatches(mismatches)}')
    return layout


def check_saved(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Read a written ``.ckpt`` back and require exactly ``arrays`` (names, shapes, bits)."""
    saved = read_mindspore_checkpoint(path)
    if set(saved) != set(arrays):
        raise CheckpointError(f'{path}: written with other names than converted: '
                              f'{format_keys(sorted(set(saved) ^ set(arrays)))}')
    differ = [k for k, a in arrays.items() if not np.array_equal(saved[k], a)]
    if differ:
        raise CheckpointError(f'{path}: tensors changed while writing: {format_keys(differ)}')


@dataclass
class ConvertedCheckpoint:
    """The outcome of :func:`convert_checkpoint`."""
    cell: object
    spec: NetworkSpec
    layout: str
    arrays: Dict[str, np.ndarray]
    dropped: List[str]
    tutorial_mismatches: List[str] = field(default_factory=list)


def convert_checkpoint(model: torch.nn.Module, spec: NetworkSpec, out_ckpt: str,
                       layout: str = 'auto', what: str = 'the model',
                       source_file: Optional[str] = None) -> ConvertedCheckpoint:
    """Convert a loaded torch model (described by ``spec``, see
    :func:`~..describe.describe_network`) into a MindSpore cell and write its ``.ckpt`` (checked).

    Every network is translated (:mod:`.translate`: the traced graph, ``spec`` itself or traced
    here for the FCN/VGG networks), its generated class written to ``source_file``. The FCN/VGG
    networks keep their layouts (:func:`choose_layout`), every other one is ``'translated'``
    (torch's keys with MindSpore's BN names)."""
    if isinstance(spec, TracedNetwork):
        if layout not in ('auto', 'mindspore'):
            raise CheckpointError(f'{what} ({spec.summary}) is not the MindSpore tutorial FCN8s: '
                                  'only the FCN/VGG networks have that layout')
        net, layout, mismatches = spec, TRANSLATED_LAYOUT, ['not an FCN/VGG network']
    else:
        layout = choose_layout(spec, layout, what)
        net, mismatches = trace_network(model, what), tutorial_mismatches(spec)
    state = inference_state_dict(model)
    mapping, dropped = network_key_map(net, state.keys(), layout, what)
    arrays = {name: state[key].detach().cpu().contiguous().numpy()
              for key, name in mapping.items()}
    cell = build_translated_cell(net, source_file, layout=layout)
    load_params_exact(cell, arrays, what)
    save_mindspore_checkpoint(cell, out_ckpt)
    check_saved(out_ckpt, arrays)
    return ConvertedCheckpoint(cell, spec, layout, arrays, dropped, mismatches)


class MindSporeExporter(Exporter):
    """``<name>.ckpt`` + ``<name>.mindir`` + ``deploy.json`` + ``parity.json`` (see the module),
    for :class:`~..options.MindSporeExportOptions`."""

    backend = 'mindspore'
    report_file = 'parity.json'
    options_class = MindSporeExportOptions

    def __init__(self, options: MindSporeExportOptions, log=print):
        super().__init__(options, log)
        self.cpu_setup = configure_cpu()  # before any MindSpore kernel runs
        if options.device_target:
            mindspore.set_context(device_target=options.device_target)

    def versions(self) -> Dict[str, str]:
        return {**super().versions(), 'mindspore': mindspore.__version__}

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """MindSpore Lite's language: ``mslite_ascend.cfg`` with ``[ascend_context]``. Lite takes one
        precision mode for the whole graph: ``enforce_fp16`` (its default) when the plan keeps
        nothing, else ``preferred_fp32`` (float32 wherever an operator has a float32 kernel: at
        least the plan's layers, at a cost in speed)."""
        mode = 'preferred_fp32' if plan['keep_fp32'] else 'enforce_fp16'
        path = self.path('_mslite_ascend.cfg')
        with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.write('# converter_lite --fmk=MINDIR --optimize=ascend_oriented --configFile=<this>\n'
                    f'# measured plan (precision.json): keep_fp32 = {plan["keep_fp32"]}\n'
                    '[ascend_context]\n'
                    f'precision_mode={mode}\n')
        return {'mindspore_lite': path}

    def export(self, model: torch.nn.Module, spec: NetworkSpec) -> Exported:
        o = self.options
        ckpt = self.path('.ckpt')
        conv = convert_checkpoint(model, spec, ckpt, o.layout, o.config,
                                  self.path('_network.py'))
        self.log(f'wrote {ckpt}: {len(conv.arrays)} tensors, layout {conv.layout!r}')
        converted = [Converted('seeded', lambda x: run_cell(conv.cell, x))]
        shape = [1, 3, *(o.input_size or (None, None))]
        model_file = None  # a .ckpt alone is not deployable (the runtime has no network code)
        if o.mindir:
            model_file = export_mindir(conv.cell, shape, self.path('.mindir'))
            graph = load_mindir(model_file)
            converted.append(Converted('mindir', lambda x: run_cell(graph, x), o.input_size))
            self.log(f'wrote {model_file} (input {shape})')
        facts = {
            'layout': conv.layout,
            'tutorial_mismatches': conv.tutorial_mismatches,
            'ckpt': ckpt,
            'mindir_file': model_file,
            'tensors': len(conv.arrays),
            'values': int(sum(a.size for a in conv.arrays.values())),
            'not_stored': conv.dropped,
            'mindspore_cpu_setup': self.cpu_setup,
        }
        files = {'weights': ckpt, 'mindspore_network': self.path('_network.py')}
        return Exported(model_file, shape, converted, files, facts)
