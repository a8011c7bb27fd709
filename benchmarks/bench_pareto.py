"""Accuracy × cost Pareto search on the NAS-Bench-201 tables: hypervolume against the truth.

For each dataset and cost (``params``, ``edgegpu_latency``) the table gives the true
front exactly: by default over one result per distinct network, ``--rows all`` over every
row of the table, duplicates of a network included (`benchmarks._rows` says why the two
differ). The reference point is fixed per dataset and cost: the median validation
accuracy of the complete table, and the largest cost in it. Every method runs ``--trials``
campaigns (seeds ``--first-seed`` onwards) of ``--budget`` queries with objectives
``val_accuracy`` and ``<cost>:min``, both with that reference point as their threshold;
the table prints the hypervolume of the evaluated set as a share of the true front's
(mean ± std) at 25 / 50 / 100 / 150 queries, and seconds per proposal. Needs
``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_pareto --trials 5 --budget 100 --jobs 2
    python -m benchmarks.bench_pareto --datasets cifar100 --costs params --methods gp-tw random
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from benchmarks._rows import ROWS, Rows, benchmark, truth
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator, NB201Benchmark
from bo_nas.objectives import Objective, hypervolume

CHECKPOINTS = (25, 50, 100, 150)
COSTS = ("params", "edgegpu_latency")

#: Method label -> stored strategy config; ``scalarised`` is one-objective GP-TW on a
#: random Chebyshev scalarisation per trial.
METHODS: dict[str, dict[str, Any]] = {
    "gp-tw": {"name": "gp-tw"},
    "gp-tw-ehvi": {"name": "gp-tw-ehvi"},
    "gp-tw-pareto-ts": {"name": "gp-tw-pareto-ts"},
    "nsga2": {"name": "nsga2"},
    "random": {"name": "random"},
    "scalarised": {"name": "gp-tw"},
    # The same GP on validation accuracy alone: the per-step time to compare with.
    "one-objective": {"name": "gp-tw"},
}
DEFAULT_METHODS = ("gp-tw", "scalarised", "nsga2", "random")


class _Scalarised(Evaluator):
    r"""The table's result with ``val_accuracy`` replaced by a Chebyshev scalarisation
    :math:`100\,[\min_k \lambda_k \bar y_k + 0.05 \sum_k \lambda_k \bar y_k] / 1.05` of
    the normalised accuracy and cost (both in [0, 1] over the space); the true
    accuracy stays in ``costs["accuracy"]``."""

    def __init__(self, bench: NB201Benchmark, cost: str, weights: np.ndarray,
                 ref: np.ndarray, top: np.ndarray) -> None:
        self.bench, self.cost, self.w, self.ref, self.top = bench, cost, weights, ref, top

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        r = self.bench.evaluate(arch)
        y = np.array([r.val_accuracy, -r.costs[self.cost]])
        ybar = np.clip((y - self.ref) / (self.top - self.ref), 0.0, 1.0)
        s = (np.min(self.w * ybar) + 0.05 * np.sum(self.w * ybar)) / 1.05
        return EvaluationResult(100.0 * float(s), r.test_accuracy,
                                {**r.costs, "accuracy": r.val_accuracy}, r.info)

    def to_config(self) -> dict[str, Any]:
        return {"kind": "scalarised", "weights": self.w.tolist()}


def problem(dataset: str, cost: str, rows: Rows = "distinct"
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """Reference point, best corner (both from the complete table) and the true
    front's hypervolume over the rows that count (signed scale)."""
    acc, c = truth(dataset, "all", "val_accuracy"), truth(dataset, "all", cost)
    ref = np.array([float(np.median(acc)), -float(np.nanmax(c))])
    top = np.array([float(acc.max()), -float(np.nanmin(c))])
    Y = np.column_stack([truth(dataset, rows, "val_accuracy"), -truth(dataset, rows, cost)])
    return ref, top, hypervolume(Y, ref)


def run_trial(method: str, dataset: str, cost: str, seed: int, budget: int,
              rows: Rows = "distinct") -> dict[str, Any]:
    from bo_nas import Campaign, NB201Space
    from bo_nas._registry import strategy_from_config

    ref, top, true = problem(dataset, cost, rows)
    bench = benchmark(dataset, rows)
    objectives = [Objective("val_accuracy", False, float(ref[0])),
                  Objective(cost, True, -float(ref[1]))]
    strategy = strategy_from_config(dict(METHODS[method]))
    if method == "one-objective":
        camp = Campaign(NB201Space(), bench, strategy, seed=seed)
    elif method == "scalarised":
        w = np.random.default_rng(seed).dirichlet(np.ones(2))
        camp = Campaign(NB201Space(), _Scalarised(bench, cost, w, ref, top), strategy,
                        seed=seed)
    else:
        camp = Campaign(NB201Space(), bench, strategy, seed=seed, objectives=objectives)
    started = time.perf_counter()
    shares = []
    with camp:
        for n in CHECKPOINTS:
            if n > budget:
                break
            camp.run(n)
            results = [t.result for t in camp.history.complete]
            acc = [r.costs.get("accuracy", r.val_accuracy) for r in results]  # type: ignore[union-attr]
            Y = np.column_stack([acc, [-r.costs[cost] for r in results]])  # type: ignore[union-attr]
            shares.append(hypervolume(Y, ref) / true)
        steps = len(camp.history)
    return {"method": method, "dataset": dataset, "cost": cost, "seed": seed,
            "shares": shares, "seconds_per_step": (time.perf_counter() - started) / steps}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["cifar10", "cifar100"])
    parser.add_argument("--costs", nargs="+", default=list(COSTS), choices=COSTS)
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        choices=sorted(METHODS))
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rows", default="distinct", choices=ROWS,
                        help="one result per distinct network (default) or every row of "
                        "the table (see benchmarks/_rows.py)")
    args = parser.parse_args(argv)
    jobs = [(m, d, c, args.first_seed + i, args.budget, args.rows) for d in args.datasets
            for c in args.costs for m in args.methods for i in range(args.trials)]
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for k, r in enumerate(pool.map(run_trial, *zip(*jobs)), 1):
            results.append(r)
            # Progress on stderr, so the table on stdout stays clean.
            print(f"[{k}/{len(jobs)}] {r['method']} {r['dataset']} {r['cost']} seed "
                  f"{r['seed']}: {r['shares'][-1]:.4f}", file=sys.stderr, flush=True)
    cps = [n for n in CHECKPOINTS if n <= args.budget]
    print(f"hypervolume / true front's ({args.rows} rows), {args.trials} trials "
          f"(seeds {args.first_seed}+), mean ± std")
    print("| dataset | cost | method | " + " | ".join(f"@{n}" for n in cps) + " | s/step |")
    print("|---|---|---|" + "---|" * len(cps) + "---|")
    for d in args.datasets:
        for c in args.costs:
            for m in args.methods:
                rows = [r for r in results if (r["method"], r["dataset"], r["cost"]) == (m, d, c)]
                S = np.array([r["shares"] for r in rows]) * 100
                cells = [f"{S[:, k].mean():.2f} ± {S[:, k].std():.2f}" for k in range(len(cps))]
                sec = np.mean([r["seconds_per_step"] for r in rows])
                print(f"| {d} | {c} | {m} | " + " | ".join(cells) + f" | {sec:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
