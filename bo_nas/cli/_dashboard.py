"""``bo-nas dashboard``: a live web page over campaign stores, read-only."""

from __future__ import annotations

import argparse
import sys

from bo_nas.encodings import BoNasError


class MissingDependencyError(BoNasError, ValueError):
    """An optional dependency the command needs is not installed."""


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard over ``args.stores`` until Ctrl-C (exit status 0).

    Raises:
        MissingDependencyError: without the ``dashboard`` extra (exit status 2).
        DashboardError: for a port in use or a host that is no address here (2).
    """
    from bo_nas.dashboard import missing_dependencies

    missing = missing_dependencies()
    if missing:
        raise MissingDependencyError(
            f"the dashboard needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: "
            "pip install 'bo-nas[dashboard]'"
        )
    from bo_nas.dashboard import DashboardServer

    server = DashboardServer(args.stores, host=args.host, port=args.port,
                             refresh=args.refresh)
    # The stores are read while the address is printed, so the first page need not wait.
    server.warm()
    n = len(args.stores)
    print(f"bo-nas dashboard: {server.url} ({n} store{'s' if n != 1 else ''}; Ctrl-C stops it)",
          flush=True)
    if server.host in ("0.0.0.0", "::", ""):
        print("bo-nas dashboard: listening on every interface: anyone who can reach this "
              "machine can read these stores' results", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt as exc:
        from . import Stopped

        if isinstance(exc, Stopped):
            raise  # SIGTERM / SIGHUP keep their documented statuses
    # Ctrl-C is how a dashboard is meant to end: not a failure.
    print("bo-nas dashboard: stopped", file=sys.stderr, flush=True)
    return 0
