# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A dependency-free progress bar for the runtime (the host may have no rich or mmengine)."""
import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar('T')


def track(items: Iterable[T], total: Optional[int] = None, description: str = '',
          stream=None, width: int = 30) -> Iterator[T]:
    """Yield ``items``, drawing ``description [#####.....] i/total, rate, ETA`` on ``stream``
    (stderr by default; one line per item when it is not a terminal)."""
    stream = stream or sys.stderr
    total = total if total is not None else (len(items) if hasattr(items, '__len__') else None)
    tty = hasattr(stream, 'isatty') and stream.isatty()
    start = time.perf_counter()
    done = 0
    for item in items:
        yield item
        done += 1
        elapsed = time.perf_counter() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        if total:
            filled = int(width * done / total)
            eta = (total - done) / rate if rate else 0.0
            line = (f'{description} [{"#" * filled}{"." * (width - filled)}] {done}/{total}, '
                    f'{rate:.2f} it/s, ETA {eta:.0f} s')
        else:
            line = f'{description} {done}, {rate:.2f} it/s'
        stream.write(('\r' + line) if tty else line + '\n')
        stream.flush()
    if tty:
        stream.write('\n')
        stream.flush()
