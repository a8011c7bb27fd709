"""A live web dashboard over campaign stores (``bo-nas dashboard STORE...``).

A page served on this machine (127.0.0.1 by default) that follows one or more campaigns
while they run, read-only: progress and the best architecture so far, the search curve
of every store overlaid, the best cells drawn, accuracy against a cost, failures with
their messages, pending trials, and the Pareto front of a multi-objective campaign.

It needs the ``dashboard`` extra (``pip install 'bo-nas[dashboard]'``): Starlette for
the application, uvicorn to serve it, and Bokeh for BokehJS, which draws the plots in the
browser. Names are imported when first read (PEP 562), so that `missing_dependencies`
works without them.

Example:
    >>> from bo_nas.dashboard import DashboardServer              # doctest: +SKIP
    >>> with DashboardServer(["run.sqlite"], port=0) as server:  # doctest: +SKIP
    ...     print(server.url)
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from bo_nas._lazy import attach

#: What the dashboard imports beyond bo-nas's own dependencies: module -> distribution.
REQUIREMENTS = {"starlette": "starlette", "uvicorn": "uvicorn", "bokeh": "bokeh"}

#: Only this machine can reach the dashboard unless ``--host`` says otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
#: Seconds between the page's polls.
DEFAULT_REFRESH = 5.0

_WHERE = {
    "create_app": "._app",
    "DashboardError": "._server",
    "DashboardServer": "._server",
    "StoreReader": "._reader",
    "summarise": "._data",
}

__getattr__, __dir__ = attach(__name__, _WHERE)


def missing_dependencies() -> list[str]:
    """The distributions of `REQUIREMENTS` that are not installed."""
    return [dist for module, dist in REQUIREMENTS.items()
            if importlib.util.find_spec(module) is None]


if TYPE_CHECKING:
    from ._app import create_app
    from ._data import summarise
    from ._reader import StoreReader
    from ._server import DashboardError, DashboardServer

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_REFRESH",
    "REQUIREMENTS",
    "DashboardError",
    "DashboardServer",
    "StoreReader",
    "create_app",
    "missing_dependencies",
    "summarise",
]
