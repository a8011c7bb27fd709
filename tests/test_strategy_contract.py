"""The contract every registered strategy keeps: proposals respect ``n``, never repeat the
history or the pending trials, repeat from a seed, and survive a resume unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _toys import ConvCount

from bo_nas._history import History, Trial, TrialState
from bo_nas._registry import strategy_from_config
from bo_nas.campaign import Campaign
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult
from bo_nas.objectives import Objective
from bo_nas.spaces import NB201Space
from bo_nas.strategies import Strategy, builtin_strategies

_POOL = {"top_k": 2, "n_random": 30, "two_step": 2, "whole_space": False}
# Small settings, so that the suite stays quick; the names are every registered built-in.
_SMALL: dict[str, dict[str, Any]] = {
    "random": {},
    "local-search": {"n_init": 4},
    "evolution": {"population_size": 6, "sample_size": 3},
    "nsga2": {"population_size": 6},
    "bohb": {"min_points": 4},
    "bananas": {"n_init": 4, "pool": _POOL, "ensemble": {"n_models": 2, "epochs": 20}},
    "nasbowl": {"n_init": 4, "pool": _POOL, "h_values": [0, 1]},
}
NAMES = sorted(builtin_strategies())


#: Presets whose rule is for several objectives run on accuracy and the toy's FLOPs.
_PARETO = {"gp-tw-ehvi", "gp-tw-pareto-ts"}
_TWO = (Objective("val_accuracy"), Objective("flops", minimize=True))


def _objectives(name: str) -> tuple[Objective, ...] | None:
    return _TWO if name in _PARETO else None


def _strategy(name: str) -> Strategy:
    s = strategy_from_config({"name": name, **_SMALL.get(name, {"n_init": 4, "pool": _POOL})})
    if name in _PARETO:
        s.use_objectives(_TWO)
    return s


def _history(space: NB201Space, n_complete: int, n_pending: int) -> History:
    archs = space.sample_many(n_complete + n_pending, np.random.default_rng(1))
    ev = ConvCount()
    trials = [Trial(i, a, TrialState.COMPLETE, ev.evaluate(a)) for i, a in
              enumerate(archs[:n_complete])]
    trials += [Trial(n_complete + i, a, TrialState.PENDING, None)
               for i, a in enumerate(archs[n_complete:])]
    return History(trials)


def test_every_builtin_is_covered() -> None:
    assert set(NAMES) >= {"gp-tw", "gp-tw-kdpp", "random", "bananas"}


@pytest.mark.parametrize("name", NAMES)
def test_proposals_respect_n_and_never_repeat(name: str) -> None:
    space = NB201Space()
    history = _history(space, 8, 3)
    for n in (1, 3):
        strategy = _strategy(name)
        strategy.setup(space)
        out = strategy.propose(history, n, np.random.default_rng(2))
        keys = [a.key for a in out]
        assert len(out) == n and len(set(keys)) == n
        assert all(isinstance(a, Architecture) for a in out)
        assert not set(keys) & history.keys  # neither complete nor pending ones


@pytest.mark.parametrize("name", NAMES)
def test_proposals_repeat_from_a_seed(name: str) -> None:
    space = NB201Space()
    history = _history(space, 8, 2)

    def keys(seed: int) -> list[str]:
        strategy = _strategy(name)
        strategy.setup(space)
        return [a.key for a in strategy.propose(history, 3, np.random.default_rng(seed))]

    assert keys(5) == keys(5)


class _InterruptAt(ConvCount):
    """Ctrl-C at evaluation ``at``."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.n = at, 0

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        self.n += 1
        if self.n == self.at:
            raise KeyboardInterrupt
        return super().evaluate(arch)


@pytest.mark.parametrize("name", NAMES)
def test_a_resumed_campaign_proposes_what_an_uninterrupted_one_does(
    name: str, tmp_path: Path
) -> None:
    budget, batch = 10, 2
    with Campaign(NB201Space(), ConvCount(), _strategy(name), seed=3,
                  objectives=_objectives(name)) as campaign:
        expected = [t.arch.key for t in campaign.run(budget, batch_size=batch)]
    store = tmp_path / "c.sqlite"
    campaign = Campaign(NB201Space(), _InterruptAt(8), _strategy(name), seed=3, store=store,
                        objectives=_objectives(name))
    with campaign, pytest.raises(KeyboardInterrupt):
        campaign.run(budget, batch_size=batch)
    with Campaign.resume(store, evaluator=ConvCount()) as resumed:
        assert resumed.strategy.to_config() == _strategy(name).to_config()
        got = [t.arch.key for t in resumed.run(budget, batch_size=batch)]
    assert got == expected
