"""The ``bo-nas`` command line: run, resume, status, export, plot, dashboard, bench, data."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

#: Exit statuses, also listed in ``bo-nas --help`` and the README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_STORE_LOCKED = 3
EXIT_STORE_VERSION = 4
EXIT_MISSING_DATA = 5
EXIT_NO_RESULT = 6
EXIT_CANNOT_WRITE = 7
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_HANGUP = 129
EXIT_BROKEN_PIPE = 141

#: (status, meaning): the table in ``bo-nas --help`` and the README.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_ERROR, "unexpected error (a bug: --verbose shows the traceback)"),
    (EXIT_USAGE, "bad arguments or input: a flag, a --config file, a benchmark table, a "
                 "file that is not a campaign store (empty, cut short, another file), a "
                 "store that does not exist or already exists"),
    (EXIT_STORE_LOCKED, "store in use by another campaign"),
    (EXIT_STORE_VERSION, "store from another version of bo-nas"),
    (EXIT_MISSING_DATA, "missing data: benchmark data directory or table, CIFAR batches"),
    (EXIT_NO_RESULT, "the campaign ended without one successful evaluation"),
    (EXIT_CANNOT_WRITE, "cannot write: the store, its folder or an output file is "
                        "read-only, or the disk is full"),
    (EXIT_HANGUP, "stopped by SIGHUP (terminal closed); the store is resumable"),
    (EXIT_INTERRUPTED, "interrupted by Ctrl-C (SIGINT); the store is resumable"),
    (EXIT_BROKEN_PIPE, "output closed early (e.g. `bo-nas export ... | head`)"),
    (EXIT_TERMINATED, "stopped by SIGTERM; the store is resumable"),
)


class OutputError(Exception):
    """A file the command writes (an export, a figure, the output folder) cannot be written."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, like Ctrl-C's KeyboardInterrupt,
    so that the campaign stops the same way (its store stays resumable)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupted_status(exc: BaseException) -> int:
    """The exit status of an interruption: 128 + the signal's number."""
    return 128 + exc.signum if isinstance(exc, Stopped) else EXIT_INTERRUPTED


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into `Stopped` for the command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # a platform without it
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _logging(quiet: bool, verbose: bool) -> Iterator[None]:
    """Log bo-nas messages to stderr for the command, then restore the logger as it was
    (``main`` is also called in-process, by tests and by users' scripts)."""
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bo-nas: %(levelname)s: %(message)s"))
    log = logging.getLogger("bo_nas")
    saved = (log.handlers[:], log.level, log.propagate)
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    try:
        yield
    finally:
        log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


#: Command -> (module, function). Only the chosen command's module is imported, so
#: ``bo-nas status`` reads a store without loading BoTorch and the strategies.
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("._run", "cmd_run"),
    "resume": ("._run", "cmd_resume"),
    "status": ("._inspect", "cmd_status"),
    "export": ("._inspect", "cmd_export"),
    "plot": ("._inspect", "cmd_plot"),
    "dashboard": ("._dashboard", "cmd_dashboard"),
    "bench": ("._bench", "cmd_bench"),
    "data": ("._data", "cmd_data"),
}


def _command(name: str) -> Callable[..., int]:
    """The function that runs command ``name``, its module imported on demand."""
    module, function = _COMMANDS[name]
    return getattr(importlib.import_module(module, __name__), function)


def _exit_status(exc: BaseException) -> int:
    """The documented exit status of a failure (`EXIT_CODES`)."""
    from bo_nas.campaign._store import (
        StoreError,
        StoreExistsError,
        StoreFormatError,
        StoreLockedError,
        StoreNotFoundError,
        StoreVersionError,
    )
    from bo_nas.evaluators._tables import BenchmarkFileNotFoundError

    if isinstance(exc, StoreLockedError):
        return EXIT_STORE_LOCKED
    if isinstance(exc, StoreVersionError):
        return EXIT_STORE_VERSION
    if isinstance(exc, (StoreNotFoundError, StoreExistsError, StoreFormatError)):
        return EXIT_USAGE
    if isinstance(exc, StoreError) and exc.cannot_write:
        return EXIT_CANNOT_WRITE
    if isinstance(exc, OutputError):
        return EXIT_CANNOT_WRITE
    if isinstance(exc, BenchmarkFileNotFoundError) or _is_missing_training_data(exc):
        return EXIT_MISSING_DATA
    if isinstance(exc, ValueError):
        return EXIT_USAGE
    return EXIT_ERROR


def _is_missing_training_data(exc: BaseException) -> bool:
    mod = sys.modules.get("bo_nas.training._data")
    cls = getattr(mod, "DatasetNotFoundError", None)
    return cls is not None and isinstance(exc, cls)


def _quiet_stdout() -> None:
    """After a broken pipe: send what is left to /dev/null, so that the interpreter's
    final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bo-nas``; returns the exit status (`EXIT_CODES`)."""
    from ._parser import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bo_nas import __version__

        print(f"bo-nas {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with _stop_signals(), _logging(args.quiet, args.verbose):
            return _command(args.command)(args)
    except KeyboardInterrupt as exc:
        what = "stopped by " + str(exc) if isinstance(exc, Stopped) else "interrupted"
        print(f"bo-nas: {what}", file=sys.stderr)
        return interrupted_status(exc)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        status = _exit_status(exc)
        log = logging.getLogger("bo_nas.cli")
        if args.verbose:
            log.exception("details")
        hint = "" if status != EXIT_ERROR or args.verbose else (
            " (an unexpected error: run with --verbose for the traceback)"
        )
        print(f"bo-nas: error: {exc}{hint}", file=sys.stderr)
        return status
