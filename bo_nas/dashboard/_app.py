"""The dashboard's web application (Starlette): the page, the stores' JSON, cell drawings.

Routes (all ``GET``; nothing on this server writes or accepts a body):

- ``/``: the page (`bo_nas.dashboard._page`).
- ``/api/campaigns[?cost=KEY]``: every store's summary in the order given on the
  command line; ``cost`` picks the cost axis of the scatter among those the results
  carry (another value is ignored).
- ``/api/cell/<store index>/<trial number>.svg``: a trial's cell drawn.
- ``/static/bokeh.min.js``, ``/static/bokeh-api.min.js`` (BokehJS),
  ``/static/dashboard.js``, ``/static/dashboard.css``.

A store is named in a request by its index in the list the server was started with, and
a trial by its number: nothing in a request becomes a file path, so no request reaches a
file the server was not given. Bound to a loopback address, the server also answers only
requests addressed to a loopback name (``Host`` checked), so that a web page elsewhere
cannot read it through a DNS-rebinding name.
"""

from __future__ import annotations

import ipaddress
import math
import os
import time
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bo_nas.plotting._colours import method_colour

from ._cells import cell_svg
from ._page import CONTENT_SECURITY_POLICY, CSS, JS, page_html
from ._reader import CampaignView, StoreFailure, StoreReader, campaign_running, union_costs
from ._static import Asset, GzipAsset, bokeh_js, bokeh_version

#: Hosts the server answers for when it is bound to a loopback address.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")

#: Headers of every answer: no sniffing of content types, no referrer to other sites.
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: Answers that change with the stores must not be cached.
_FRESH = {**_COMMON, "Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ``::1``, ``localhost``)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{name}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def _asset(request: Request, asset: Asset, gzipped: GzipAsset | None = None) -> Response:
    """A static file. The page names each by an address holding its version, so a
    browser keeps it without asking again (BokehJS is 1.4 MB, and a browser compiles a
    script it keeps faster the next time)."""
    headers = {**_COMMON, "ETag": asset.etag, "Vary": "Accept-Encoding",
               "Cache-Control": "public, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzipped.gzipped(), media_type=asset.media_type,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _entry(index: int, reader: StoreReader, view: CampaignView | StoreFailure, stale: bool,
           cost: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "name": reader.name, "path": str(reader.path),
                             "colour": method_colour(index), "read_at": view.read_at,
                             "stale": stale}
    if isinstance(view, StoreFailure):
        entry.update(ok=False, error={"kind": view.kind, "message": view.message})
        return entry
    entry.update(ok=True, running=campaign_running(reader.path), summary=view.data,
                 scatter=view.scatter(cost))
    return entry


def create_app(
    stores: Sequence[str | os.PathLike[str]],
    *,
    refresh: float = 5.0,
    read_timeout: float = 2.0,
    host: str = "127.0.0.1",
) -> Starlette:
    """The dashboard over ``stores``, read-only.

    Args:
        stores: Campaign stores, shown in this order (and addressed by this index).
            A store need not exist yet, nor be readable: its panel says why until it is.
        refresh: Seconds between the page's polls.
        read_timeout: Seconds a read waits for a campaign's commit before the store
            shows as locked for that poll.
        host: The address the server is bound to; a loopback one makes the app refuse
            requests addressed to any other host name.

    Raises:
        ValueError: for no stores, or a ``refresh`` or ``read_timeout`` that is not a
            positive number.
    """
    paths = list(stores)
    if not paths:
        raise ValueError("stores: expected at least one campaign store")
    refresh = _check_number(refresh, "refresh")
    read_timeout = _check_number(read_timeout, "read_timeout")
    readers = [StoreReader(p, timeout=read_timeout) for p in paths]
    script = Asset.of(JS.encode(), "text/javascript; charset=utf-8")
    style = Asset.of(CSS.encode(), "text/css; charset=utf-8")
    version = bokeh_version()
    page = page_html(refresh, css=f"/static/dashboard.css?v={style.version}",
                     js=f"/static/dashboard.js?v={script.version}",
                     bokeh=f"/static/bokeh.min.js?v={version}",
                     bokeh_api=f"/static/bokeh-api.min.js?v={version}")

    def index(request: Request) -> Response:
        return HTMLResponse(page, headers={**_FRESH,
                                           "Content-Security-Policy": CONTENT_SECURITY_POLICY})

    def campaigns(request: Request) -> Response:
        # A plain function: Starlette runs it in its thread pool, so a slow read of one
        # store never stalls the event loop (nor the other requests).
        answers = [r.view() for r in readers]
        views = [v for v, _ in answers]
        keys = union_costs(views)
        wanted = request.query_params.get("cost")
        cost = wanted if wanted in keys else (keys[0] if keys else None)
        return JSONResponse({
            "generated_at": time.time(),
            "refresh": refresh,
            "cost_keys": keys,
            "cost": cost,
            "campaigns": [_entry(i, r, v, stale, cost)
                          for i, (r, (v, stale)) in enumerate(zip(readers, answers))],
        }, headers=_FRESH)

    def cell(request: Request) -> Response:
        i, number = request.path_params["index"], request.path_params["number"]
        if not 0 <= i < len(readers):
            return Response("no such store", status_code=404, headers=_FRESH)
        view, _ = readers[i].view()
        if isinstance(view, StoreFailure):
            return Response(f"store {i} cannot be read: {view.kind}", status_code=404,
                            headers=_FRESH)
        history = view.snapshot.history
        trial = history[number] if number < len(history) else None
        if trial is None or trial.number != number:
            trial = next((t for t in history if t.number == number), None)
        if trial is None:
            return Response("no such trial", status_code=404, headers=_FRESH)
        # An architecture never changes: the page's address names it by key.
        return Response(cell_svg(trial.arch), media_type="image/svg+xml",
                        headers={**_COMMON, "Cache-Control": "private, max-age=86400"})

    def bokeh(name: str) -> Route:
        def serve(request: Request) -> Response:
            bundle = bokeh_js(name)
            return _asset(request, bundle.asset, bundle)
        return Route(f"/static/{name}", serve)

    routes = [
        Route("/", index),
        Route("/api/campaigns", campaigns),
        Route("/api/cell/{index:int}/{number:int}.svg", cell),
        bokeh("bokeh.min.js"),
        bokeh("bokeh-api.min.js"),
        Route("/static/dashboard.js", lambda request: _asset(request, script)),
        Route("/static/dashboard.css", lambda request: _asset(request, style)),
    ]
    middleware = []
    if is_loopback(host):
        names = [*LOOPBACK_NAMES, host.strip("[]"), f"[{host.strip('[]')}]"]
        middleware.append(Middleware(TrustedHostMiddleware,
                                     allowed_hosts=list(dict.fromkeys(names))))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.readers = readers
    return app
