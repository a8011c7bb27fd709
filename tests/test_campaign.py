"""Campaigns on NAS-Bench-201 CIFAR-100: persisted as they go, resumed exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bo_nas.campaign import Campaign, CampaignStore, TrialState, read_store
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator, NB201Benchmark
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, PoolConfig, RandomSearch, Strategy, builtin_strategies


class InterruptingEvaluator(Evaluator):
    """Delegates to ``inner``; raises KeyboardInterrupt (a Ctrl-C) at evaluation ``at``."""

    kind = "test-interrupting"

    def __init__(self, inner: Evaluator, at: int) -> None:
        self.inner = inner
        self.at = at
        self.calls = 0

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.inner.evaluate(arch)

    def to_config(self) -> dict[str, Any]:
        return self.inner.to_config()

    def zero_cost(self) -> Any:
        return self.inner.zero_cost()


@pytest.fixture(scope="module")
def bench(data_dir: Path) -> NB201Benchmark:
    return NB201Benchmark("cifar100", data_dir=data_dir)


def _gp() -> GPStrategy:
    return GPStrategy(n_init=5, pool=PoolConfig(top_k=3, n_random=50, two_step=4))


def _strategy(name: str) -> Strategy:
    return _gp() if name == "gp" else RandomSearch()


def _sequence(history: Any) -> list[tuple[str, str, float | None]]:
    return [(t.arch.key, t.state.value, t.value) for t in history]


def test_random_is_registered() -> None:
    assert "random" in builtin_strategies()
    assert "gp-tw" in builtin_strategies()


@pytest.mark.parametrize("name", ["gp", "random"])
def test_resume_continues_exactly(tmp_path: Path, bench: NB201Benchmark, name: str) -> None:
    space = NB201Space()
    straight = Campaign(space, bench, _strategy(name), seed=11, store=tmp_path / "a.sqlite")
    with straight:
        straight.run(30)
        expected = _sequence(straight.history)
    assert len(expected) == 30

    first = Campaign(space, bench, _strategy(name), seed=11, store=tmp_path / "b.sqlite")
    with first:
        first.run(12)
    # The strategy, space and evaluator are rebuilt from the stored configuration.
    with Campaign.resume(tmp_path / "b.sqlite") as resumed:
        assert _sequence(resumed.history) == expected[:12]
        resumed.run(30)
        assert _sequence(resumed.history) == expected
        assert resumed.store.integrity_check() == "ok"
    _, history = read_store(tmp_path / "b.sqlite")
    assert _sequence(history) == expected
    assert len({t.arch.key for t in history}) == 30  # nothing evaluated twice
    assert all(t.attempts == 1 for t in history)
    # The best trial is chosen by validation, as stored.
    best = max(history.complete, key=lambda t: t.value)
    assert best.result == bench.evaluate(best.arch)


def test_every_step_is_committed(tmp_path: Path, bench: NB201Benchmark) -> None:
    path = tmp_path / "c.sqlite"
    with Campaign(NB201Space(), bench, RandomSearch(), seed=2, store=path) as campaign:
        trials = campaign.ask(3)
        # Proposals are pending in the file before anything is evaluated.
        _, history = read_store(path)
        assert [t.state for t in history] == [TrialState.PENDING] * 3
        assert [t.arch for t in history] == [t.arch for t in trials]
        campaign.tell(trials[1], bench.evaluate(trials[1].arch))
        campaign.tell(trials[2], "EvaluationError: diverged")
        _, history = read_store(path)
        assert [t.state for t in history] == [
            TrialState.PENDING, TrialState.COMPLETE, TrialState.FAILED
        ]
        assert history[1].result == bench.evaluate(trials[1].arch)
        assert history[2].error == "EvaluationError: diverged"
        with pytest.raises(ValueError, match="already complete"):
            campaign.tell(trials[1], bench.evaluate(trials[1].arch))
    # The pending proposal survives the end of the process's campaign and runs first.
    with Campaign.resume(path) as campaign:
        assert campaign.history.pending[0].number == 0
        finished: list[int] = []
        campaign.run(5, callback=lambda t: finished.append(t.number))
        assert finished == [0, 3, 4]
        assert len(campaign.history.complete) == 4


def test_pending_at_interruption_is_evaluated_first(
    tmp_path: Path, bench: NB201Benchmark
) -> None:
    space = NB201Space()
    with Campaign(space, bench, _gp(), seed=5, store=tmp_path / "ref.sqlite") as ref:
        ref.run(14)
        expected = _sequence(ref.history)

    path = tmp_path / "i.sqlite"
    campaign = Campaign(space, InterruptingEvaluator(bench, at=9), _gp(), seed=5, store=path)
    with campaign, pytest.raises(KeyboardInterrupt):
        campaign.run(14)
    _, history = read_store(path)
    assert len(history) == 9 and history[8].state is TrialState.PENDING
    pending_key = history[8].arch.key
    with Campaign.resume(path, evaluator=bench) as resumed:
        finished: list[str] = []
        resumed.run(14, callback=lambda t: finished.append(t.arch.key))
        assert finished[0] == pending_key
        assert _sequence(resumed.history) == expected
        assert resumed.trial(8).attempts == 2  # the interrupted start and the real one
    with CampaignStore(path) as store:
        assert store.integrity_check() == "ok"


def test_budget_beyond_the_space_is_clamped(caplog: pytest.LogCaptureFixture) -> None:
    from _crash_worker import HashEvaluator

    from bo_nas.spaces import SubsetSpace, distinct_networks

    assert distinct_networks(NB201Space()) == 8765
    space = SubsetSpace(NB201Space(), NB201Space().sample_many(15, rng=4))
    with Campaign(space, HashEvaluator(), RandomSearch(), seed=0) as c, caplog.at_level("WARNING"):
        c.run(10**12, batch_size=10**6)  # neither runs forever nor marks 10**6 pending
        assert len(c.history) == len(c.history.complete) == 15
    assert "budget 1,000,000,000,000 is more than the 15 distinct networks" in caplog.text


def test_nb201_has_8765_distinct_networks() -> None:
    import itertools

    from bo_nas.encodings import NB201_OPS, nb201_canonical_ops
    from bo_nas.spaces._subset import NB201_DISTINCT

    # Cells equal up to dead edges are one network (one `Architecture.key`).
    cells = itertools.product(NB201_OPS, repeat=6)
    assert len({nb201_canonical_ops(ops) for ops in cells}) == NB201_DISTINCT
