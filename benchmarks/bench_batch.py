"""Batch BO on the NAS-Bench-201 tables: quality transforms of the k-DPP against baselines.

Runs ``--trials`` synchronous campaigns (seeds 0..trials-1) of ``--budget`` queries in
batches of ``--batch`` per method and prints, per method, the mean ± std final test error
of the best-*validation* architecture, the share of trials that found the global
best-validation cell, and seconds per trial. Needs ``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_batch --dataset cifar100 --trials 5 --batch 10
    python -m benchmarks.bench_batch --methods kdpp-mean kb --budget 100 --jobs 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Method label -> stored strategy config (``strategy_from_config``).
METHODS: dict[str, dict[str, Any]] = {
    "kdpp-mean": {"name": "gp-tw-kdpp", "quality": "mean", "alpha": 1.0},
    "kdpp-mean3": {"name": "gp-tw-kdpp", "quality": "mean", "alpha": 3.0},
    "kdpp-ei": {"name": "gp-tw-kdpp", "quality": "ei", "alpha": 1.0},
    "kdpp-ucb": {"name": "gp-tw-kdpp", "quality": "ucb", "alpha": 1.0},
    "kdpp-mean-map": {"name": "gp-tw-kdpp", "quality": "mean", "alpha": 1.0, "map": True},
    "kdpp-mean3-map": {"name": "gp-tw-kdpp", "quality": "mean", "alpha": 3.0, "map": True},
    "topk": {"name": "gp-topk"},
    "kb": {"name": "gp-kb"},
    "bucb": {"name": "gp-bucb"},
    "ts-batch": {"name": "gp-ts-batch"},
    "qlognei": {"name": "gp-qlognei"},
}
DEFAULT_METHODS = ("kdpp-mean", "kdpp-mean3", "kdpp-ei", "kdpp-ucb", "topk", "kb")

_EVALUATORS: dict[str, Any] = {}


def run_trial(task: tuple[str, str, int, int, int, dict[str, Any]]) -> dict[str, Any]:
    """One campaign; returns its final incumbent's numbers."""
    method, dataset, budget, batch, seed, pool = task
    from bo_nas._registry import strategy_from_config
    from bo_nas.campaign import Campaign
    from bo_nas.evaluators import NB201Benchmark
    from bo_nas.spaces import NB201Space

    ev = _EVALUATORS.get(dataset)
    if ev is None:
        ev = _EVALUATORS[dataset] = NB201Benchmark(dataset)
    strategy = strategy_from_config({**METHODS[method], "pool": pool})
    t0 = time.perf_counter()
    with Campaign(NB201Space(), ev, strategy, seed=seed) as campaign:
        campaign.run(budget, batch_size=batch)
        best = campaign.best
    assert best is not None and best.result is not None
    return {
        "method": method,
        "seed": seed,
        "test_error": 100.0 - float(best.result.test_accuracy),  # type: ignore[arg-type]
        "optimum": bool(ev.is_optimum(best.arch)),
        "seconds": time.perf_counter() - t0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar100")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        choices=sorted(METHODS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--pool-random", type=int, default=200,
                        help="random samples in the candidate pool")
    parser.add_argument("--pool-top-k", type=int, default=10,
                        help="incumbents whose mutations enter the pool")
    args = parser.parse_args(argv)
    pool = {"top_k": args.pool_top_k, "n_random": args.pool_random}

    seeds = range(args.first_seed, args.first_seed + args.trials)
    tasks = [(m, args.dataset, args.budget, args.batch, s, pool)
             for s in seeds for m in args.methods]
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as workers:
            rows = workers.map(run_trial, tasks, chunksize=1)
    else:
        rows = [run_trial(t) for t in tasks]

    print(f"NB-201 {args.dataset}: {args.trials} trials x {args.budget} queries in batches "
          f"of {args.batch} (test error of the best-validation architecture)")
    print(f"{'method':<16} {'test error %':>18} {'optimum found':>14} {'s/trial':>8}")
    for m in args.methods:
        mine = [r for r in rows if r["method"] == m]
        err = np.array([r["test_error"] for r in mine])
        sd = err.std(ddof=1) if len(err) > 1 else 0.0
        found = np.mean([r["optimum"] for r in mine])
        secs = np.mean([r["seconds"] for r in mine])
        print(f"{m:<16} {err.mean():>9.3f} ± {sd:6.3f} {found:>14.0%} {secs:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
