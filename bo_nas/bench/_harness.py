"""The benchmark harness: many seeded campaigns per method on a tabular benchmark.

Protocol (the one NAS papers report): each trial is a campaign of ``budget`` queries
with its own seed; after every query the incumbent is the architecture with the best
*validation* accuracy so far, and what is reported is that incumbent's *test* error.
A trial "found the optimum" when its incumbent has the benchmark's best validation
accuracy. A failed evaluation is a query too: it spends budget and keeps its place on
the curve. Trials run in parallel processes; every trial is independent and seeded, so
the table does not depend on the number of workers.
"""

from __future__ import annotations

import copy
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bo_nas._incumbent import incumbent_values

from ._methods import parse_method

logger = logging.getLogger(__name__)

#: Queries at which the table reports the incumbent.
DEFAULT_CHECKPOINTS = (10, 25, 50, 100, 150)


@dataclass(frozen=True)
class TrialResult:
    """One campaign of the benchmark.

    Attributes:
        method: Strategy name.
        trial: Trial index; the campaign seed is ``seed + trial``.
        seed: The campaign seed.
        val: Validation accuracy (%) of each query, in order (NaN for a failure).
        test: Test accuracy (%) of each query (NaN for a failure or none reported).
        incumbent_test_error: Test error (%) of the best-validation architecture after
            each query, failed ones included (NaN before the first success).
        found_optimum: Whether the best-validation architecture of the benchmark was
            evaluated.
        seconds: Wall time of the campaign.
    """

    method: str
    trial: int
    seed: int
    val: tuple[float, ...]
    test: tuple[float, ...]
    incumbent_test_error: tuple[float, ...]
    found_optimum: bool
    seconds: float


@dataclass
class BenchmarkReport:
    """All trials of a benchmark run, with the summary the CLI prints."""

    space: str
    dataset: str
    budget: int
    optimum_test_error: float
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(t.method for t in self.trials))

    def errors(self, method: str) -> np.ndarray:
        """`trials x budget` incumbent test errors of one method."""
        rows = [t.incumbent_test_error for t in self.trials if t.method == method]
        return np.array(rows, dtype=float).reshape(len(rows), -1)

    def summary(
        self, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS, *, ddof: int = 0
    ) -> list[dict[str, Any]]:
        r"""Per method: mean and std test error at each checkpoint, optimum share, time.

        Args:
            checkpoints: Queries (1-based) at which to summarise the incumbent's test
                error; those beyond the curves are left out.
            ddof: Delta degrees of freedom of the std over trials,
                :math:`\sqrt{\sum_i (e_i - \bar e)^2 / (n - \mathrm{ddof})}` (1 for the
                sample std); with no more trials than ``ddof`` the std is 0.
        """
        out = []
        for m in self.methods:
            err = self.errors(m)
            trials = [t for t in self.trials if t.method == m]
            row: dict[str, Any] = {"method": m, "trials": len(trials)}
            for c in checkpoints:
                if c <= err.shape[1]:
                    col = err[:, c - 1]
                    row[f"mean@{c}"] = float(np.nanmean(col))
                    row[f"std@{c}"] = _std(col, ddof)
            row["optimum_share"] = float(np.mean([t.found_optimum for t in trials]))
            row["seconds_per_trial"] = float(np.mean([t.seconds for t in trials]))
            out.append(row)
        return out

    def format_table(self, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS) -> str:
        """Markdown table: mean ± std test error (%) of the incumbent at each checkpoint."""
        cps = [c for c in checkpoints if c <= self.budget]
        head = ["method", *[f"test error @{c}" for c in cps], "optimum found", "s / trial"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.summary(cps):
            cells = [row["method"]]
            cells += [f"{row[f'mean@{c}']:.2f} ± {row[f'std@{c}']:.2f}" for c in cps]
            share = row["optimum_share"]
            cells.append(f"{round(share * row['trials'])}/{row['trials']} ({share:.0%})")
            cells.append(f"{row['seconds_per_trial']:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append(
            f"\n{self.space} {self.dataset}, {self.budget} queries; optimum test error "
            f"{self.optimum_test_error:.2f} %"
        )
        return "\n".join(lines)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """One row per trial and query: the raw numbers behind the table."""
        import csv

        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                ["method", "trial", "seed", "query", "val_accuracy", "test_accuracy",
                 "incumbent_test_error", "found_optimum", "seconds"]
            )
            for t in self.trials:
                for q, (v, te, inc) in enumerate(
                    zip(t.val, t.test, t.incumbent_test_error, strict=True), start=1
                ):
                    w.writerow(
                        [t.method, t.trial, t.seed, q, f"{v:.6f}", f"{te:.6f}", f"{inc:.6f}",
                         int(t.found_optimum), f"{t.seconds:.3f}"]
                    )


def _std(values: np.ndarray, ddof: int) -> float:
    """NaN-ignoring std; 0 where a sample std is asked of too few trials to have one."""
    if ddof > 0 and 0 < np.count_nonzero(~np.isnan(values)) <= ddof:
        return 0.0
    return float(np.nanstd(values, ddof=ddof))


def _evaluator(space: str, dataset: str, data_dir: str | None) -> Any:
    from bo_nas.evaluators import NB101Benchmark, NB201Benchmark

    if space == "nb201":
        return NB201Benchmark(dataset, data_dir)
    if space == "nb101":
        if dataset != "cifar10":
            raise ValueError(f"dataset: NB-101 has 'cifar10' only, got {dataset!r}")
        return NB101Benchmark(data_dir)
    raise ValueError(f"space: expected 'nb201' or 'nb101', got {space!r}")


def _space(space: str, evaluator: Any) -> Any:
    """The space a trial searches: a sample table's own cells (NB-101's 500-entry file)
    when the evaluator has them, else the whole space."""
    search_space = getattr(evaluator, "search_space", None)
    if callable(search_space):
        return search_space()
    from bo_nas.spaces import NB101Space, NB201Space

    return NB201Space() if space == "nb201" else NB101Space()


def run_trial(
    space: str, dataset: str, data_dir: str | None, method: str, trial: int, seed: int,
    budget: int, batch_size: int = 1, *, config: Mapping[str, Any] | None = None,
) -> TrialResult:
    """One seeded campaign in memory; returns its per-query numbers.

    Every finished trial is a query, a failed one included: it spends budget, so it
    takes its place on the curve (NaN accuracies, the incumbent unchanged).

    Args:
        space: ``nb201`` or ``nb101``.
        dataset: Benchmark table.
        data_dir: Benchmark data folder (`$BO_NAS_DATA_DIR` when omitted).
        method: The method's label in the report; also its specification
            (`parse_method`) unless ``config`` is given.
        trial: Trial index; the campaign seed is ``seed + trial``.
        seed: Seed of trial 0.
        budget: Queries of the campaign.
        batch_size: Evaluations proposed at once (1 = sequential).
        config: Strategy configuration (`strategy_from_config`) under the label
            ``method``.
    """
    from bo_nas._registry import strategy_from_config
    from bo_nas._threads import torch_threads
    from bo_nas.campaign import Campaign, TrialState

    evaluator = _evaluator(space, dataset, data_dir)
    strategy = strategy_from_config(_config(method, config))
    start = time.perf_counter()
    # Trials run side by side in processes; one thread each avoids oversubscription.
    with torch_threads(1):
        campaign = Campaign(_space(space, evaluator), evaluator, strategy, seed=seed + trial)
        history = campaign.run(budget, batch_size=batch_size)
    seconds = time.perf_counter() - start
    results = [
        t.result if t.state is TrialState.COMPLETE else None
        for t in history
        if t.state is not TrialState.PENDING
    ]
    best_val = incumbent_values(results, "val_accuracy")
    inc_err = 100.0 - incumbent_values(results, _reported(evaluator))
    return TrialResult(
        method=method,
        trial=trial,
        seed=seed + trial,
        val=tuple(np.nan if r is None else float(r.val_accuracy) for r in results),
        test=tuple(
            np.nan if r is None or r.test_accuracy is None else float(r.test_accuracy)
            for r in results
        ),
        incumbent_test_error=tuple(inc_err.tolist()),
        # NaN (no success at all) compares False: no optimum found.
        found_optimum=bool(
            best_val.size > 0 and best_val[-1] >= _optimum_val(evaluator) - 1e-9
        ),
        seconds=seconds,
    )


def _config(method: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The strategy configuration of a method, copied: the registry may keep it."""
    return parse_method(method) if config is None else copy.deepcopy(dict(config))


def _optimum_val(evaluator: Any) -> float:
    opt = evaluator.optimum
    return float(opt.val_accuracy)


def _reported(evaluator: Any) -> str:
    """The accuracy the table reports: the test accuracy, or the validation accuracy of
    a table without a test split (the NB-101 sample)."""
    return "val_accuracy" if math.isnan(evaluator.optimum.test_accuracy) else "test_accuracy"


def _optimum_test_error(evaluator: Any) -> float:
    return 100.0 - float(getattr(evaluator.optimum, _reported(evaluator)))


def run_benchmark(
    space: str = "nb201",
    dataset: str = "cifar10",
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]] = ("gp-tw", "random"),
    *,
    budget: int = 150,
    trials: int = 20,
    seed: int = 0,
    workers: int | None = None,
    data_dir: str | None = None,
    batch_size: int = 1,
    on_trial: Callable[[TrialResult], None] | None = None,
) -> BenchmarkReport:
    """Run ``trials`` campaigns of every method and collect their curves.

    Args:
        space: ``nb201`` or ``nb101``.
        dataset: Benchmark table (NB-201: ``cifar10``, ``cifar10-valid``, ``cifar100``,
            ``ImageNet16-120``).
        methods: Strategy names (as in ``bo-nas run --strategy``), each optionally
            with settings, ``name[:key=value]...`` (`parse_method`), e.g.
            ``"gp-tw:acquisition=logei"``; or ``{label: strategy configuration}``
            (`strategy_from_config`), reported under the labels.
        budget: Queries per campaign.
        trials: Campaigns per method; trial ``i`` uses seed ``seed + i`` for every
            method, so methods see the same random initial draws where they share a
            sampler.
        workers: Parallel processes (default: the number of cores).
        data_dir: Benchmark data folder (`$BO_NAS_DATA_DIR` when omitted).
        batch_size: Evaluations proposed at once (1 = sequential).
        on_trial: Called as each trial finishes (progress display).
    """
    from bo_nas._registry import strategy_from_config

    configs: dict[str, dict[str, Any]] = (
        {label: _config(label, cfg) for label, cfg in methods.items()}
        if isinstance(methods, Mapping)
        else {m: parse_method(m) for m in methods}
    )
    labels = list(configs)
    for label in labels:  # fail before starting any process
        strategy_from_config(copy.deepcopy(configs[label]))
    evaluator = _evaluator(space, dataset, data_dir)
    report = BenchmarkReport(space, dataset, budget, _optimum_test_error(evaluator))
    jobs = [(m, i) for i in range(trials) for m in labels]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    results: dict[tuple[str, int], TrialResult] = {}

    def done(r: TrialResult) -> None:
        results[(r.method, r.trial)] = r
        if on_trial is not None:
            on_trial(r)

    def args(m: str, i: int) -> tuple[Any, ...]:
        return space, dataset, data_dir, m, i, seed, budget, batch_size

    if workers == 1:
        for m, i in jobs:
            done(run_trial(*args(m, i), config=configs[m]))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = [pool.submit(run_trial, *args(m, i), config=configs[m]) for m, i in jobs]
            for fut in as_completed(futures):
                done(fut.result())
    report.trials = [results[j] for j in sorted(results, key=lambda j: (labels.index(j[0]), j[1]))]
    return report
