"""``bo-nas data import``: bo-nas's tables from an official benchmark file."""

from __future__ import annotations

import argparse
import sys

from . import EXIT_OK, OutputError


def cmd_data(args: argparse.Namespace) -> int:
    """Run ``bo-nas data ACTION`` (``import`` is the only action)."""
    from bo_nas.importers import TableWriteError, import_benchmark

    # --quiet hides the bar; otherwise it shows on a terminal only.
    progress = False if args.quiet else None
    try:
        written = import_benchmark(args.source, args.out, force=args.force,
                                   progress=progress)
    except TableWriteError as exc:
        raise OutputError(str(exc)) from None
    for path in written:
        print(path)
    if not args.quiet:
        print(f"bo-nas: wrote {len(written)} files into {args.out}", file=sys.stderr)
    return EXIT_OK
