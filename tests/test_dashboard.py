"""The dashboard over real stores: its data against `read_snapshot`, a real server over
HTTP, the command line, and the page in headless Chromium while a campaign writes.

Everything is real: campaigns on the NB-201 CIFAR-100 table, uvicorn on a loopback port,
httpx as the client, Chromium driven by Playwright. The browser test needs Chromium at
``/usr/bin/chromium`` (or ``$BO_NAS_CHROMIUM``) and skips, saying so, without it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bo_nas._front import pareto_front
from bo_nas.campaign import Campaign, incumbent_curve, read_snapshot
from bo_nas.cli import main
from bo_nas.cli._parser import build_parser
from bo_nas.dashboard import DashboardServer, summarise
from bo_nas.dashboard._data import scatter_data, steps
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationError, EvaluationResult, Evaluator, NB201Benchmark
from bo_nas.objectives import parse_objectives
from bo_nas.plotting._colours import method_colour
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

#: Markup in a failure message: the page must show it as text, never run it.
HOSTILE = '<img src=x onerror="window.__xss = 1"><b>out of memory</b> & <script>1</script>'
CHROMIUM = os.environ.get("BO_NAS_CHROMIUM", "/usr/bin/chromium")
#: Chromium flags for a machine without network: no background connections, no sandbox
#: (containers run as root), no GPU.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class FlakyTable(Evaluator):
    """The CIFAR-100 table, failing (with `HOSTILE` in the message) on the evaluations
    numbered in ``fail`` (0-based, in the order they are asked for); with ``tickets``,
    each evaluation first waits for one, so a test decides when trials land."""

    kind = "test-flaky-table"

    def __init__(self, bench: NB201Benchmark, fail: frozenset[int] = frozenset(),
                 tickets: threading.Semaphore | None = None) -> None:
        self.bench, self.fail, self.tickets = bench, fail, tickets
        self.calls = 0

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        if self.tickets is not None and not self.tickets.acquire(timeout=60):
            raise EvaluationError("the test gave no ticket in time")
        call, self.calls = self.calls, self.calls + 1
        if call in self.fail:
            raise EvaluationError(f"evaluation {call}: {HOSTILE}")
        return self.bench.evaluate(arch)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "dataset": "cifar100"}


@pytest.fixture(scope="module")
def bench(data_dir: Path) -> NB201Benchmark:
    return NB201Benchmark("cifar100", data_dir=data_dir)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, bench: NB201Benchmark) -> dict[str, Path]:
    """A finished store with failures and two pending trials, a multi-objective store,
    a malformed file and a path with no store."""
    root = tmp_path_factory.mktemp("stores")
    one = root / "random.sqlite"
    with Campaign(NB201Space(), FlakyTable(bench, frozenset({2, 5})), RandomSearch(), seed=4,
                  store=one) as c:
        c.run(12)
        c.ask(2)  # committed, never evaluated: pending
    multi = root / "pareto.sqlite"
    with Campaign(NB201Space(), bench, RandomSearch(), seed=5, store=multi,
                  objectives=["val_accuracy", "params:min"]) as c:
        c.run(15)
    bad = root / "bad.sqlite"
    bad.write_bytes(b"this is not an SQLite file" * 100)
    return {"one": one, "multi": multi, "bad": bad, "missing": root / "missing.sqlite"}


# --- the data layer ---------------------------------------------------------------------


def _expand(xs: list[int], ys: list[float | None], n: int) -> np.ndarray:
    """The step curve ``steps`` compressed, back at every query (NaN before the first
    point and in gaps)."""
    out = np.full(n, np.nan)
    for k, (x, y) in enumerate(zip(xs, ys)):
        end = xs[k + 1] - 1 if k + 1 < len(xs) else n
        out[x - 1:end] = np.nan if y is None else y
    return out


def test_steps_lose_nothing() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        curve = np.minimum.accumulate(rng.integers(0, 5, size=int(rng.integers(1, 40)))
                                      ).astype(float)
        curve[: int(rng.integers(0, 4))] = np.nan
        if rng.random() < 0.3:  # an incumbent without the value: a gap
            start = int(rng.integers(0, len(curve)))
            curve[start:start + int(rng.integers(1, 4))] = np.nan
        xs, ys = steps(curve)
        np.testing.assert_array_equal(_expand(xs, ys, len(curve)), curve)
        assert len(xs) <= 2 * np.count_nonzero(np.diff(curve, prepend=np.inf)) + 2
    assert steps(np.array([np.nan, 3.0, 3.0, 2.0, 2.0])) == ([2, 4, 5], [3.0, 2.0, 2.0])


def test_summary_matches_the_store(stores: dict[str, Path]) -> None:
    snap = read_snapshot(stores["one"])
    h = snap.history
    s = summarise(snap)
    assert s["counts"] == {"proposed": 14, "complete": 10, "failed": 2, "pending": 2,
                           "paused": 0}
    assert s["finished"] == 12 and s["strategy"] == "random"
    assert s["evaluator"] == "test-flaky-table" and s["dataset"] == "cifar100"
    best = h.best()
    assert best is not None and best.result is not None
    # Exact numbers, not rounded ones.
    assert s["best"]["trial"] == best.number
    assert s["best"]["val_accuracy"] == best.result.val_accuracy
    assert s["best"]["test_accuracy"] == best.result.test_accuracy
    assert s["best"]["architecture"] == NB201Space().to_string(best.arch)
    # The search curve is the campaign's own incumbent curve, as test error.
    curve = s["curve"]
    want = 100.0 - incumbent_curve(h, "test_accuracy")
    assert curve["queries"] == 12 and curve["metric"] == "test error"
    np.testing.assert_array_equal(_expand(curve["x"], curve["y"], 12), want)
    assert s["failures"]["total"] == 2
    assert [f["trial"] for f in s["failures"]["items"]] == [t.number for t in h.failed][::-1]
    assert all(HOSTILE in f["error"] for f in s["failures"]["items"])
    assert [p["trial"] for p in s["pending"]["items"]] == [t.number for t in h.pending]
    assert s["front"] is None
    assert s["cost_keys"][:2] == ["flops", "params"]


def test_scatter_keeps_the_front_and_the_best(stores: dict[str, Path]) -> None:
    h = read_snapshot(stores["one"]).history
    full = scatter_data(h, "params")
    assert full is not None and full["total"] == 10 and len(full["x"]) == 10
    small = scatter_data(h, "params", limit=4)
    assert small is not None and small["total"] == 10
    assert len(small["x"]) <= max(4, len(small["front"]) + 1)
    best = h.best()
    assert best is not None
    assert best.number in small["trial"] and set(small["front"]) <= set(small["trial"])
    # The front: no complete trial is both cheaper (or as cheap) and more accurate.
    pts = [(t.result.costs["params"], t.result.val_accuracy) for t in h.complete if t.result]
    for n in small["front"]:
        r = next(t.result for t in h if t.number == n)
        assert r is not None
        c, v = r.costs["params"], r.val_accuracy
        assert not any(c2 <= c and v2 > v for c2, v2 in pts)


def test_front_is_the_stores_pareto_front(stores: dict[str, Path]) -> None:
    snap = read_snapshot(stores["multi"])
    front = summarise(snap)["front"]
    objectives = parse_objectives(snap.config["objectives"])
    want = pareto_front(snap.history, objectives)
    assert front is not None and front["size"] == len(want) > 0
    assert sorted(front["front"]["trial"]) == [t.number for t in want]
    by_number = {t.number: t for t in want}
    for n, x, y in zip(front["front"]["trial"], front["front"]["x"], front["front"]["y"]):
        r = by_number[n].result
        assert r is not None and (x, y) == (r.val_accuracy, r.costs["params"])


# --- the server -------------------------------------------------------------------------


@pytest.fixture
def locked(stores: dict[str, Path], tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A copy of a store that another connection holds an exclusive lock on, and the
    function that releases it."""
    path = tmp_path / "locked.sqlite"
    shutil.copyfile(stores["multi"], path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            conn.execute("COMMIT")
            conn.close()
            released = True

    yield path, release
    release()


def test_json_matches_the_stores_and_shows_errors(
    stores: dict[str, Path], locked: tuple[Path, Callable[[], None]]
) -> None:
    locked_path, release = locked
    paths = [stores["one"], stores["multi"], stores["bad"], stores["missing"], locked_path]
    with DashboardServer(paths, port=0, read_timeout=0.2) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        data = client.get("/api/campaigns").json()
        entries = data["campaigns"]
        assert [e["index"] for e in entries] == [0, 1, 2, 3, 4]
        assert [e["name"] for e in entries] == [p.name for p in paths]
        assert [e["ok"] for e in entries] == [True, True, False, False, False]
        assert [e["error"]["kind"] for e in entries[2:]] == ["malformed", "missing", "locked"]
        assert "missing.sqlite" in entries[3]["error"]["message"]
        # Every readable store's summary is the data layer's, through JSON.
        for i in (0, 1):
            assert entries[i]["summary"] == summarise(read_snapshot(paths[i]))
            assert entries[i]["running"] is False
        assert entries[1]["summary"]["front"] is not None
        # The cost axis: the first of the costs by default, another when asked for.
        assert data["cost"] == "flops" and entries[0]["scatter"]["cost"] == "flops"
        chosen = client.get("/api/campaigns", params={"cost": "edgegpu_latency"}).json()
        assert chosen["cost"] == "edgegpu_latency"
        assert chosen["campaigns"][0]["scatter"]["cost"] == "edgegpu_latency"
        # A cost no store has, or a path, is no choice: the default stays.
        for bad in ("nothing", "../../etc/passwd"):
            assert client.get("/api/campaigns", params={"cost": bad}).json()["cost"] == "flops"
        # Once the lock is gone the store reads at the next poll (errors are not cached).
        release()
        again = client.get("/api/campaigns").json()["campaigns"][4]
        assert again["ok"] and again["summary"] == entries[1]["summary"]


def test_only_indices_reach_stores(stores: dict[str, Path]) -> None:
    with DashboardServer([stores["one"]], port=0) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        svg = client.get("/api/cell/0/0.svg")
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert svg.content.lstrip().startswith(b"<?xml") and b"<svg" in svg.content
        for url in ("/api/cell/1/0.svg", "/api/cell/0/14.svg", "/api/cell/-1/0.svg",
                    "/api/cell/0/..%2F..%2Fetc%2Fpasswd.svg", "/api/cell/0/0.png",
                    "/static/../pyproject.toml", "/static/%2e%2e/pyproject.toml",
                    "/static/plotly.min.js", "/static/bokeh.js", "/static/bokeh-gl.min.js",
                    "/static/js/bokeh.min.js", "/etc/passwd", "/" + str(stores["one"]).lstrip("/"),
                    "/api/campaigns/0", "/api/store?path=/etc/passwd"):
            r = client.get(url)
            assert r.status_code == 404, url
            assert b"root:" not in r.content and b"[project]" not in r.content
        # Read-only: nothing but GET (and HEAD).
        assert client.post("/api/campaigns").status_code == 405
        assert client.put("/").status_code == 405
        # Bound to loopback, it answers only to loopback names (no DNS rebinding).
        evil = client.get("/api/campaigns", headers={"host": "evil.example"})
        assert evil.status_code == 400
        page = client.get("/")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-eval" not in csp
        js = client.get("/static/dashboard.js")
        assert js.status_code == 200 and "innerHTML" not in js.text
        # BokehJS from the installed wheel, at the addresses the page names.
        for name in ("bokeh.min.js", "bokeh-api.min.js"):
            assert f'src="/static/{name}?v=' in page.text
            r = client.get(f"/static/{name}", headers={"accept-encoding": "gzip"})
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            assert r.headers["content-type"].startswith("text/javascript")
            assert b"Bokeh" in r.content[:4000]
            again = client.get(f"/static/{name}", headers={"if-none-match": r.headers["etag"]})
            assert again.status_code == 304


def test_serving_never_writes_a_store(stores: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    path = folder / "store.sqlite"
    shutil.copyfile(stores["one"], path)
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
              sorted(os.listdir(folder)))
    with DashboardServer([path], port=0) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(3):
            assert client.get("/api/campaigns").json()["campaigns"][0]["ok"]
            assert client.get("/api/campaigns", params={"cost": "params"}).status_code == 200
        assert client.get("/api/cell/0/3.svg").status_code == 200
    after = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
             sorted(os.listdir(folder)))
    assert after == before


def test_loopback_by_default(stores: dict[str, Path]) -> None:
    args = build_parser().parse_args(["dashboard", str(stores["one"])])
    assert (args.host, args.port, args.refresh) == ("127.0.0.1", 8050, 5.0)
    server = DashboardServer([stores["one"]], port=0)
    try:
        assert server._socket.getsockname()[0] == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}/"
    finally:
        server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_serves_until_ctrl_c(
    stores: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process, as a user's terminal runs it: the command in the main thread, a
    # real SIGINT (what Ctrl-C sends) once the page's data has been served.
    port = _free_port()
    seen: list[Any] = []

    def user() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen:
            try:
                seen.append(httpx.get(f"http://127.0.0.1:{port}/api/campaigns",
                                      timeout=30).json())
            except httpx.TransportError:
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=user, daemon=True)
    helper.start()
    status = main(["dashboard", str(stores["one"]), str(stores["missing"]),
                   "--port", str(port), "--refresh", "1"])
    helper.join(10)
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.startswith(f"bo-nas dashboard: http://127.0.0.1:{port}/ "), out
    assert seen and [c["ok"] for c in seen[0]["campaigns"]] == [True, False]
    assert "stopped" in err and "Traceback" not in err


def test_missing_extra_names_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A `None` entry in sys.modules is how Python itself marks a module as unavailable:
    # `import uvicorn` fails and `find_spec` finds nothing, as without the package.
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["dashboard", "run.sqlite"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'bo-nas[dashboard]'" in err and "uvicorn" in err
    assert "Traceback" not in err


def test_bad_arguments_are_refused(stores: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="refresh"):
        DashboardServer([stores["one"]], port=0, refresh=0)
    with pytest.raises(ValueError, match="stores"):
        DashboardServer([], port=0)
    busy = DashboardServer([stores["one"]], port=0)
    try:
        with pytest.raises(ValueError, match="--port"):
            DashboardServer([stores["one"]], port=busy.port)
    finally:
        busy.stop()


# --- the page in a browser, while a campaign writes ---------------------------------------


def _dom(page: Any) -> dict[str, Any]:
    """The numbers the page shows for store 0, and the rows of its tables."""
    return page.evaluate("""() => {
        const v = (id) => {
            const n = document.querySelector(`[data-testid="${id}-0"]`);
            return n ? n.dataset.value : null;
        };
        const text = (id) => document.querySelector(`[data-testid="${id}-0"]`).textContent;
        // The plots' data as BokehJS holds it (its documents are public, the page names
        // each data source after its plot and store).
        const model = (name) => window.Bokeh ? window.Bokeh.documents
            .map((d) => d.get_model_by_name(name)).find((m) => m) : null;
        const curve = model("curve-0"), scatter = model("scatter-0");
        return {
            counts: ["proposed", "complete", "failed", "pending", "paused"].map(v),
            best_val: v("best-val"), best_val_text: text("best-val"),
            best_test_error: v("best-test-error"), best_trial: v("best-trial"),
            state: text("state"),
            failures: Array.from(document.querySelectorAll(
                '[data-testid="failure-message"]')).map((n) => n.textContent),
            pending: Array.from(document.querySelectorAll('[data-testid="pending-row"]'))
                .map((r) => r.children[1].textContent),
            curve_last: curve && curve.data.y.length ? curve.data.y[curve.data.y.length - 1]
                : null,
            scatter_points: scatter ? scatter.data.x.length : 0,
            renders: Number(document.body.dataset.renders),
        };
    }""")


def _expected(path: Path) -> dict[str, Any]:
    """What the page should show, from the store itself."""
    h = read_snapshot(path).history
    best = h.best()
    assert best is not None and best.result is not None and best.result.test_accuracy
    curve = incumbent_curve(h, "test_accuracy")
    return {
        "counts": [str(n) for n in (len(h), len(h.complete), len(h.failed), len(h.pending),
                                    len(h.paused))],
        "best_val": repr(best.result.val_accuracy),
        "best_val_text": f"{best.result.val_accuracy:.2f}",
        "best_test_error": repr(100.0 - best.result.test_accuracy),
        "best_trial": str(best.number),
        "failures": [t.error for t in reversed(h.failed)],
        "pending": [str(t.number) for t in h.pending],
        "curve_last": 100.0 - float(curve[-1]),
        "scatter_points": len(h.complete),
    }


def _until(what: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def _shown(page: Any, expected: dict[str, Any]) -> dict[str, Any]:
    dom = _dom(page)
    return {k: dom[k] for k in expected}


def _inked(page: Any, plot: str, colour: str) -> int:
    """Pixels that one plot's canvas painted in a store's ``colour``, opaque or at the
    scatter's 0.7 over white, in a screenshot of that plot (what a person sees)."""
    from PIL import Image

    # BokehJS draws into canvases inside its elements' shadow roots, which Playwright's
    # selectors see into.
    assert page.locator(f"#{plot} canvas").count() > 0, f"{plot}: no canvas"
    png = page.locator(f"#{plot}").screenshot()
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    near = [np.abs(pixels - (a * rgb + (1 - a) * 255)).sum(axis=1) < 40 for a in (1.0, 0.7)]
    return int(np.logical_or(*near).sum())


def _chromium(pw: Any, profile: str) -> Any:
    return pw.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        viewport={"width": 1400, "height": 900})


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"no Chromium at {CHROMIUM} (set $BO_NAS_CHROMIUM to another)")
def test_page_draws_every_plot(stores: dict[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    paths = [stores["one"], stores["multi"], stores["bad"]]
    console: list[str] = []
    with DashboardServer(paths, port=0, refresh=0.3) as server, sync_playwright() as pw, \
            tempfile.TemporaryDirectory() as profile:
        browser = _chromium(pw, profile)
        page = browser.new_page()
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(str(e)))
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        # Every plot painted its stores: the search curve and the scatter both stores,
        # the Pareto front (shown for the multi-objective store only) that one.
        assert page.locator("#front-panel").is_visible()
        for plot, indices in (("curve-plot", (0, 1)), ("scatter-plot", (0, 1)),
                              ("front-plot", (1,))):
            for i in indices:
                inked = _inked(page, plot, method_colour(i))
                assert inked > 150, f"{plot}: only {inked} pixels of store {i}"
            assert page.locator(f'[data-testid="{plot}-legend-{i}"]').count() == 1
        assert _inked(page, "front-plot", method_colour(0)) < 20  # not in a front it has not
        # The cost picker: the scatter's points are the store's against the cost chosen.
        xs = """(name) => {
            const m = window.Bokeh.documents.map((d) => d.get_model_by_name(name))
                .find((m) => m);
            return m ? Array.from(m.data.x) : null;
        }"""
        h = read_snapshot(stores["one"]).history
        for cost in ("params", "flops"):
            want = scatter_data(h, cost)
            assert want is not None
            page.select_option('[data-testid="cost-select"]', cost)
            _until(lambda x=want["x"]: page.evaluate(xs, "scatter-0") == x, 15,
                   f"the scatter did not show {cost}")
        # A legend entry hides and shows its store's lines.
        legend = page.locator('[data-testid="curve-plot-legend-0"]')
        before = _inked(page, "curve-plot", method_colour(0))
        legend.click()
        _until(lambda: _inked(page, "curve-plot", method_colour(0)) < before / 10, 5,
               "the legend did not hide the store's curve")
        legend.click()
        _until(lambda: _inked(page, "curve-plot", method_colour(0)) > before / 2, 5,
               "the legend did not show the store's curve again")
        renders = _dom(page)["renders"]
        _until(lambda: _dom(page)["renders"] > renders + 2, 15, "the page stopped polling")
        browser.close()
    assert not console, console


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"no Chromium at {CHROMIUM} (set $BO_NAS_CHROMIUM to another)")
def test_page_follows_a_running_campaign(bench: NB201Benchmark, tmp_path: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    path = tmp_path / "live.sqlite"
    tickets = threading.Semaphore(0)
    created = threading.Event()
    errors: list[BaseException] = []

    def campaign() -> None:
        try:
            evaluator = FlakyTable(bench, frozenset({1, 6}), tickets)
            with Campaign(NB201Space(), evaluator, RandomSearch(), seed=7, store=path) as c:
                created.set()
                c.run(14)
        except BaseException as exc:
            errors.append(exc)
            created.set()

    def landed(n: int) -> Callable[[], bool]:
        def check() -> bool:
            h = read_snapshot(path).history
            return len(h.complete) + len(h.failed) == n and len(h.pending) == 1
        return check

    writer = threading.Thread(target=campaign, daemon=True)
    writer.start()
    assert created.wait(60) and not errors, errors
    console: list[str] = []
    try:
        with DashboardServer([path], port=0, refresh=0.3) as server, sync_playwright() as pw, \
                tempfile.TemporaryDirectory() as profile:
            browser = _chromium(pw, profile)
            page = browser.new_page()
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(str(e)))
            tickets.release(4)
            _until(landed(4), 30, "the campaign did not finish 4 trials")
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            first = _expected(path)
            _until(lambda: _shown(page, first) == first, 15, "page never matched the store")
            assert _dom(page)["state"] == "running"
            renders = _dom(page)["renders"]

            # More trials land while the page is open: it follows them.
            tickets.release(6)
            _until(landed(10), 30, "the campaign did not finish 10 trials")
            second = _expected(path)
            assert second["counts"] != first["counts"]
            _until(lambda: _shown(page, second) == second, 15,
                   f"page did not follow the store: {_shown(page, second)} != {second}")
            assert _dom(page)["renders"] > renders
            # The failure messages are text: the markup in them never ran.
            assert len(second["failures"]) == 2
            assert page.evaluate("window.__xss") is None
            assert page.locator('[data-testid="failures-table"] img').count() == 0
            assert page.locator('[data-testid="failures-table"] b').count() == 0

            # The campaign ends: the page says so, with its final numbers.
            tickets.release(100)
            writer.join(60)
            assert not writer.is_alive() and not errors, errors
            final = _expected(path)
            assert final["counts"][:2] == ["14", "12"]
            _until(lambda: _shown(page, final) == final and _dom(page)["state"] == "stopped",
                   15, f"page did not show the end: {_shown(page, final)} != {final}")
            # The plots are drawn, not just fed: the store's curve and its points painted.
            for plot in ("curve-plot", "scatter-plot"):
                inked = _inked(page, plot, method_colour(0))
                assert inked > 150, f"{plot}: only {inked} pixels in the store's colour"
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    finally:
        tickets.release(100)
        writer.join(60)
    assert not errors, errors
    assert not console, console
    # Not blank: text and lines, many colours, and the store's own colour (its curve,
    # points and cell) drawn.
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    colours = len(np.unique(pixels, axis=0))
    dark = (pixels.min(axis=1) < 160).mean()
    swatch = (np.abs(pixels - [0x00, 0x72, 0xB2]).sum(axis=1) < 40).sum()  # method_colour(0)
    assert colours > 200, f"{colours} colours: a blank screenshot?"
    assert dark > 0.01, f"only {dark:.1%} of the pixels are text or lines"
    assert swatch > 500, f"only {swatch} pixels in the store's colour: no plots?"
