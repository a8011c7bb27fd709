"""Executors: the local process pool for real, worker deaths, the waiting hook."""

from __future__ import annotations

import os
import pickle
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _toys import ConvCount, Crashing, within

from bo_nas.campaign import (
    Campaign,
    InlineExecutor,
    RestartingProcessPool,
    SimulatedExecutor,
    TrialState,
    local_executor,
    wait_futures,
)
from bo_nas.encodings import Architecture
from bo_nas.evaluators import Evaluator, NB201Benchmark
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

WATCHDOG_S = 90.0


def _proposals(n: int, seed: int) -> list[Architecture]:
    """The architectures a random-search campaign with ``seed`` proposes first."""
    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=seed) as c:
        return [t.arch for t in c.ask(n)]


def _run(evaluator: Evaluator, pool: Any, *, seed: int, budget: int, max_retries: int = 0) -> Any:
    """A random-search campaign through ``pool`` under the watchdog (the campaign is
    built in the watchdog's thread: SQLite connections stay in their thread)."""

    def go() -> Any:
        with Campaign(
            NB201Space(), evaluator, RandomSearch(), seed=seed, max_retries=max_retries
        ) as campaign:
            return campaign.run(budget, batch_size=2, executor=pool)

    return within(WATCHDOG_S, go)


# Probes for the pool's own tests, built from the standard library so that a worker
# starts without importing bo-nas (seconds saved on every spawn).
_PROBE = (
    "__import__('time').sleep(0.3) or "
    "(__import__('os').getpid(), __import__('os').environ.get('CUDA_VISIBLE_DEVICES'))"
)


@pytest.fixture(scope="module")
def pool() -> Any:
    """One two-worker spawn pool shared by this module: spawning a worker costs seconds
    (it imports bo-nas), and a worker that dies is replaced, so tests leave it usable.

    Workers are pinned to the made-up devices "3" and "5" to check the pinning; no test
    here touches CUDA.
    """
    with local_executor(2, devices=["3", "5"]) as p:
        yield p


# --- the local process pool -----------------------------------------------------------


def test_local_executor_runs_nb201_campaign(data_dir: Path, pool: Any) -> None:
    bench = NB201Benchmark("cifar100")
    # The evaluator travels as its settings; each worker reloads the table itself.
    assert len(pickle.dumps(bench)) < 2000
    assert pool.max_workers == 2
    history = _run(bench, pool, seed=3, budget=6)
    assert [t.state for t in history] == [TrialState.COMPLETE] * 6
    for t in history:  # oracle: the same lookup in this process
        assert t.result == bench.evaluate(t.arch)
        assert t.attempts == 1


def test_local_executor_defaults() -> None:
    pool = local_executor(devices=[])
    try:
        assert pool.max_workers == (os.cpu_count() or 1)
        assert pool.devices is None
    finally:
        pool.shutdown()
    with pytest.raises(ValueError, match="max_workers"):
        RestartingProcessPool(0)
    with pytest.raises(ValueError, match="devices"):
        RestartingProcessPool(1, devices=[])


def test_pool_pins_workers_to_devices(pool: Any) -> None:
    seen = within(
        WATCHDOG_S, lambda: [f.result() for f in [pool.submit(eval, _PROBE) for _ in range(4)]]
    )
    devices = dict(seen)
    assert set(devices.values()) <= {"3", "5"}
    # Distinct workers hold distinct devices.
    assert len(set(devices.values())) == len(devices)


def test_pool_shutdown_refuses_work() -> None:
    own = RestartingProcessPool(1)
    own.shutdown()
    with pytest.raises(RuntimeError, match="shutdown"):
        own.submit(pow, 1, 1)


def test_dead_worker_is_retried_and_the_campaign_recovers(tmp_path: Path, pool: Any) -> None:
    """A worker dies once on trial 2: it and its in-flight neighbour are retried."""
    archs = _proposals(6, seed=11)
    evaluator = Crashing(archs[2].key, marker=str(tmp_path / "died"))
    restarts = pool.restarts
    history = _run(evaluator, pool, seed=11, budget=6, max_retries=1)
    assert pool.restarts > restarts
    assert (tmp_path / "died").exists()
    assert [t.arch.key for t in history] == [a.key for a in archs]
    assert all(t.state is TrialState.COMPLETE for t in history)
    assert history[2].attempts == 2
    for t in history:
        assert t.result == ConvCount().evaluate(t.arch)


def test_worker_that_always_dies_is_recorded_as_failed(pool: Any) -> None:
    archs = _proposals(6, seed=12)
    evaluator = Crashing(archs[1].key)
    history = _run(evaluator, pool, seed=12, budget=6, max_retries=0)
    assert len(history) == 6 and not history.pending
    culprit = history[1]
    assert culprit.state is TrialState.FAILED
    assert culprit.attempts == 1
    assert "BrokenProcessPool" in (culprit.error or "")
    # Bystanders in flight when the pool broke are failed attempts too, never lost:
    # each is complete or failed for the same reason.
    for t in history:
        if t.state is TrialState.FAILED:
            assert "BrokenProcessPool" in (t.error or "")
    assert len(history.complete) >= 4
    # The pool was replaced and works.
    assert pool.restarts >= 1
    assert within(WATCHDOG_S, lambda: pool.submit(pow, 7, 2).result(timeout=60)) == 49


# --- waiting --------------------------------------------------------------------------


def test_wait_futures_defers_to_a_clocked_executor() -> None:
    inline = InlineExecutor()
    futs = [inline.submit(pow, i, 2) for i in range(3)]
    done, not_done = wait_futures(inline, futs, FIRST_COMPLETED)
    assert done == set(futs) and not not_done

    sim = SimulatedExecutor(lambda v: float(v), n_workers=1, noise_sigma=0.0)
    late, early = sim.submit(pow, 3, 2), sim.submit(pow, 1, 2)
    # One worker: first come first served, whatever the durations.
    done, not_done = wait_futures(sim, [early, late], FIRST_COMPLETED)
    assert done == {late} and not_done == {early} and sim.now == 9.0
    done, _ = wait_futures(sim, [early], ALL_COMPLETED)
    assert early.result() == 1 and sim.now == 10.0
    assert isinstance(late, Future)


def test_inline_executor_carries_exceptions() -> None:
    fut = InlineExecutor().submit(np.log, "x")
    assert isinstance(fut.exception(), TypeError)
