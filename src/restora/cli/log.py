"""Messages of the command line through the standard ``logging`` module, on the ``restora`` logger.

Notes and results (INFO) go to stdout; warnings and errors to stderr as one line each,
``restora: warning: ...`` / ``restora: error: ...``; ``-q`` sets the level to WARNING. Under torchrun
only rank 0 prints notes (every rank prints its errors). A traceback is shown with ``--debug`` only:
error sites pass the exception and the formatter drops it unless told otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator

from restora.errors import RestoraError

LOG = logging.getLogger("restora")


class UsageError(RestoraError):
    """A problem with how the command is given that shows only once an input is looked at (e.g. a task
    that needs sidecars): the run stops with exit 2 instead of failing that input alone."""

PROGRESS = logging.INFO + 5
"""Level of periodic progress lines (stderr), between notes and warnings."""


class _Formatter(logging.Formatter):
    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            text = f"restora: error: {msg}"
        elif record.levelno >= logging.WARNING:
            text = f"restora: warning: {msg}"
        elif record.levelno == PROGRESS:
            text = f"restora: progress {msg}"
        else:
            text = msg
        if self.debug and record.exc_info:
            text = self.formatException(record.exc_info) + "\n" + text
        return text


class _RankFilter(logging.Filter):
    """Drops notes and progress off rank 0 (errors and warnings pass on every rank)."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        return self.rank == 0 or record.levelno >= logging.WARNING


def setup(*, quiet: bool = False, debug: bool = False, rank: int = 0) -> None:
    """(Re)configure the ``restora`` logger for one command: the handlers write to the current
    sys.stdout / sys.stderr (so captured streams in tests see them)."""
    for handler in list(LOG.handlers):
        LOG.removeHandler(handler)
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(lambda r: r.levelno < PROGRESS)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(PROGRESS)
    for handler in (out, err):
        handler.setFormatter(_Formatter(debug))
        handler.addFilter(_RankFilter(rank))
        LOG.addHandler(handler)
    LOG.setLevel(logging.WARNING if quiet else logging.INFO)
    LOG.propagate = False


def set_rank(rank: int) -> None:
    """The torchrun rank of this process, once it is known."""
    for handler in LOG.handlers:
        for f in handler.filters:
            if isinstance(f, _RankFilter):
                f.rank = rank


def one_line(exc: BaseException | str) -> str:
    """An exception as one line (its type is named unless it is a RestoraError or an OSError)."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, BaseException) and not isinstance(exc, RestoraError | OSError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or "unknown error"


def error(exc: BaseException | str, where: str = "") -> str:
    """Report one failure as one line (the traceback too under --debug) and return its text. A
    RestoraError's further lines are hints: they follow, indented, under the error line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    hints = lines[1:] if isinstance(exc, RestoraError) else []
    msg = lines[0] if hints else one_line(exc)
    if where and where not in msg:
        msg = f"{where}: {msg}"
    info = exc if isinstance(exc, BaseException) else None
    LOG.error(msg + "".join(f"\n  {h}" for h in hints), exc_info=info)
    return msg


@contextlib.contextmanager
def forward_warnings(prefix: str = "") -> Iterator[None]:
    """Library warnings (e.g. 'alpha channel dropped') as one ``restora: warning:`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, UserWarning | RuntimeWarning):
            text = str(w.message)
            name = prefix.rstrip(": ")
            LOG.warning(text if name and text.startswith(name) else f"{prefix}{text}")
