"""Search under a hard latency budget on the NAS-Bench-201 tables.

The constraint is ``edgegpu_latency <= the median latency of the space`` (HW-NAS-Bench's
edge GPU), a cost the table knows, so no method ever evaluates a violating cell. Every
method runs ``--trials`` campaigns (seeds ``--first-seed`` onwards) of ``--budget``
queries; the table prints the test error of the best-validation feasible cell (mean ±
std) at 50 / 100 / 150 queries and the share of trials that found the constrained
optimum (the feasible cell with the best validation accuracy; by default one result per
distinct network, ``--rows all`` every row of the table, see `benchmarks._rows`). Needs
``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_constrained --trials 20 --jobs 2
    python -m benchmarks.bench_constrained --datasets cifar100 --methods gp-tw random
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from benchmarks._rows import ROWS, Rows, benchmark, truth

CHECKPOINTS = (50, 100, 150)
METHODS = ("gp-tw", "local-search", "evolution", "random")


def bound_and_optimum(dataset: str, rows: Rows = "distinct") -> tuple[float, float]:
    """The latency bound (the complete table's median) and the best validation accuracy
    of a feasible row among those that count."""
    bound = float(np.median(truth(dataset, "all", "edgegpu_latency")))
    lat = truth(dataset, rows, "edgegpu_latency")
    return bound, float(truth(dataset, rows, "val_accuracy")[lat <= bound].max())


def run_trial(method: str, dataset: str, seed: int, budget: int,
              rows: Rows = "distinct") -> dict[str, Any]:
    from bo_nas import Campaign, NB201Space
    from bo_nas._registry import strategy_from_config

    bound, best_val = bound_and_optimum(dataset, rows)
    camp = Campaign(NB201Space(), benchmark(dataset, rows),
                    strategy_from_config({"name": method}), seed=seed,
                    constraints=[f"edgegpu_latency<={bound!r}"])
    errors = []
    with camp:
        for n in CHECKPOINTS:
            if n > budget:
                break
            camp.run(n)
            best = camp.best
            errors.append(100.0 - best.result.test_accuracy)  # type: ignore[union-attr,operator]
        worst = max(t.result.costs["edgegpu_latency"] for t in camp.history.complete)  # type: ignore[union-attr]
        found = camp.best.result.val_accuracy >= best_val  # type: ignore[union-attr]
    return {"method": method, "dataset": dataset, "seed": seed, "errors": errors,
            "found": bool(found), "within": worst <= bound}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["cifar10", "cifar100"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rows", default="distinct", choices=ROWS,
                        help="one result per distinct network (default) or every row of "
                        "the table (see benchmarks/_rows.py)")
    args = parser.parse_args(argv)
    jobs = [(m, d, args.first_seed + i, args.budget, args.rows) for d in args.datasets
            for m in args.methods for i in range(args.trials)]
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for k, r in enumerate(pool.map(run_trial, *zip(*jobs)), 1):
            results.append(r)
            print(f"[{k}/{len(jobs)}] {r['method']} {r['dataset']} seed {r['seed']}: "
                  f"{r['errors'][-1]:.2f}", file=sys.stderr, flush=True)
    cps = [n for n in CHECKPOINTS if n <= args.budget]
    print(f"test error (%) of the best feasible cell under edgegpu_latency <= median "
          f"({args.rows} rows), {args.trials} trials (seeds {args.first_seed}+), mean ± std")
    print("| dataset | method | " + " | ".join(f"@{n}" for n in cps)
          + " | found optimum | all within bound |")
    print("|---|---|" + "---|" * len(cps) + "---|---|")
    for d in args.datasets:
        for m in args.methods:
            rows = [r for r in results if (r["method"], r["dataset"]) == (m, d)]
            E = np.array([r["errors"] for r in rows])
            cells = [f"{E[:, k].mean():.2f} ± {E[:, k].std():.2f}" for k in range(len(cps))]
            found = sum(r["found"] for r in rows)
            within = all(r["within"] for r in rows)
            print(f"| {d} | {m} | " + " | ".join(cells)
                  + f" | {found}/{len(rows)} | {'yes' if within else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
