# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What the command lines show: log lines, progress and tables. The one place for each, with the
standard library only (the deployment host may have no rich or mmengine).

* **Logging**: every module logs through ``logging.getLogger(__name__)``; :func:`configure_logging`
  (called by :func:`~.cli.run_cli` for every command line) prints the project's records as plain
  lines on standard output. A library user's own logging configuration is left alone.
* **Progress**: :class:`Progress` draws ``description [#####.....] done/total, rate, ETA`` on
  standard error (redrawn in place on a terminal; otherwise a line per item, or per twentieth of
  the total for byte counts); :func:`track` wraps an iterable, :func:`track_tasks` maps a function
  over tasks in worker processes.
* **Tables**: :func:`text_table`.
"""
import logging
import sys
import time
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, TypeVar

T = TypeVar('T')
#: The packages whose log records the command lines print.
PROJECT_LOGGERS = ('fcn_voc_core', 'fcn_voc_runtime', 'mmseg_fcn_voc')


class _StdoutHandler(logging.StreamHandler):
    """A handler that writes to the ``sys.stdout`` of the moment (so a test's capture, or a later
    redirection, sees the lines)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


_handler: Optional[logging.Handler] = None


def configure_logging(level: int = logging.INFO) -> None:
    """Print the project's log records (``level`` and above) as plain lines on standard output
    (idempotent)."""
    global _handler
    if _handler is None:
        _handler = _StdoutHandler()
        _handler.setFormatter(logging.Formatter('%(message)s'))
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        if _handler not in logger.handlers:
            logger.addHandler(_handler)
        logger.setLevel(level)
        logger.propagate = False


def text_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(cells) -> str:
        return '| ' + ' | '.join(str(c).rjust(w) if i else str(c).ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + ' |'

    return '\n'.join([rule, line(header), rule, *(line(r) for r in rows), rule])


class Progress:
    """A progress line on ``stream`` (standard error by default).

    Args:
        description: what is counted.
        total: the count at completion (None: unknown).
        unit: ``'it'`` (items) or ``'B'`` (bytes, shown in MB).
    """

    def __init__(self, description: str = '', total: Optional[int] = None, unit: str = 'it',
                 stream=None, width: int = 30):
        self.description, self.total, self.unit, self.width = description, total, unit, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.start = time.perf_counter()
        self.done, self._drawn_at, self._drawn_step = 0, 0.0, -1

    def __enter__(self) -> 'Progress':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, done: int, total: Optional[int] = None) -> None:
        """Set the count (and the total, when it becomes known)."""
        self.done = done
        if total is not None:
            self.total = total
        if self._due():
            self._draw()

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def close(self) -> None:
        if self.done and (self.tty or self._drawn_step != self._step()):
            self._draw()
        if self.tty:
            self.stream.write('\n')
            self.stream.flush()

    def _step(self) -> int:
        """Which twentieth of the total (bytes, or a non-terminal with a total) the count is in."""
        return int(20 * self.done / self.total) if self.total else self.done

    def _due(self) -> bool:
        if self.tty:
            return time.perf_counter() - self._drawn_at >= 0.1 or self.done == self.total
        if self.unit == 'it':
            return True  # one line per item
        return self._step() != self._drawn_step

    def _amount(self, value: float) -> str:
        return f'{value / 1e6:.1f} MB' if self.unit == 'B' else f'{int(value)}'

    def _draw(self) -> None:
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        speed = f'{rate / 1e6:.1f} MB/s' if self.unit == 'B' else f'{rate:.2f} it/s'
        if self.total:
            filled = int(self.width * min(self.done / self.total, 1))
            eta = (self.total - self.done) / rate if rate else 0.0
            line = (f'{self.description} [{"#" * filled}{"." * (self.width - filled)}] '
                    f'{self._amount(self.done)}/{self._amount(self.total)}, {speed}, '
                    f'ETA {eta:.0f} s')
        else:
            line = f'{self.description} {self._amount(self.done)}, {speed}'
        self.stream.write(('\r' + line) if self.tty else line + '\n')
        self.stream.flush()
        self._drawn_at, self._drawn_step = time.perf_counter(), self._step()


def track(items: Iterable[T], total: Optional[int] = None, description: str = '',
          stream=None) -> Iterator[T]:
    """Yield ``items``, counting them on a :class:`Progress` line."""
    total = total if total is not None else (len(items) if hasattr(items, '__len__') else None)
    with Progress(description, total, stream=stream) as bar:
        for item in items:
            yield item
            bar.advance()


def track_tasks(func: Callable, tasks: Sequence, nproc: int = 1,
                description: str = '') -> List:
    """``[func(t) for t in tasks]`` in order, in ``nproc`` worker processes when more than one
    (``multiprocessing``), counted on a :class:`Progress` line."""
    tasks = list(tasks)
    if nproc <= 1 or len(tasks) <= 1:
        return [func(t) for t in track(tasks, description=description)]
    import multiprocessing
    chunksize = 8 if len(tasks) > 64 * nproc else 1
    with multiprocessing.Pool(min(nproc, len(tasks))) as pool:
        return list(track(pool.imap(func, tasks, chunksize), len(tasks), description))
