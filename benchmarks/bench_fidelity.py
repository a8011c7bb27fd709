"""Multi-fidelity search on the NAS-Bench-201 tables, in simulated wall-clock time.

Asynchronous campaigns with ``--workers`` evaluations in flight on a simulated clock
(`bo_nas.campaign.run_simulated`: FLOPs-proportional training times with log-normal
noise, each evaluation charged for the epochs it trains). The reference is full-fidelity
GP-TW (every evaluation 200 epochs, ``--budget`` evaluations); its mean makespan is the
time axis every other method gets. The multi-fidelity methods run ASHA (rungs 12 and 200
epochs, the two the table holds; η = 3) with new architectures from random search
(``asha``), a density model (``bohb``: BOHB-style) or the TW GP with the budget as an
input (``mobster``: ours).

Printed per method: the test error of the best-validation architecture at the final
fidelity (mean ± sd over trials, trials at the optimum) at fractions of the reference
time, and the share of that time the method needs to reach the reference's final mean
error (``t/T``). Needs ``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_fidelity --dataset cifar100 --workers 4 --trials 5
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks._cells import error_cell

#: Label -> (stored strategy configuration, fidelity schedule or None).
METHODS: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "gp-tw": ({"name": "gp-tw"}, None),
    "asha": ({"name": "random"}, {"name": "asha", "eta": 3}),
    "bohb": ({"name": "bohb"}, {"name": "asha", "eta": 3}),
    "mobster": ({"name": "gp-tw"}, {"name": "asha", "eta": 3}),
    # The GP's hyper-parameters fitted at every proposal (before ``refit="auto"``).
    "mobster-refit0": ({"name": "gp-tw", "refit": 0}, {"name": "asha", "eta": 3}),
}
FRACTIONS = (0.1, 0.25, 0.4, 0.5, 0.75, 1.0)


def _one(dataset: str, method: str, seed: int, budget: int, workers: int,
         horizon: float | None) -> tuple[list[float], list[float], float, float, int]:
    """(finish times, test error of the incumbent after each, optimum, makespan,
    architectures tried)."""
    from bo_nas._registry import strategy_from_config
    from bo_nas.campaign import Campaign, SimulatedExecutor, run_simulated
    from bo_nas.evaluators import NB201Benchmark
    from bo_nas.spaces import distinct_networks

    config, fidelity = METHODS[method]
    evaluator = NB201Benchmark(dataset)
    executor = SimulatedExecutor(n_workers=workers, seed=seed)
    with Campaign(evaluator.search_space(), evaluator, strategy_from_config(config),
                  seed=seed, fidelity=fidelity) as campaign:
        cap = budget if fidelity is None else distinct_networks(campaign.space)
        run = run_simulated(campaign, cap, executor=executor, asynchronous=True,
                            horizon=None if fidelity is None else horizon)
    errors = 100.0 - run.incumbent_of("test_accuracy")
    return (list(run.times), list(errors), 100.0 - evaluator.optimum.test_accuracy,
            run.makespan, len(run.history))


def error_at(times: Sequence[float], errors: Sequence[float], t: float) -> float:
    """The incumbent's test error at simulated time ``t`` (NaN before the first)."""
    i = int(np.searchsorted(np.asarray(times), t, side="right"))
    return float(errors[i - 1]) if i > 0 else math.nan


def _job(args: tuple) -> tuple:
    method, dataset, seed, budget, workers, horizon, save = args
    t0 = time.perf_counter()
    out = _one(dataset, method, seed, budget, workers, horizon)
    row = (method, seed, *out, time.perf_counter() - t0)
    print(f"  {method} seed {seed}: {row[-1]:.0f} s", file=sys.stderr, flush=True)
    if save:
        # One line per finished job, so a long run interrupted keeps what it measured.
        with open(save, "a") as f:
            f.write(json.dumps(row) + "\n")
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar100", choices=("cifar10", "cifar100"))
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--budget", type=int, default=150,
                        help="full evaluations of the reference")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--save", default=None, help="append each job's curve to this file")
    args = parser.parse_args(argv)

    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    seeds = range(args.first_seed, args.first_seed + args.trials)
    with ctx.Pool(args.jobs) as pool:
        ref = pool.map(_job, [("gp-tw", args.dataset, s, args.budget, args.workers, None,
                               args.save) for s in seeds])
        horizon = float(np.mean([r[5] for r in ref]))
        others = [m for m in args.methods if m != "gp-tw"]
        rest = pool.map(_job, [(m, args.dataset, s, args.budget, args.workers, horizon,
                                args.save) for s in seeds for m in others], chunksize=1)
    results = ref + rest
    optimum = ref[0][4]
    target = float(np.mean([r[3][-1] for r in ref]))
    grid = np.linspace(0.0, horizon, 401)[1:]
    print(f"NB-201 {args.dataset}, {args.workers} workers, {args.trials} trials (seeds "
          f"{args.first_seed}-{args.first_seed + args.trials - 1}). Test error % of the "
          f"best-validation architecture at 200 epochs (optimum {optimum:.2f}) at fractions "
          f"of T = {horizon / 3600:.0f} simulated hours (gp-tw's time for {args.budget} full "
          f"evaluations); t/T: time to reach gp-tw's final mean error {target:.3f}.")
    print(f"{'method':<10}" + "".join(f"{'@' + format(f, 'g') + 'T':>22}" for f in FRACTIONS)
          + f"{'t/T':>7}{'archs':>7}{'s/trial':>9}")
    for method in args.methods:
        mine = [r for r in results if r[0] == method]
        cells = [error_cell(np.array([error_at(r[2], r[3], f * horizon) for r in mine]),
                            optimum) for f in FRACTIONS]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # before any result: NaN
            mean_curve = np.array([np.nanmean([error_at(r[2], r[3], t) for r in mine])
                                   for t in grid])
        hit = np.nonzero(mean_curve <= target + 1e-9)[0]
        reach = f"{grid[hit[0]] / horizon:.2f}" if len(hit) else "-"
        archs = np.mean([r[6] for r in mine])
        secs = np.mean([r[7] for r in mine])
        print(f"{method:<10}" + "".join(f"{c:>22}" for c in cells)
              + f"{reach:>7}{archs:>7.0f}{secs:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
