"""`bo_nas.optuna.TWSampler` in Optuna studies against our own campaign loop and TPE.

On a NAS-Bench-201 table, for each seed: an Optuna study with `TWSampler` (the default
`GPStrategy`: TW-GP, Thompson sampling), our `Campaign` loop with the same strategy and
seed, Optuna's default `TPESampler(seed=...)` and `RandomSampler(seed=...)`, each for
``--budget`` trials over the same six categorical edge parameters. Every trial is a
query (a repeat of a network TPE already evaluated included: the user pays for it).

Printed per method: the test error (%) of the best-*validation* architecture after 50,
100 and 150 trials (mean ± sample sd over seeds), the share of seeds whose best
validation accuracy is the table's best (the protocol of `bo_nas.bench`), seconds per
study and per trial, and the distinct networks a study evaluated. The campaign loop has
no zero-cost prior, as a study has none (an Optuna user trains networks: no table to
score); ``--zero-cost`` gives both the table's scores (the campaign's default).

``--save FILE`` appends each finished study as a JSON line; a rerun with the same file
skips what it holds, so a killed run loses nothing. One process, one thread. Needs
``$BO_NAS_DATA_DIR``.

    python -m benchmarks.bench_optuna --seeds 1000 1001 --budget 30
    python -m benchmarks.bench_optuna --seeds $(seq 1000 1019) --budget 150 --save optuna.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

METHODS = ("tw-sampler", "campaign", "tpe", "random")
LABELS = {
    "tw-sampler": "TWSampler (Optuna study)",
    "campaign": "Campaign loop (same GPStrategy, seed)",
    "tpe": "Optuna TPESampler (default)",
    "random": "Optuna RandomSampler",
}


def _run(method: str, dataset: str, seed: int, budget: int, zero_cost: bool) -> dict[str, Any]:
    """One study (or campaign): the cells in order with their val / test accuracies."""
    import optuna

    from bo_nas._threads import torch_threads
    from bo_nas.campaign import Campaign
    from bo_nas.evaluators import NB201Benchmark
    from bo_nas.optuna import TWSampler, suggest_architecture
    from bo_nas.strategies import GPStrategy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench = NB201Benchmark(dataset)
    space = bench.search_space()
    results: list[tuple[str, float, float]] = []
    start = time.perf_counter()
    with torch_threads(1):
        if method == "campaign":
            strategy = GPStrategy() if zero_cost else GPStrategy(prior=None)
            with Campaign(space, bench, strategy, seed=seed) as campaign:
                for t in campaign.run(budget):
                    r = t.result
                    results.append((t.arch.meta["string"], r.val_accuracy, r.test_accuracy))
        else:
            if method == "tw-sampler":
                sampler: optuna.samplers.BaseSampler = TWSampler(
                    space, seed=seed, scores=bench.zero_cost() if zero_cost else None
                )
            elif method == "tpe":
                sampler = optuna.samplers.TPESampler(seed=seed)
            else:
                sampler = optuna.samplers.RandomSampler(seed=seed)

            def objective(trial: optuna.Trial) -> float:
                arch = suggest_architecture(trial, space)
                r = bench.evaluate(arch)
                results.append((arch.meta["string"], r.val_accuracy, r.test_accuracy))
                return r.val_accuracy

            study = optuna.create_study(direction="maximize", sampler=sampler)
            study.optimize(objective, n_trials=budget)
    seconds = time.perf_counter() - start
    distinct = len({space.from_string(s).key for s, _, _ in results})
    return {
        "method": method, "dataset": dataset, "seed": seed, "budget": budget,
        "zero_cost": zero_cost, "seconds": seconds, "distinct": distinct,
        "cells": [s for s, _, _ in results], "val": [v for _, v, _ in results],
        "test": [t for _, _, t in results],
        "optimum_val": bench.optimum.val_accuracy, "optimum_test": bench.optimum.test_accuracy,
    }


def _incumbent_error(run: dict[str, Any]) -> np.ndarray:
    """Test error (%) of the best-validation cell after each trial."""
    from bo_nas._incumbent import incumbent_values
    from bo_nas.evaluators import EvaluationResult

    results = [EvaluationResult(v, t) for v, t in zip(run["val"], run["test"], strict=True)]
    return 100.0 - incumbent_values(results, "test_accuracy")


def _found(run: dict[str, Any], upto: int) -> bool:
    return max(run["val"][:upto]) >= run["optimum_val"] - 1e-9


def _key(run: dict[str, Any]) -> tuple[Any, ...]:
    return run["method"], run["dataset"], run["seed"], run["budget"], run["zero_cost"]


def _load(path: Path | None) -> dict[tuple[Any, ...], dict[str, Any]]:
    runs: dict[tuple[Any, ...], dict[str, Any]] = {}
    if path is None or not path.exists():
        return runs
    for line in path.read_text().splitlines():
        try:
            run = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        runs[_key(run)] = run
    return runs


def table(runs: Sequence[dict[str, Any]], methods: Sequence[str], budget: int,
          checkpoints: Sequence[int]) -> str:
    """Markdown table of the runs, one row per method."""
    cps = [c for c in checkpoints if c <= budget]
    head = ["method", *[f"test error @{c}" for c in cps], f"optimum found @{budget}",
            "s / study", "ms / trial", "distinct networks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        mine = [r for r in runs if r["method"] == m]
        if not mine:
            continue
        err = np.stack([_incumbent_error(r) for r in mine])
        cells = [LABELS[m]]
        for c in cps:
            col = err[:, c - 1]
            sd = col.std(ddof=1) if len(col) > 1 else 0.0
            cells.append(f"{col.mean():.2f} ± {sd:.2f}")
        k = sum(_found(r, budget) for r in mine)
        cells.append(f"{k}/{len(mine)} ({k / len(mine):.0%})")
        secs = float(np.mean([r["seconds"] for r in mine]))
        cells += [f"{secs:.1f}", f"{1000 * secs / budget:.0f}",
                  f"{np.mean([r['distinct'] for r in mine]):.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar100",
                        choices=("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1000, 1020)))
    parser.add_argument("--budget", "--trials", dest="budget", type=int, default=150,
                        help="trials per study (queries per campaign)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100, 150])
    parser.add_argument("--zero-cost", action="store_true",
                        help="the table's zero-cost prior for TWSampler and the campaign")
    parser.add_argument("--save", type=Path, default=None,
                        help="append each finished study to this JSON-lines file; resume")
    args = parser.parse_args(argv)
    if args.budget < 1:
        parser.error(f"--budget: expected a positive number of trials, got {args.budget}")

    done = _load(args.save)
    runs: list[dict[str, Any]] = []
    # Seed by seed, every method: a run stopped early still compares like with like.
    for seed in args.seeds:
        for method in args.methods:
            key = (method, args.dataset, seed, args.budget, args.zero_cost)
            run = done.get(key)
            if run is None:
                run = _run(method, args.dataset, seed, args.budget, args.zero_cost)
                if args.save is not None:
                    with args.save.open("a") as fh:
                        fh.write(json.dumps(run) + "\n")
                state = "ran"
            else:
                state = "saved"
            err = _incumbent_error(run)[-1]
            print(f"  {method} seed {seed}: test error {err:.2f} %, {run['seconds']:.0f} s "
                  f"({state})", file=sys.stderr, flush=True)
            runs.append(run)

    first = runs[0]
    seeds = sorted({r["seed"] for r in runs})
    print(f"NB-201 {args.dataset}, {args.budget} trials, {len(seeds)} seeds "
          f"({seeds[0]}-{seeds[-1]}); test error (%) of the best-validation architecture, "
          f"mean ± sd; optimum: the table's best-validation cell (test error "
          f"{100 - first['optimum_test']:.2f} %)"
          + ("; zero-cost prior on" if args.zero_cost else "; no zero-cost prior") + ".")
    print(table(runs, args.methods, args.budget, args.checkpoints))
    if {"tw-sampler", "campaign"} <= set(args.methods):
        by = {(r["method"], r["seed"]): r["cells"] for r in runs}
        same = sum(by[("tw-sampler", s)] == by[("campaign", s)] for s in seeds)
        print(f"TWSampler and the campaign loop evaluated the same cells in the same order "
              f"in {same}/{len(seeds)} seeds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
