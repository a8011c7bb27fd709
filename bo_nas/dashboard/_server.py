"""Serving the dashboard with uvicorn: in the foreground for ``bo-nas dashboard``, or in a
background thread for tests, benchmarks and notebooks.

The socket is bound here, before uvicorn starts, so that a port in use is an error at
once (naming the flag to change) and the address, ``--port 0`` included, is known before
the first request.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence

import uvicorn

from bo_nas.encodings import BoNasError

from . import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REFRESH
from ._app import create_app
from ._static import BOKEH_FILES, bokeh_js


class DashboardError(BoNasError, ValueError):
    """The dashboard cannot serve: its port is in use, or its host is no address here."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one).

    Raises:
        DashboardError: for a host that is no address of this machine, or a port in use
            or not allowed.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise DashboardError(f"port: expected an integer from 0 to 65535, got {port!r}")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise DashboardError(f"host {host!r}: not an address of this machine ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise DashboardError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another "
            "--port (0 picks a free one) or --host"
        ) from None
    return sock


def _url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class DashboardServer:
    """The dashboard over ``stores`` on a bound socket.

    Args:
        stores: Campaign stores, shown in this order.
        host: Address to listen on; the loopback address by default, so that only this
            machine can read the stores' results.
        port: TCP port; 0 picks a free one (see `url`).
        refresh: Seconds between the page's polls.
        read_timeout: Seconds a read waits for a campaign's commit (`create_app`).

    Example:
        >>> with DashboardServer(["run.sqlite"], port=0) as server:  # doctest: +SKIP
        ...     print(server.url)
    """

    def __init__(
        self,
        stores: Sequence[str | os.PathLike[str]],
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        refresh: float = DEFAULT_REFRESH,
        read_timeout: float = 2.0,
    ) -> None:
        self.app = create_app(stores, refresh=refresh, read_timeout=read_timeout, host=host)
        self._socket = bind(host, port)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            # The command prints its own address; uvicorn's logging setup would replace
            # the process's logging configuration, and a line per poll is noise.
            log_config=None, log_level="warning", access_log=False, lifespan="off",
            # Browsers keep connections open: do not wait long for them on Ctrl-C.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address (for an any-address bind, the loopback one)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "::1" if self.host == "::" \
            else self.host
        return _url(host, self.port)

    def warm(self) -> None:
        """Read every store and compress BokehJS in the background, so that the first
        page shows at once."""
        def read_all() -> None:
            for name in BOKEH_FILES:
                bokeh_js(name).gzipped()
            for reader in self.app.state.readers:
                reader.view()

        threading.Thread(target=read_all, name="bo-nas-dashboard-warm", daemon=True).start()

    def run(self) -> None:
        """Serve until Ctrl-C (SIGINT) or SIGTERM; from the main thread, uvicorn turns
        them into a graceful shutdown."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self, timeout: float = 30.0) -> str:
        """Serve from a background thread; returns `url` once the server accepts
        requests.

        Raises:
            DashboardError: when the server has not started within ``timeout`` seconds.
        """
        self._thread = threading.Thread(target=self.run, name="bo-nas-dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DashboardError(f"the dashboard did not start on {self.url}")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        """Stop a server `start` started, and wait for it."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> DashboardServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
