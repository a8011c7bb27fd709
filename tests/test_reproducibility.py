"""One seed fixes a whole campaign: sequential and batch, across runs and resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _crash_worker import HashEvaluator

from bo_nas.campaign import Campaign
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, PoolConfig


class InterruptAt(HashEvaluator):
    """`HashEvaluator` that raises KeyboardInterrupt (a Ctrl-C) at evaluation ``at``."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.calls = 0

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().evaluate(arch)


def _gp() -> GPStrategy:
    return GPStrategy(n_init=6, pool=PoolConfig(top_k=3, n_random=40, two_step=4))


def _keys(history: Any) -> list[str]:
    return [t.arch.key for t in history]


def _run(seed: int, batch_size: int, budget: int = 18) -> list[str]:
    campaign = Campaign(NB201Space(), HashEvaluator(), _gp(), seed=seed)
    return _keys(campaign.run(budget, batch_size=batch_size))


@pytest.mark.parametrize("batch_size", [1, 4])
def test_same_seed_same_sequence_and_other_seed_differs(batch_size: int) -> None:
    first = _run(3, batch_size)
    assert len(first) == 18 and len(set(first)) == 18
    assert _run(3, batch_size) == first
    other = _run(4, batch_size)
    assert other[:6] != first[:6]  # the random initial designs differ
    assert other != first


@pytest.mark.parametrize("batch_size", [1, 4])
def test_same_sequence_across_an_interruption(tmp_path: Path, batch_size: int) -> None:
    expected = _run(3, batch_size)
    path = tmp_path / "s.sqlite"
    # Interrupted in the middle of the third batch (evaluation 10), then resumed.
    campaign = Campaign(NB201Space(), InterruptAt(10), _gp(), seed=3, store=path)
    with campaign, pytest.raises(KeyboardInterrupt):
        campaign.run(18, batch_size=batch_size)
    with Campaign.resume(path, evaluator=HashEvaluator()) as resumed:
        assert resumed.history.pending
        assert _keys(resumed.run(18, batch_size=batch_size)) == expected
        assert all(t.value is not None for t in resumed.history)
