# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What the export commands share: options from the command line, one pipeline run, the verdict."""
import argparse
from typing import Callable, Optional, Sequence, Type

from fcn_voc_core.cli import EXIT_CHECK_FAILED, EXIT_OK, run_cli


def export_main(argv: Optional[Sequence[str]], prog: str, description: str, options_class: Type,
                backend: Callable[[], Type]) -> int:
    """Parse ``argv`` into ``options_class`` (an :class:`~mmseg_fcn_voc.conversion.options.
    ExportOptions`), run the export pipeline (:func:`~mmseg_fcn_voc.conversion.pipeline.
    run_export`) and return 0 when every check passed, 1 when one failed (2 usage, 3 bad input,
    4 internal error).

    ``backend()`` imports and returns the :class:`~mmseg_fcn_voc.conversion.context.
    ExportBackend` subclass, so that ``--help`` loads no backend library.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    options_class.add_arguments(parser)
    try:
        options = options_class.from_args(parser.parse_args(argv))
    except ValueError as e:  # options that exclude or need each other: a usage error
        parser.error(str(e))

    def convert() -> int:
        from mmseg_fcn_voc.conversion.pipeline import run_export
        chosen = backend()(options)
        report = run_export(chosen)
        print(f'{"PASSED" if report["passed"] else "FAILED"}: parity report in '
              f'{chosen.report_path}')
        return EXIT_OK if report['passed'] else EXIT_CHECK_FAILED

    return run_cli(convert, prog)
