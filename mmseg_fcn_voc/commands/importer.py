# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The one command line of every importer: ``SRC OUT`` plus the importer's own options.

An importer is a function ``importer(src, out, **options) -> report`` that raises
:class:`~fcn_voc_core.errors.InputError` (exit status 3) when it cannot convert.
"""
import argparse
import importlib
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from fcn_voc_core.cli import run_cli
from fcn_voc_core.fileio import SHA256_SUFFIX
from fcn_voc_core.output_guard import check_outputs_apart


@dataclass(frozen=True)
class ImportCommand:
    """An importer's command line.

    Attributes:
        prog, description: for ``--help``.
        src_help: what ``SRC`` is.
        importer: ``'module:function'`` of the importer, imported when the command runs (so
            ``--help`` stays light).
        options: ``(flags, argparse keywords)`` of the importer's keyword arguments.
    """
    prog: str
    description: str
    src_help: str
    importer: str
    options: Tuple[Tuple[Tuple[str, ...], dict], ...] = ()


def import_main(argv: Optional[Sequence[str]], command: ImportCommand) -> int:
    parser = argparse.ArgumentParser(prog=command.prog, description=command.description)
    parser.add_argument('src', help=command.src_help)
    parser.add_argument('out', help='checkpoint to write (.pth; a .sha256 sidecar beside)')
    for flags, kwargs in command.options:
        parser.add_argument(*flags, **kwargs)
    args = vars(parser.parse_args(argv))
    src, out = args.pop('src'), args.pop('out')

    def run() -> None:
        check_outputs_apart({'OUT': out, 'OUT.sha256': f'{out}{SHA256_SUFFIX}'},
                            {'SRC': src, '--config': args.get('config')})
        module, function = command.importer.split(':')
        getattr(importlib.import_module(module), function)(src, out, **args)

    return run_cli(run, command.prog)


def _config(example: str) -> Tuple[Tuple[str, ...], dict]:
    """``--config``: the model config the checkpoint is for."""
    return ('--config', ), dict(required=True, help=f'model config, e.g. {example}')


#: Every importer command, by its module in this package (each module's ``main`` runs its entry).
IMPORT_COMMANDS = {
    'from_mindspore': ImportCommand(
        'from_mindspore.py', 'MindSpore FCN .ckpt -> mmseg checkpoint',
        'MindSpore checkpoint (.ckpt)',
        'mmseg_fcn_voc.conversion.mindspore.importer:import_mindspore_checkpoint',
        (_config('configs/fcn8s_vgg16bn_voc.py'), )),
    'from_torchfcn': ImportCommand(
        'from_torchfcn.py', 'torchfcn / Caffe-release FCN -> mmseg checkpoint',
        'torchfcn-layout checkpoint (.pth)',
        'mmseg_fcn_voc.conversion.importers.torchfcn:import_torchfcn_checkpoint',
        (_config('configs/fcn8s_vgg16_voc.py (a Caffe-geometry config)'), )),
    'vgg2mmseg': ImportCommand(
        'vgg2mmseg.py', 'VGG-16 ImageNet weights -> FCNVGG backbone checkpoint',
        'VGG-16 state dict (.pth) in torchvision key layout',
        'mmseg_fcn_voc.conversion.importers.vgg16:import_vgg16_checkpoint',
        ((('--source', ), dict(choices=('torchvision', 'caffe'), required=True,
                               help='input format the source weights expect (see '
                               'mmseg_fcn_voc.commands.vgg2mmseg)')), )),
}
