"""The ``bo-nas`` command line: run, resume, status, export, plot, bench."""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence

#: Exit statuses, also listed in ``bo-nas --help``.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_STORE_LOCKED = 3
EXIT_STORE_VERSION = 4
EXIT_MISSING_DATA = 5
EXIT_INTERRUPTED = 130


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
    "bench": ("._bench", "cmd_bench"),
}


def _command(name: str) -> Callable[..., int]:
    """The function that runs command ``name``, its module imported on demand."""
    module, function = _COMMANDS[name]
    return getattr(importlib.import_module(module, __name__), function)


def _exit_status(exc: BaseException) -> int:
    from bo_nas.campaign import StoreLockedError, StoreVersionError

    if isinstance(exc, StoreLockedError):
        return EXIT_STORE_LOCKED
    if isinstance(exc, StoreVersionError):
        return EXIT_STORE_VERSION
    if isinstance(exc, FileNotFoundError):
        return EXIT_MISSING_DATA
    if isinstance(exc, ValueError):
        return EXIT_USAGE
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bo-nas``; returns the exit status."""
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
        with _logging(args.quiet, args.verbose):
            return _command(args.command)(args)
    except KeyboardInterrupt:
        print("bo-nas: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        from bo_nas.campaign import StoreError
        from bo_nas.encodings import BoNasError

        status = _exit_status(exc)
        log = logging.getLogger("bo_nas.cli")
        expected = status != EXIT_ERROR or isinstance(exc, (BoNasError, StoreError, OSError))
        if args.verbose:
            log.exception("details")
        hint = "" if expected or args.verbose else " (run with --verbose for the traceback)"
        print(f"bo-nas: error: {exc}{hint}", file=sys.stderr)
        return status

