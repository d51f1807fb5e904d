# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What the ``converters/*.py`` command lines share: parity options and the import command line.

Exit statuses follow :mod:`fcn_voc_runtime.cli` (0 success, 1 a parity check failed, 2 usage,
3 bad input naming the file, 4 internal error).
"""
import argparse
from typing import Callable, Optional, Sequence

from fcn_voc_runtime.cli import EXIT_CHECK_FAILED, EXIT_OK, run_cli

from .parity import ParityThresholds


def add_parity_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--max-rel-error``, ``--min-argmax-agreement`` and ``--seed``; ``what`` names the
    converted network in the help (``ms``, ``onnx``)."""
    defaults = ParityThresholds()
    parser.add_argument('--max-rel-error', type=float, default=defaults.max_rel_error,
                        help=f'max |{what} - torch| / max |torch| (default %(default)g)')
    parser.add_argument('--min-argmax-agreement', type=float,
                        default=defaults.min_argmax_agreement,
                        help='fraction of pixels with the same class (default %(default)g)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random parity inputs')


def thresholds_from(args: argparse.Namespace) -> ParityThresholds:
    return ParityThresholds(args.max_rel_error, args.min_argmax_agreement)


def report_status(report: dict, report_file: str) -> int:
    """Print the verdict of a parity report; 0 when it passed, 1 when not."""
    print(f'{"PASSED" if report["passed"] else "FAILED"}: parity report in {report_file}')
    return EXIT_OK if report['passed'] else EXIT_CHECK_FAILED


def import_main(argv: Optional[Sequence[str]], prog: str, description: str, src_help: str,
                config_help: str, importer: Callable[..., dict]) -> int:
    """The command line of an importer ``importer(src, out, config)`` (``from_*.py``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument('src', help=src_help)
    parser.add_argument('out', help='mmseg checkpoint to write (.pth; a .sha256 sidecar beside)')
    parser.add_argument('--config', required=True, help=config_help)
    args = parser.parse_args(argv)

    def run() -> None:
        importer(args.src, args.out, args.config)  # raises InputError when it cannot convert

    return run_cli(run, prog)
