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

from benchmarks._cells import error_cell

_POST = {"kernel": "posterior"}
_POST300 = {**_POST, "top_m": 300}
#: The k-DPP before this study: the prior kernel on the 300 best by log-EI, alpha = 3.
_AT3 = {"alpha": 3.0, "top_m": 300}

#: Method label -> stored strategy config (``strategy_from_config``).
METHODS: dict[str, dict[str, Any]] = {
    # On the posterior covariance: the k-DPP before the study below made the prior
    # kernel its default.
    "kdpp-mean": {"name": "gp-tw-kdpp", "quality": "mean", "alpha": 1.0, **_POST300},
    "kdpp-mean3": {"name": "gp-tw-kdpp", "quality": "mean", "alpha": 3.0, **_POST300},
    "kdpp-ei": {"name": "gp-tw-kdpp", "quality": "ei", "alpha": 1.0, **_POST300},
    "kdpp-ucb": {"name": "gp-tw-kdpp", "quality": "ucb", "alpha": 1.0, **_POST300},
    "kdpp-mean-map": {"name": "gp-tw-kdpp", "alpha": 1.0, "map": True, **_POST300},
    "kdpp-mean3-map": {"name": "gp-tw-kdpp", "alpha": 3.0, "map": True, **_POST300},
    # The study of the k-DPP's parts (quality from a posterior draw, pool size and
    # ranking, the DPP's kernel).
    "kdpp-sample": {"name": "gp-tw-kdpp", "quality": "sample", "alpha": 1.0, **_POST300},
    "kdpp-sample3": {"name": "gp-tw-kdpp", "quality": "sample", "alpha": 3.0, **_POST300},
    "kdpp-mean3-m100": {"name": "gp-tw-kdpp", "alpha": 3.0, "top_m": 100, **_POST},
    "kdpp-mean3-m1000": {"name": "gp-tw-kdpp", "alpha": 3.0, "top_m": 1000, **_POST},
    "kdpp-mean3-all": {"name": "gp-tw-kdpp", "alpha": 3.0, "top_m": 100_000, **_POST},
    "kdpp-mean3-rank-ucb": {"name": "gp-tw-kdpp", "alpha": 3.0, "rank": "ucb", **_POST300},
    "kdpp-mean3-rank-draw": {"name": "gp-tw-kdpp", "alpha": 3.0, "rank": "sample", **_POST300},
    "kdpp-mean3-prior": {"name": "gp-tw-kdpp", "kernel": "prior", **_AT3},
    # The prior kernel's pool, ranking and quality exponent (fixed and scheduled).
    "kdpp-prior-m100": {"name": "gp-tw-kdpp", "top_m": 100, "alpha": 3.0},
    "kdpp-prior-m1000": {"name": "gp-tw-kdpp", "top_m": 1000, "alpha": 3.0},
    "kdpp-prior-all": {"name": "gp-tw-kdpp", "top_m": 100_000, "alpha": 3.0},
    "kdpp-prior-rank-ucb": {"name": "gp-tw-kdpp", "rank": "ucb", **_AT3},
    "kdpp-prior-rank-draw": {"name": "gp-tw-kdpp", "rank": "sample", **_AT3},
    "kdpp-prior-a5": {"name": "gp-tw-kdpp", **_AT3, "alpha": 5.0},
    "kdpp-prior-m50": {"name": "gp-tw-kdpp", "top_m": 50, "alpha": 3.0},
    "kdpp-prior-m100-a5": {"name": "gp-tw-kdpp", "top_m": 100, "alpha": 5.0},
    "kdpp-prior-a1to3": {"name": "gp-tw-kdpp", **_AT3, "alpha_start": 1.0, "alpha_ramp": 100},
    "kdpp-prior-a1to5": {"name": "gp-tw-kdpp", **_AT3, "alpha": 5.0, "alpha_start": 1.0,
                         "alpha_ramp": 150},
    "kdpp-sample-all": {"name": "gp-tw-kdpp", "quality": "sample", "alpha": 1.0,
                        "top_m": 100_000, **_POST},
    "kdpp-sample3-all": {"name": "gp-tw-kdpp", "quality": "sample", "alpha": 3.0,
                         "top_m": 100_000, **_POST},
    "ts": {"name": "gp-tw"},
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
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100, 150],
                        help="evaluation counts at which to report")
    args = parser.parse_args(argv)
    pool = {"top_k": args.pool_top_k, "n_random": args.pool_random}

    # Imported here so that --help answers without loading torch.
    from bo_nas.bench import run_benchmark

    report = run_benchmark(
        "nb201", args.dataset, {m: {**METHODS[m], "pool": pool} for m in args.methods},
        budget=args.budget, trials=args.trials, seed=args.first_seed, workers=args.jobs,
        batch_size=args.batch,
    )
    checkpoints = [c for c in args.checkpoints if c <= args.budget]
    rows = {row["method"]: row for row in report.summary(checkpoints, ddof=1)}
    optimum = report.optimum_test_error

    print(f"NB-201 {args.dataset}: {args.trials} trials x {args.budget} queries in batches "
          f"of {args.batch}, seeds {args.first_seed}-{args.first_seed + args.trials - 1} "
          f"(test error % of the best-validation architecture, mean ± sd, and the trials "
          f"at the optimum {optimum:.2f})")
    print(f"{'method':<22}" + "".join(f"{'@' + str(c):>22}" for c in checkpoints)
          + f"{'s/trial':>9}")
    for m in args.methods:
        err = report.errors(m)
        cells = [error_cell(err[:, c - 1], optimum) for c in checkpoints]
        print(f"{m:<22}" + "".join(f"{cell:>22}" for cell in cells)
              + f"{rows[m]['seconds_per_trial']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
