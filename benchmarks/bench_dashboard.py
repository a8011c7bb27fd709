"""Speed of the dashboard on a 10,000-trial store: the JSON answer, and the page in
Chromium until its plots are drawn, against the 1 s target.

The store is written through `CampaignStore`, as a campaign writes one, in seconds: no
NB-201 table holds 10,000 distinct networks (it has 8,765), so the cells are NB-101
cells (a 7-node chain with up to three skip edges and random ops, always valid) with
results made up from their ops: accuracies, params, FLOPs and training seconds, 1.5 %
failures with their messages, and the last few trials still pending, as in a campaign
that is running. It goes to ``/dev/shm`` when there is one (commits are then not
synced to a disk: building takes seconds rather than minutes), or where ``--store``
says, and is reused when ``--store`` names one that exists.

Then, on a dashboard served over it on a loopback port:

- ``/api/campaigns``: the first answer (the store read and summarised: what a poll
  costs after each commit of a running campaign), and the next ones (from the cache),
  median of ``--repeat``, with the answer's size;
- the page in headless Chromium: when its numbers were shown and when every plot was
  drawn (``<body data-ready="true">``), on a first visit (a fresh browser profile:
  BokehJS fetched and compiled), a second (BokehJS from the HTTP cache, compiled
  again) and repeat visits (BokehJS and its compiled code cached), median of
  ``--repeat``, with when the data arrived, BokehJS had run and each plot was drawn.

    python -m benchmarks.bench_dashboard
    python -m benchmarks.bench_dashboard --trials 10000 --repeat 5 --store /tmp/big.sqlite
    python -m benchmarks.bench_dashboard --no-browser
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult

OPS = ("conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
TARGET = 1.0
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FAILURES = ("EvaluationError: CUDA out of memory. Tried to allocate 2.00 GiB",
            "timeout: evaluation exceeded 3600 s (3612 s)",
            "worker lost: BrokenProcessPool: a worker process died")


def cells(n: int, rng: np.random.Generator) -> list[Architecture]:
    """``n`` distinct NB-101 cells: the chain 0 → 1 → ... → 6 with 0-3 forward skip
    edges and random ops on the five inner nodes."""
    skips = [(i, j) for i in range(7) for j in range(i + 2, 7)]
    out: list[Architecture] = []
    seen: set[str] = set()
    while len(out) < n:
        ops = ["input", *rng.choice(OPS, 5).tolist(), "output"]
        extra = [skips[k] for k in rng.choice(len(skips), int(rng.integers(0, 4)),
                                               replace=False)]
        edges = [[i, i + 1] for i in range(6)] + [list(e) for e in extra]
        arch = Architecture.from_dict({"nodes": ops, "edges": sorted(edges)})
        if arch.key not in seen:
            seen.add(arch.key)
            out.append(arch)
    return out


def result(arch: Architecture, rng: np.random.Generator) -> EvaluationResult:
    """Made-up numbers that behave like a benchmark's: 3x3 convolutions help and cost."""
    ops = [arch.graph.nodes[v]["op"] for v in arch.graph]
    conv3, conv1 = ops.count("conv3x3-bn-relu"), ops.count("conv1x1-bn-relu")
    edges = arch.graph.number_of_edges()
    val = 84.0 + 1.6 * conv3 + 0.5 * conv1 + 0.4 * (edges - 6) + rng.normal(0, 1.2)
    val = float(np.clip(val, 10.0, 95.5))
    params = 0.4 + 0.55 * conv3 + 0.12 * conv1 + 0.05 * edges + abs(rng.normal(0, 0.05))
    return EvaluationResult(
        val_accuracy=val, test_accuracy=float(np.clip(val - 0.7 + rng.normal(0, 0.4), 0, 100)),
        costs={"params": params, "flops": 130.0 * params + rng.normal(0, 3),
               "train_seconds": 900.0 + 310.0 * params + abs(rng.normal(0, 40))},
        info={"note": "synthetic"})


def build_store(path: Path, n: int, pending: int = 4, seed: int = 0) -> None:
    """A store of ``n`` trials as a random search on NB-101 leaves it while running."""
    from bo_nas.campaign import CampaignStore

    rng = np.random.default_rng(seed)
    archs = cells(n, rng)
    config = {"space": {"name": "nb101"},
              "evaluator": {"kind": "synthetic-nb101", "dataset": "cifar10"},
              "strategy": {"name": "random"}, "seed": seed, "max_retries": 0}
    with CampaignStore(path, config) as store:
        for start in range(0, n, 500):
            batch = archs[start:start + 500]
            numbers = store.add_proposals(batch, {"state": start}, {})
            for number, arch in zip(numbers, batch):
                if number >= n - pending:
                    continue
                store.mark_started(number)
                if rng.random() < 0.015:
                    store.record_failure(number, str(rng.choice(FAILURES)))
                else:
                    store.record_result(number, result(arch, rng))


def _median(f: Callable[[], float], repeat: int) -> float:
    return statistics.median(f() for _ in range(repeat))


def bench_json(path: Path, repeat: int) -> dict[str, float]:
    import httpx

    from bo_nas.campaign import CampaignStore
    from bo_nas.dashboard import DashboardServer

    with DashboardServer([path], port=0) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        def get() -> tuple[float, dict[str, Any]]:
            t = time.perf_counter()
            r = client.get("/api/campaigns")
            r.raise_for_status()
            return time.perf_counter() - t, r.json()["campaigns"][0]

        t = time.perf_counter()
        first = client.get("/api/campaigns")
        cold = time.perf_counter() - t
        first.raise_for_status()
        data = first.json()["campaigns"][0]
        assert data["ok"], data
        warm = _median(lambda: get()[0], repeat)
        # A trial lands, as in a running campaign: the next poll is answered at once from
        # the previous read (marked stale) while the store is read again.
        with CampaignStore(path) as store:
            pending = [t.number for t in store.trials().pending]
            if pending:
                store.record_failure(pending[0], "benchmark: a trial lands")
        t = time.perf_counter()
        after, entry = get()
        while entry["stale"]:
            time.sleep(0.02)
            entry = get()[1]
        fresh = time.perf_counter() - t
        return {"cold": cold, "warm": warm, "after_commit": after, "fresh": fresh,
                "bytes": len(first.content), "trials": data["summary"]["counts"]["proposed"],
                "stale": not pending}


def bench_page(path: Path, repeat: int, chromium: str) -> dict[str, Any]:
    import httpx
    from playwright.sync_api import sync_playwright

    from bo_nas.dashboard import DashboardServer

    marks_js = ("() => Object.fromEntries(performance.getEntriesByType('mark')"
                ".map(m => [m.name, m.startTime / 1000]))")
    with DashboardServer([path], port=0) as server, sync_playwright() as pw, \
            tempfile.TemporaryDirectory() as profile:
        # The server has read the store already: the page load is what is timed.
        httpx.get(server.url + "api/campaigns", timeout=120).raise_for_status()
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 900})

        def load() -> tuple[float, dict[str, float]]:
            page = browser.new_page()
            t = time.perf_counter()
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=true]", timeout=120_000)
            seconds = time.perf_counter() - t
            marks = page.evaluate(marks_js)
            page.close()
            return seconds, marks

        # The first visit downloads and compiles BokehJS; the second finds it in the
        # HTTP cache (its address names its version and it is served as immutable) but
        # compiles it again, as Chromium keeps a script's compiled code only from its
        # second load on; later visits use both caches.
        first = load()
        second = load()
        later = sorted((load() for _ in range(repeat)), key=lambda w: w[0])
        browser.close()
    return {"first": first, "second": second, "later": later[len(later) // 2]}


def _line(what: str, seconds: float) -> str:
    return f"{what:<62} {seconds:7.3f} s   {seconds / TARGET:5.2f} x 1 s"


def _marks(m: dict[str, float]) -> str:
    return ", ".join(f"{k.split(':')[1]} {v:.2f} s" for k, v in m.items())


def _visit(what: str, load: tuple[float, dict[str, float]]) -> list[str]:
    seconds, marks = load
    return [_line(f"  {what}: numbers shown", marks.get("bo-nas:numbers", float("nan"))),
            _line(f"  {what}: every plot drawn", seconds),
            f"      ({_marks(marks)})"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="timings; the median is kept")
    parser.add_argument("--store", type=Path,
                        help="the store to time (built there if missing; default: a "
                             "temporary one)")
    parser.add_argument("--chromium", default=os.environ.get("BO_NAS_CHROMIUM",
                                                             "/usr/bin/chromium"))
    parser.add_argument("--no-browser", action="store_true", help="time the JSON only")
    args = parser.parse_args(argv)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        path = args.store or Path(tmp) / "bench-dashboard.sqlite"
        if not path.exists():
            t = time.perf_counter()
            build_store(path, args.trials)
            print(f"built {path.name}: {args.trials:,} trials in "
                  f"{time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:.1f} MB)")
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = float("nan")
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f}")
        js = bench_json(path, args.repeat)
        print(f"/api/campaigns over {js['trials']:,} trials: {js['bytes'] / 1e3:.0f} kB")
        print(_line("  first read (the store read and summarised)", js["cold"]))
        print(_line(f"  warm JSON (from the cache; median of {args.repeat})", js["warm"]))
        if not js["stale"]:
            print(_line("  first answer after a commit (the previous read)", js["after_commit"]))
            print(_line("  ... until the answer holds the commit (a re-read)", js["fresh"]))
        if args.no_browser:
            return 0
        if not Path(args.chromium).exists():
            print(f"no Chromium at {args.chromium}: page load not timed (--chromium)")
            return 0
        page = bench_page(path, args.repeat, args.chromium)
        print("the page in headless Chromium, from navigation (marks: since navigation):")
        for line in [*_visit("first visit (BokehJS fetched, compiled)", page["first"]),
                     *_visit("second visit (BokehJS cached, compiled)", page["second"]),
                     *_visit(f"repeat visit (both cached; median of {args.repeat})",
                             page["later"])]:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
