# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The exit-status convention of every command line in the project.

===  ==================================================================================
 0   success
 1   a check failed: parity outside its thresholds, problems found by a data check (the
     report or the printed list says which)
 2   usage error: bad or missing arguments (argparse's own status)
 3   bad input: a file or argument that cannot be used (missing, corrupt, tampered,
     another architecture...); one line on stderr names it and says what is wrong
 4   internal error: a bug; the traceback is printed
===  ==================================================================================
"""
import sys
import traceback
from typing import Callable, Optional

from .console import configure_logging
from .errors import InputError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_INTERNAL_ERROR = 4

#: Exceptions reported as bad input: the project's :class:`InputError` and the OS errors about a
#: path the user gave (their message names it).
BAD_INPUT_ERRORS = (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                    PermissionError)


def run_cli(main: Callable[[], Optional[int]], prog: Optional[str] = None) -> int:
    """Run a command line's body and map its outcome to the exit status above.

    ``main()`` returns None or 0 (success) or :data:`EXIT_CHECK_FAILED`; it raises
    :class:`InputError` (or an OS error about a path) for bad input. argparse's ``SystemExit``
    passes through unchanged (status 2 on a usage error). The project's log records are printed
    on standard output (:func:`~.console.configure_logging`).
    """
    prog = prog or 'error'
    configure_logging()
    try:
        code = main()
    except BAD_INPUT_ERRORS as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the last resort: never reuse statuses 0-3 for a bug
        traceback.print_exc()
        print(f'{prog}: internal error (a bug; the traceback is above)', file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return EXIT_OK if code is None else int(code)
