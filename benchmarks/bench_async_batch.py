"""Asynchronous batch rules on the NAS-Bench-201 tables, in simulated wall-clock time.

``--workers`` evaluations in flight; a new proposal whenever one finishes, conditioned on
the pending ones (`bo_nas.campaign.run_simulated`, FLOPs-proportional training times with
log-normal noise). Per rule: the test error of the best-validation architecture among the
first N evaluations to *finish* (mean ± sd, trials at the optimum), and the simulated
time to finish them. Needs ``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_async_batch --dataset cifar100 --trials 10 --workers 8
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks._cells import error_cell

#: Label -> stored strategy configuration.
RULES: dict[str, dict[str, Any]] = {
    "kdpp-mean3": {"name": "gp-tw-kdpp", "alpha": 3.0},
    "kdpp-mean3-fantasy": {"name": "gp-tw-kdpp", "alpha": 3.0, "pending": "sample"},
    "kdpp-m100": {"name": "gp-tw-kdpp", "alpha": 3.0, "top_m": 100},
    "kdpp-m100-fantasy": {"name": "gp-tw-kdpp", "alpha": 3.0, "top_m": 100,
                          "pending": "sample"},
    "kdpp-sample": {"name": "gp-tw-kdpp", "quality": "sample", "alpha": 1.0},
    "kdpp-sample-fantasy": {"name": "gp-tw-kdpp", "quality": "sample", "alpha": 1.0,
                            "pending": "sample"},
    "ts": {"name": "gp-tw"},
    "ts-batch": {"name": "gp-ts-batch"},
    "kb": {"name": "gp-kb"},
}


def _one(dataset: str, config: dict[str, Any], seed: int, budget: int,
         workers: int) -> tuple[list[float], list[float], float]:
    from bo_nas._registry import strategy_from_config
    from bo_nas.campaign import Campaign, SimulatedExecutor, TrialState, run_simulated
    from bo_nas.evaluators import NB201Benchmark

    evaluator = NB201Benchmark(dataset)
    campaign = Campaign(evaluator.search_space(), evaluator, strategy_from_config(config),
                        seed=seed)
    with campaign:
        run = run_simulated(campaign, budget,
                            executor=SimulatedExecutor(n_workers=workers, seed=seed),
                            asynchronous=True)
    # The first N to finish, successes only: each appears once in the curve.
    done = [i for i, n in enumerate(run.order)
            if run.history[n].state is TrialState.COMPLETE]
    errors = 100.0 - run.incumbent_of("test_accuracy")
    return ([float(errors[i]) for i in done], [float(run.times[i]) for i in done],
            100.0 - evaluator.optimum.test_accuracy)


def _job(args: tuple) -> tuple[str, int, list[float], list[float], float, float]:
    label, dataset, config, seed, budget, workers = args
    t0 = time.perf_counter()
    errors, times, optimum = _one(dataset, config, seed, budget, workers)
    return label, seed, errors, times, optimum, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar100")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--workers", type=int, default=8, help="evaluations in flight")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=sorted(RULES))
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100, 150])
    args = parser.parse_args(argv)

    import multiprocessing

    jobs = [(r, args.dataset, RULES[r], args.first_seed + i, args.budget, args.workers)
            for i in range(args.trials) for r in args.rules]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.jobs) as pool:
        results = pool.map(_job, jobs)
    checkpoints = [c for c in args.checkpoints if c <= args.budget]
    optimum = results[0][4]
    print(f"NB-201 {args.dataset}, asynchronous, {args.workers} workers, {args.trials} trials "
          f"(seeds {args.first_seed}-{args.first_seed + args.trials - 1}): test error % of "
          f"the best-validation architecture among the first N to finish (optimum "
          f"{optimum:.2f}), simulated hours to N")
    print(f"{'rule':<22}" + "".join(f"{'@' + str(c):>24}" for c in checkpoints)
          + f"{'s/trial':>9}")
    for rule in args.rules:
        mine = [r for r in results if r[0] == rule]
        cells = []
        for c in checkpoints:
            hours = np.mean([r[3][c - 1] for r in mine]) / 3600
            cells.append(f"{error_cell(np.array([r[2][c - 1] for r in mine]), optimum)} "
                         f"{hours:.0f}h")
        secs = np.mean([r[5] for r in mine])
        print(f"{rule:<22}" + "".join(f"{cell:>24}" for cell in cells) + f"{secs:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
