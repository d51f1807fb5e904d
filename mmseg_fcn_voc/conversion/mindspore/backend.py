# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The MindSpore backend of the export pipeline: mmseg FCN checkpoint -> MindSpore ``.ckpt`` +
MINDIR, run with MindSpore by the checks.

The library behind ``converters/to_mindspore.py`` (:func:`~..pipeline.run_export` with
:class:`MindSporeBackend`):

1. build the cell: the translation of the traced inference network (:mod:`.translate`), its
   parameters named in the layout: the tutorial's FCN8s names when the model is exactly that
   network, the plugin's FCN/VGG names for the other FCN/VGG networks, torch's keys for every
   other network (:mod:`..network.layouts`); load every tensor with
   :func:`~.io.load_params_exact` (nothing left at its initial value);
2. save the ``.ckpt`` and read it back bit for bit;
3. export the MINDIR: for any height and width by default (one graph for every image size), or
   for one static size (``input_size``, what ATC and some Ascend tools need); load it back with
   ``mindspore.load`` + ``nn.GraphCell``.

The parity check then compares the cell (report key ``seeded``) and the MINDIR (``mindir``) with
torch.
"""
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import mindspore
import numpy as np
import torch

from fcn_voc_core.fileio import atomic_output
from fcn_voc_core.mindspore_cpu import configure_cpu

from ..aipp import aipp_description, aipp_file, write_aipp_configs
from ..checkpoint import CheckpointError, inference_state_dict
from ..context import Converted, ExportBackend, ExportContext, Exported
from ..deploy_info import normalization
from ..network.layouts import TRANSLATED_LAYOUT, format_keys, network_key_map
from ..network.references import format_mismatches, is_fcn_vgg, tutorial_mismatches
from ..network.trace import TracedNetwork
from ..options import MindSporeExportOptions
from .io import (
    export_mindir,
    load_mindir,
    load_params_exact,
    read_mindspore_checkpoint,
    run_cell,
    save_mindspore_checkpoint,
)
from .translate import build_translated_cell

logger = logging.getLogger(__name__)
#: ``layout`` choices: ``auto`` takes the tutorial layout when the model is the tutorial network.
LAYOUT_CHOICES = ('auto', 'mindspore', 'mindspore_tutorial')


def choose_layout(net: TracedNetwork, layout: str = 'auto', what: str = 'the model') -> str:
    """The MindSpore layout for ``net``: ``'mindspore_tutorial'`` or ``'mindspore'`` for the
    FCN/VGG networks, ``'translated'`` for every other network.

    Raises:
        CheckpointError: a layout the network cannot have (the tutorial layout for a model that
            is not the tutorial network: the message lists why).
    """
    if layout not in LAYOUT_CHOICES:
        raise ValueError(f'unknown layout {layout!r}; expected one of {LAYOUT_CHOICES}')
    if not is_fcn_vgg(net):
        if layout not in ('auto', 'mindspore'):
            raise CheckpointError(f'{what} ({net.summary}) is not the MindSpore tutorial FCN8s: '
                                  'only the FCN/VGG networks have that layout')
        return TRANSLATED_LAYOUT
    mismatches = tutorial_mismatches(net)
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
    layout: str
    arrays: Dict[str, np.ndarray]
    dropped: List[str]
    tutorial_mismatches: List[str] = field(default_factory=list)


def convert_checkpoint(model: torch.nn.Module, net: TracedNetwork, out_ckpt: str,
                       layout: str = 'auto', what: str = 'the model',
                       source_file: Optional[str] = None) -> ConvertedCheckpoint:
    """Convert a loaded torch model (traced as ``net``) into a MindSpore cell and write its
    ``.ckpt`` (checked): the translation of ``net`` (:mod:`.translate`), its generated class
    written to ``source_file``, its parameters named in the layout of :func:`choose_layout`."""
    layout = choose_layout(net, layout, what)
    mismatches = tutorial_mismatches(net) if is_fcn_vgg(net) else ['not an FCN/VGG network']
    state = inference_state_dict(model)
    mapping, dropped = network_key_map(net, state.keys(), layout, what)
    arrays = {name: state[key].detach().cpu().contiguous().numpy()
              for key, name in mapping.items()}
    cell = build_translated_cell(net, source_file, layout=layout)
    load_params_exact(cell, arrays, what)
    save_mindspore_checkpoint(cell, out_ckpt)
    check_saved(out_ckpt, arrays)
    return ConvertedCheckpoint(cell, layout, arrays, dropped, mismatches)


class ArgmaxNetwork(mindspore.nn.Cell):
    """``net`` followed by the argmax over the classes: (N, 3, H, W) -> (N, H, W) int32."""

    def __init__(self, net):
        super().__init__(auto_prefix=False)  # the parameters keep the names of the .ckpt
        self.net = net
        self.argmax = mindspore.ops.Argmax(axis=1, output_type=mindspore.int32)

    def construct(self, x):
        return self.argmax(self.net(x))


class MindSporeBackend(ExportBackend):
    """``<name>.ckpt`` + ``<name>_network.py`` + ``<name>.mindir`` (see the module), for
    :class:`~..options.MindSporeExportOptions`. Report: ``parity.json``."""

    name = 'mindspore'
    report_file = 'parity.json'
    options_class = MindSporeExportOptions

    def __init__(self, options: MindSporeExportOptions):
        super().__init__(options)
        self.cpu_setup = configure_cpu()  # before any MindSpore kernel runs
        if options.device_target:
            mindspore.set_context(device_target=options.device_target)

    def versions(self) -> Dict[str, str]:
        return {**super().versions(), 'mindspore': mindspore.__version__}

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """MindSpore Lite's language: ``<name>_mslite_ascend.cfg`` with ``[ascend_context]``.
        Lite takes one precision mode for the whole graph: ``enforce_fp16`` (its default) when the
        plan keeps nothing, else ``preferred_fp32`` (float32 wherever an operator has a float32
        kernel: at least the plan's layers, at a cost in speed)."""
        mode = 'preferred_fp32' if plan['keep_fp32'] else 'enforce_fp16'
        return {'mindspore_lite': self.write_lite_config(
            f'# measured plan (precision.json): keep_fp32 = {plan["keep_fp32"]}\n', mode)}

    def write_lite_config(self, comment: str = '', precision_mode: str = None) -> str:
        """``<name>_mslite_ascend.cfg``: MindSpore Lite's ``[ascend_context]`` for converting the
        MINDIR on an Ascend host: the precision mode of a measured plan, and with ``aipp`` the
        AIPP configuration (``insert_op_config_file_path``)."""
        o = self.options
        path = osp.join(o.out_dir, f'{o.name}_mslite_ascend.cfg')
        lines = ['[ascend_context]\n']
        if precision_mode:
            lines.append(f'precision_mode={precision_mode}\n')
        if o.aipp:
            lines.append(f'insert_op_config_file_path={aipp_file(o.input_size)}\n')
        with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.write('# converter_lite --fmk=MINDIR --optimize=ascend_oriented --configFile=<this>\n'
                    + comment + ''.join(lines))
        return path

    def export(self, context: ExportContext) -> Exported:
        o = self.options
        ckpt = context.path('.ckpt')
        conv = convert_checkpoint(context.model, context.net, ckpt, o.layout, o.config,
                                  context.path('_network.py'))
        logger.info(f'wrote {ckpt}: {len(conv.arrays)} tensors, layout {conv.layout!r}')
        converted = [Converted('seeded', lambda x: run_cell(conv.cell, x))]
        shape = [1, 3, *(o.input_size or (None, None))]
        model_file = None  # a .ckpt alone is not deployable (the runtime has no network code)
        if o.mindir:
            exported_cell = ArgmaxNetwork(conv.cell) if o.with_argmax else conv.cell
            model_file = export_mindir(exported_cell, shape, context.path('.mindir'))
            graph = load_mindir(model_file)
            twin = (lambda x: run_cell(conv.cell, x)) if o.with_argmax else None
            converted.append(Converted('mindir', lambda x: run_cell(graph, x), o.input_size,
                                       twin))
            logger.info(f'wrote {model_file} (input {shape}'
                        f'{"; ending with the argmax" if o.with_argmax else ""})')
        facts = {
            'layout': conv.layout, 'tutorial_mismatches': conv.tutorial_mismatches, 'ckpt': ckpt,
            'mindir_file': model_file, 'tensors': len(conv.arrays),
            'values': int(sum(a.size for a in conv.arrays.values())),
            'not_stored': conv.dropped, 'mindspore_cpu_setup': self.cpu_setup,
        }
        files = {'weights': ckpt, 'mindspore_network': context.path('_network.py')}
        exported = Exported(model_file, shape, converted, files, facts)
        if o.aipp:  # for MindSpore Lite on the NPU; the MINDIR itself takes the float32 input
            order, mean, std = normalization(context.model)
            files.update(write_aipp_configs(o.out_dir, [o.input_size], order, mean, std))
            files['mindspore_lite'] = self.write_lite_config(
                '# AIPP: the converted model takes uint8 RGB pixels of the static size\n')
            exported.deploy['aipp'] = {**aipp_description([o.input_size], order, mean, std),
                                       'valid_size_input': None, 'applies_to': 'MindSpore Lite'}
        return exported
