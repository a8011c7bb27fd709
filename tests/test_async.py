"""Asynchronous campaigns and the simulated clock."""

from __future__ import annotations

import heapq
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _toys import ConvCount

from bo_nas._history import History
from bo_nas.campaign import (
    Campaign,
    FlopsCostModel,
    SimulatedExecutor,
    TrialState,
    compare_schedules,
    run_simulated,
)
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, NB201Benchmark
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, PoolConfig, RandomSearch

_SMALL_GP = {"n_init": 4, "pool": PoolConfig(top_k=2, n_random=60, two_step=0)}


class RecordingGP(GPStrategy):
    """The GP strategy, noting for each proposal how many it was asked for and which
    trials were pending (the ones it must condition on)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[int, tuple[int, ...]]] = []

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        self.calls.append((n, tuple(t.number for t in history.pending)))
        return super().propose(history, n, rng)


# --- the simulated executor against hand-computed schedules ---------------------------


def _duration(v: Any) -> float:
    return float(v)


def test_simulated_executor_list_schedule() -> None:
    """Durations 5, 3, 8, 2, 4 on two workers, all submitted at 0 (worked by hand):
    w0: 0-5, w1: 0-3, then task 2 on w1 3-11, task 3 on w0 5-7, task 4 on w0 7-11."""
    sim = SimulatedExecutor(_duration, n_workers=2, noise_sigma=0.0)
    futs = [sim.submit(float, d) for d in (5, 3, 8, 2, 4)]
    order = []
    pending = set(futs)
    while pending:
        done, pending = sim.wait(pending, "FIRST_COMPLETED")
        assert len(done) == 1
        (f,) = done
        order.append((futs.index(f), sim.now))
    assert order == [(1, 3.0), (0, 5.0), (3, 7.0), (2, 11.0), (4, 11.0)]
    assert [(t.worker, t.start, t.finish) for t in sim.tasks] == [
        (0, 0.0, 5.0),
        (1, 0.0, 3.0),
        (1, 3.0, 11.0),
        (0, 5.0, 7.0),
        (0, 7.0, 11.0),
    ]
    # A task submitted at the current time starts on the worker that frees first.
    late = sim.submit(float, 1)
    assert (sim.tasks[-1].submitted, sim.tasks[-1].start) == (11.0, 11.0)
    assert late.result() == 1.0 and sim.now == 12.0  # result() advances the clock


def test_simulated_executor_lognormal_noise_and_errors() -> None:
    sim = SimulatedExecutor(lambda v: 10.0, n_workers=3, seed=7, noise_sigma=0.5)
    futs = [sim.submit(float, i) for i in range(6)]
    bad = sim.submit(math.log, -1.0)  # raises ValueError inside the task
    z = np.random.default_rng(7).standard_normal(7)
    np.testing.assert_allclose([t.duration for t in sim.tasks], 10.0 * np.exp(0.5 * z))
    _, not_done = sim.wait([*futs, bad], "ALL_COMPLETED")
    assert not not_done and sim.now == pytest.approx(sim.makespan)
    assert isinstance(bad.exception(), ValueError) and not sim.tasks[-1].ok
    with pytest.raises(ValueError, match="n_workers"):
        SimulatedExecutor(n_workers=0)


def test_flops_cost_model() -> None:
    model = FlopsCostModel(seconds_per_mflop=2.0, base_seconds=5.0, failure_seconds=1.0)
    result = EvaluationResult(50.0, costs={"flops": 10.0})
    assert model(result) == 25.0
    assert model({"ok": True, "result": result.to_dict()}) == 25.0
    assert model(None) == 1.0
    with pytest.raises(ValueError, match="base_seconds"):
        FlopsCostModel(base_seconds=-1.0)


# --- asynchronous campaigns -----------------------------------------------------------


def test_async_proposes_one_per_free_worker_conditioned_on_pending() -> None:
    strategy = RecordingGP(**_SMALL_GP)
    sim = SimulatedExecutor(FlopsCostModel(), n_workers=3, seed=0)
    with Campaign(NB201Space(), ConvCount(), strategy, seed=0) as campaign:
        run = run_simulated(campaign, 10, executor=sim, asynchronous=True)
    assert len(run.history) == 10 and all(t.state is TrialState.COMPLETE for t in run.history)
    assert strategy.calls[0] == (3, ())
    for n, pending in strategy.calls[1:]:
        # One new proposal each time a worker frees up, the other two still running.
        assert n == 1 and len(pending) == 2
    assert len(strategy.calls) == 8
    # Each task was submitted when the previous completion freed a worker.
    starts = sorted(t.start for t in run.tasks)
    finishes = sorted(t.finish for t in run.tasks)
    assert starts[3:] == pytest.approx(finishes[:7])


def test_resumed_async_campaign_knows_its_pending_trials(tmp_path: Path) -> None:
    store = tmp_path / "async.sqlite"
    evaluator = ConvCount()

    class Stop(Exception):
        pass

    def stop_after_five(trial: Any) -> None:
        seen.append(trial.number)
        if len(seen) == 5:
            raise Stop

    seen: list[int] = []
    campaign = Campaign(NB201Space(), evaluator, RecordingGP(**_SMALL_GP), seed=1, store=store)
    with pytest.raises(Stop):
        campaign.run(
            12,
            batch_size=3,
            executor=SimulatedExecutor(FlopsCostModel(), n_workers=3, seed=1),
            asynchronous=True,
            callback=stop_after_five,
        )
    before = campaign.history
    campaign.close()
    pending = [t.number for t in before.pending]
    # The killed run left the trials in flight pending in the store, arch and all.
    assert len(pending) == 2
    assert len(before.complete) == 5

    strategy = RecordingGP(**_SMALL_GP)
    with Campaign.resume(store, evaluator=evaluator, strategy=strategy) as resumed:
        assert [t.number for t in resumed.history.pending] == pending
        assert [t.arch.key for t in resumed.history] == [t.arch.key for t in before]
        history = resumed.run(
            12,
            batch_size=3,
            executor=SimulatedExecutor(FlopsCostModel(), n_workers=3, seed=2),
            asynchronous=True,
        )
    # The pending trials went back into flight and the first new proposal was made with
    # them pending, so the GP conditioned on them.
    assert strategy.calls[0] == (1, tuple(pending))
    assert len(history) == 12 and not history.pending
    assert len(history.keys) == 12
    # No finished trial was evaluated again; only the two in flight at the interruption
    # (the simulated executor had run them at submission) were redone.
    redone = {history[n].arch.key for n in pending}
    for key, count in evaluator.calls.items():
        assert count == (2 if key in redone else 1)
    assert len(evaluator.calls) == 12


# --- synchronous versus asynchronous in simulated time --------------------------------


def _oracle_makespan(durations: list[float], n_workers: int) -> float:
    """List scheduling by an independent heap: each task on the first free worker."""
    free = [0.0] * n_workers
    for d in durations:
        t = heapq.heappop(free)
        heapq.heappush(free, t + d)
    return max(free)


def test_async_beats_sync_in_simulated_time_and_is_deterministic() -> None:
    runs = compare_schedules(
        NB201Space(),
        ConvCount(),
        lambda: GPStrategy(**_SMALL_GP),
        budget=12,
        n_workers=3,
        seed=5,
        noise_sigma=0.5,
    )
    sync, asyn = runs["synchronous"], runs["asynchronous"]
    for run in (sync, asyn):
        assert len(run.history) == 12 and len(run.times) == 12
        assert np.all(np.diff(run.times) >= 0)
        assert np.all(np.diff(run.incumbent[~np.isnan(run.incumbent)]) >= 0)
        assert run.makespan == run.times[-1]
        assert all(t.trial is not None for t in run.tasks)
    # Synchronous: each batch of 3 starts when the slowest of the previous one ends.
    batches = [sync.tasks[i : i + 3] for i in range(0, 12, 3)]
    for prev, nxt in itertools.pairwise(batches):
        assert {t.start for t in nxt} == {max(t.finish for t in prev)}
    # Asynchronous: no worker idles while work is waiting, i.e. list scheduling.
    assert asyn.makespan == pytest.approx(_oracle_makespan([t.duration for t in asyn.tasks], 3))
    assert asyn.makespan < sync.makespan
    # The same seeds again: the same proposals at the same simulated times.
    sim = SimulatedExecutor(FlopsCostModel(), n_workers=3, seed=5, noise_sigma=0.5)
    with Campaign(NB201Space(), ConvCount(), GPStrategy(**_SMALL_GP), seed=5) as campaign:
        again = run_simulated(campaign, 12, executor=sim, asynchronous=True)
    assert [t.arch.key for t in again.history] == [t.arch.key for t in asyn.history]
    np.testing.assert_array_equal(again.times, asyn.times)
    assert again.tasks == asyn.tasks


def test_nb201_async_reaches_budget_sooner(data_dir: Path) -> None:
    bench = NB201Benchmark("cifar100")
    runs = compare_schedules(
        NB201Space(), bench, lambda: RandomSearch(), budget=24, n_workers=4, seed=0
    )
    sync, asyn = runs["synchronous"], runs["asynchronous"]
    assert asyn.makespan < sync.makespan
    # The FLOPs cost model spreads NB-201 durations widely.
    durations = [t.duration for t in asyn.tasks]
    assert max(durations) / min(durations) > 3
    for run in (sync, asyn):
        best = max(t.result.val_accuracy for t in run.history if t.result is not None)
        assert run.incumbent[-1] == best
        assert run.incumbent_at(run.makespan) == best
        assert math.isnan(run.incumbent_at(0.0))
