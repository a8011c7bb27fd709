"""Quick comparison of search strategies on the NAS-Bench-201 tables (a developer tool).

Runs ``--trials`` campaigns of ``--budget`` queries per method (seeds 0..trials-1) and
prints, per method, the mean ± std final test error of the best-*validation*
architecture found, the share of trials that found the global best-validation cell,
and the seconds per trial. Needs ``$BO_NAS_DATA_DIR``.

    python -m benchmarks.quick_baselines --dataset cifar100 --trials 10 --budget 150
    python -m benchmarks.quick_baselines --methods evolution \\
        --set evolution.population_size=20 --set evolution.sample_size=5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_METHODS = ("random", "evolution", "local-search", "bananas", "nasbowl")

_EVALUATORS: dict[str, Any] = {}


def run_trial(task: tuple[str, dict[str, Any], str, int, int]) -> dict[str, Any]:
    """One campaign; returns its final incumbent's numbers."""
    method, settings, dataset, budget, seed = task
    import torch

    from bo_nas._registry import strategy_from_config
    from bo_nas.campaign import Campaign
    from bo_nas.evaluators import NB201Benchmark
    from bo_nas.spaces import NB201Space

    # Tiny models on a shared machine: extra intra-op threads only spin (10x slower).
    torch.set_num_threads(1)
    ev = _EVALUATORS.get(dataset)
    if ev is None:
        ev = _EVALUATORS[dataset] = NB201Benchmark(dataset)
    strategy = strategy_from_config({"name": method, **settings})
    t0 = time.perf_counter()
    with Campaign(NB201Space(), ev, strategy, seed=seed) as campaign:
        history = campaign.run(budget)
        best = campaign.best
    seconds = time.perf_counter() - t0
    assert best is not None and best.result is not None
    return {
        "method": method,
        "seed": seed,
        "queries": len(history),
        "test_error": 100.0 - float(best.result.test_accuracy),  # type: ignore[arg-type]
        "val_accuracy": float(best.result.val_accuracy),
        "optimum": bool(ev.is_optimum(best.arch)),
        "seconds": seconds,
    }


def _parse_settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, value = item.partition("=")
        method, _, field = key.partition(".")
        if not field or not value:
            raise SystemExit(f"--set: expected METHOD.FIELD=VALUE, got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(method, {})[field] = parsed
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar100")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.FIELD=VALUE",
                        help="override a strategy setting (JSON value)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print each trial as it ends")
    args = parser.parse_args(argv)
    settings = _parse_settings(args.set)

    tasks = [
        (m, settings.get(m, {}), args.dataset, args.budget, s)
        for m in args.methods
        for s in range(args.first_seed, args.first_seed + args.trials)
    ]
    # Seed-major order, so an interrupted run has a few trials of every method.
    tasks.sort(key=lambda t: (t[4], args.methods.index(t[0])))
    rows: list[dict[str, Any]] = []
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for row in pool.imap_unordered(run_trial, tasks, chunksize=1):
            rows.append(row)
            if args.verbose:
                print(json.dumps(row), flush=True)

    print(f"NB-201 {args.dataset}: {args.trials} trials x {args.budget} queries "
          "(test error of the best-validation architecture)")
    print(f"{'method':<16} {'test error %':>18} {'optimum found':>14} {'s/trial':>8}")
    for m in args.methods:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        err = np.array([r["test_error"] for r in mine])
        found = np.mean([r["optimum"] for r in mine])
        secs = np.mean([r["seconds"] for r in mine])
        label = m + ("" if m not in settings else " " + json.dumps(settings[m]))
        print(f"{label:<16} {err.mean():>9.3f} ± {err.std(ddof=1) if len(err) > 1 else 0:6.3f} "
              f"{found:>14.0%} {secs:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
