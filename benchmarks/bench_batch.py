"""Batch BO on the NAS-Bench-201 tables: quality transforms of the k-DPP against baselines.

Runs ``--trials`` synchronous campaigns (seeds ``--first-seed`` onwards) of ``--budget``
queries in batches of ``--batch`` per method through the benchmark harness
(`bo_nas.bench.run_benchmark`) and prints, per method, the mean ± std final test error
of the best-*validation* architecture, the share of trials that found the global
best-validation cell, and seconds per trial. Needs ``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_batch --dataset cifar100 --trials 5 --batch 10
    python -m benchmarks.bench_batch --methods kdpp-mean kb --budget 100 --jobs 2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

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

    # Imported here so that --help answers without loading torch.
    from bo_nas.bench import run_benchmark

    report = run_benchmark(
        "nb201", args.dataset, {m: {**METHODS[m], "pool": pool} for m in args.methods},
        budget=args.budget, trials=args.trials, seed=args.first_seed, workers=args.jobs,
        batch_size=args.batch,
    )
    final = args.budget
    rows = {row["method"]: row for row in report.summary([final], ddof=1)}

    print(f"NB-201 {args.dataset}: {args.trials} trials x {args.budget} queries in batches "
          f"of {args.batch} (test error of the best-validation architecture)")
    print(f"{'method':<16} {'test error %':>18} {'optimum found':>14} {'s/trial':>8}")
    for m in args.methods:
        row = rows[m]
        mean, sd = row[f"mean@{final}"], row[f"std@{final}"]
        found, secs = row["optimum_share"], row["seconds_per_trial"]
        print(f"{m:<16} {mean:>9.3f} ± {sd:6.3f} {found:>14.0%} {secs:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
