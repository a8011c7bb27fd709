"""What zero-cost priors cost a tabular campaign: time in the scores against the whole.

Runs ``--trials`` GP-TW campaigns of ``--budget`` queries on an NB-201 table with the
default prior and, side by side on the same seeds, without one. For the prior runs it
times everything the prior adds: reading the proxy table (cold, for every campaign), the
initial design and the per-proposal score lookups and rank transforms; the one-off cost
of a process's first design (enumerating the space's 15,625 cells) is printed apart.
Prints the share of campaign time spent on scores and the ratio of campaign times with
and without the prior. Needs ``$BO_NAS_DATA_DIR`` (or ``--data-dir``).

    python -m benchmarks.bench_prior_cost                 # 3 trials, 150 queries
    python -m benchmarks.bench_prior_cost --trials 5 --dataset cifar100
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bo_nas._history import History
from bo_nas._threads import torch_threads
from bo_nas.campaign import Campaign
from bo_nas.evaluators import NB201Benchmark
from bo_nas.evaluators._tables import clear_cache
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, _gp, _prior


class _Clock:
    """Seconds spent inside wrapped functions."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    space = NB201Space()
    bench = NB201Benchmark(args.dataset, data_dir=args.data_dir)
    clock = _Clock()
    # Time the prior's parts where the strategy calls them.
    _gp.prior_design = clock.wrap(_prior.prior_design)
    GPStrategy._combined = clock.wrap(GPStrategy._combined)  # type: ignore[method-assign]
    with_prior = without = 0.0
    load = 0.0
    print("| trial | with prior (s) | of which scores (s) | without prior (s) |")
    print("|---|---|---|---|")
    with torch_threads(1):
        # One-off per process: enumerating and ranking the whole space for the design.
        start = time.perf_counter()
        _prior.prior_design(space, bench.zero_cost(), History(), 1, np.random.default_rng(0))
        once = time.perf_counter() - start
        # Warm the caches both kinds of campaign share (neighbour lists), so that
        # neither pays for the other's first steps.
        Campaign(space, bench, GPStrategy(prior=None), seed=10**6).run(20)
        for i in range(args.trials):
            clear_cache()
            start = time.perf_counter()
            source = bench.zero_cost()  # the cold read of the proxy table
            read = time.perf_counter() - start
            load += read
            before = clock.seconds
            start = time.perf_counter()
            Campaign(space, bench, GPStrategy(), seed=args.seed + i).run(args.budget)
            t_with = time.perf_counter() - start + read
            scores = clock.seconds - before + read
            start = time.perf_counter()
            Campaign(space, bench, GPStrategy(prior=None), seed=args.seed + i).run(args.budget)
            t_without = time.perf_counter() - start
            with_prior += t_with
            without += t_without
            print(f"| {args.seed + i} | {t_with:.1f} | {scores:.2f} | {t_without:.1f} |")
    del source
    total_scores = clock.seconds + load
    print(f"\none-off per process (enumerating and ranking the space): {once:.2f} s")
    print(f"scores: {total_scores:.2f} s of {with_prior:.1f} s "
          f"({100 * total_scores / with_prior:.2f} % of campaign time; table read "
          f"{load / args.trials:.2f} s per campaign)")
    print(f"campaign time with / without the prior: {with_prior / without:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
