# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What the ``converters/*.py`` command lines share: parity options and the exit-status contract.

Exit status: 0 success, 1 a parity check failed (the report says which), 2 the checkpoint or model
cannot be converted (the message, on stderr, names the file and the problem).
"""
import argparse
import sys
from typing import Callable, Optional, Sequence

from . import CONVERSION_ERRORS
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
    parser.add_argument('--seed', type=int, default=0, help='seed of the random parity input')


def thresholds_from(args: argparse.Namespace) -> ParityThresholds:
    return ParityThresholds(args.max_rel_error, args.min_argmax_agreement)


def run_refusing(convert: Callable[[], Optional[dict]], report_file: Optional[str] = None) -> int:
    """Run ``convert()``: 2 (and the message) on a conversion error; for a returned parity report,
    1 when it did not pass; else 0."""
    try:
        report = convert()
    except CONVERSION_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if report is None:
        return 0
    print(f'{"PASSED" if report["passed"] else "FAILED"}: parity report in {report_file}')
    return 0 if report['passed'] else 1


def import_main(argv: Optional[Sequence[str]], description: str, src_help: str, config_help: str,
                importer: Callable[..., dict]) -> int:
    """The command line of an importer ``importer(src, out, config)`` (``from_*.py``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=src_help)
    parser.add_argument('out', help='mmseg checkpoint to write (.pth)')
    parser.add_argument('--config', required=True, help=config_help)
    args = parser.parse_args(argv)

    def convert():
        importer(args.src, args.out, args.config)  # raises when it cannot convert exactly

    return run_refusing(convert)
