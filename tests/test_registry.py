"""The registry of strategies and evaluators: built-ins never hidden, users' parts resumable.

The last test is the one that matters to a user: a strategy and an evaluator defined
outside bo-nas (`tests/_user_parts.py`), registered by name, run in a real campaign in
a child process that is killed with SIGKILL, once from outside in the middle of an
evaluation and once by itself inside a store write; fresh processes then resume the
store from its configuration alone and finish the budget with the same proposals and
results as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _toys import ConvCount
from _user_parts import HillClimb, OpScore, register, run_user_campaign
from test_crash_resume import _snapshot

import bo_nas
from bo_nas import _registry
from bo_nas._registry import evaluator_from_config, strategy_from_config
from bo_nas.campaign import Campaign, TrialState
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch, Strategy

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def registry() -> Iterator[None]:
    """Leave the process-wide registry as this test found it."""
    saved = (dict(_registry._STRATEGIES), dict(_registry._EVALUATORS),
             set(_registry._BUILTIN_STRATEGIES), set(_registry._BUILTIN_EVALUATORS),
             _registry._builtins_loaded)
    yield
    _registry._STRATEGIES.clear()
    _registry._STRATEGIES.update(saved[0])
    _registry._EVALUATORS.clear()
    _registry._EVALUATORS.update(saved[1])
    _registry._BUILTIN_STRATEGIES.clear()
    _registry._BUILTIN_STRATEGIES.update(saved[2])
    _registry._BUILTIN_EVALUATORS.clear()
    _registry._BUILTIN_EVALUATORS.update(saved[3])
    _registry._builtins_loaded = saved[4]


@pytest.fixture
def fresh_registry(registry: None) -> None:
    """The registry of a process that has not rebuilt anything yet."""
    for table in (_registry._STRATEGIES, _registry._EVALUATORS,
                  _registry._BUILTIN_STRATEGIES, _registry._BUILTIN_EVALUATORS):
        table.clear()
    _registry._builtins_loaded = False


def test_register_functions_are_public() -> None:
    assert bo_nas.register_strategy is _registry.register_strategy
    assert bo_nas.register_evaluator is _registry.register_evaluator


def test_user_strategy_registered_first_does_not_hide_builtins(
    fresh_registry: None, tmp_path: Path
) -> None:
    register()
    assert isinstance(strategy_from_config({"name": "random"}), RandomSearch)
    assert isinstance(strategy_from_config({"name": "gp-tw"}), Strategy)
    assert evaluator_from_config({"kind": "training"}).to_config()["kind"] == "training"
    assert isinstance(strategy_from_config(HillClimb().to_config()), HillClimb)
    # The reported failure: resuming a built-in campaign after registering one's own.
    store = tmp_path / "random.sqlite"
    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=1, store=store) as c:
        c.run(3)
    with Campaign.resume(store, evaluator=ConvCount()) as c:
        assert isinstance(c.strategy, RandomSearch)
        assert len(c.run(5).complete) == 5


def test_builtin_names_are_not_silently_replaced(registry: None) -> None:
    with pytest.raises(ValueError, match=r"'random' is a built-in strategy.*replace=True"):
        bo_nas.register_strategy("random", lambda settings: HillClimb(**settings))
    with pytest.raises(ValueError, match=r"'training' is a built-in evaluator"):
        bo_nas.register_evaluator("training", lambda settings: OpScore(**settings))
    assert isinstance(strategy_from_config({"name": "random"}), RandomSearch)

    bo_nas.register_strategy("random", lambda settings: HillClimb(**settings), replace=True)
    assert isinstance(strategy_from_config({"name": "random"}), HillClimb)


def test_duplicate_user_names_are_rejected(registry: None) -> None:
    register()
    register()  # the same factories again: a module imported twice is no error
    with pytest.raises(ValueError, match=r"'user-hill-climb' is an already registered"):
        bo_nas.register_strategy(HillClimb.name, lambda settings: HillClimb(**settings))
    with pytest.raises(ValueError, match=r"'user-op-score' is an already registered"):
        bo_nas.register_evaluator(OpScore.kind, lambda settings: OpScore(**settings))
    bo_nas.register_evaluator(OpScore.kind, lambda s: OpScore(**{**s, "conv_weight": 9.0}),
                              replace=True)
    assert evaluator_from_config(OpScore().to_config()).conv_weight == 9.0


@pytest.mark.parametrize(
    ("name", "factory", "match"),
    [
        ("", HillClimb, "non-empty string"),
        ("   ", HillClimb, "non-empty string"),
        (" padded", HillClimb, "spaces"),
        (3, HillClimb, "non-empty string"),
        ("mine", None, "callable"),
        ("mine", HillClimb(), "callable"),
    ],
)
def test_bad_registrations_name_the_problem(
    registry: None, name: Any, factory: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=f"strategy.*{match}"):
        bo_nas.register_strategy(name, factory)
    with pytest.raises(ValueError, match=f"evaluator.*{match}"):
        bo_nas.register_evaluator(name, factory)


def test_unknown_names_say_how_to_register(registry: None) -> None:
    with pytest.raises(ValueError, match=r"unknown strategy 'nope'.*register_strategy"):
        strategy_from_config({"name": "nope"})
    with pytest.raises(ValueError, match=r"unknown evaluator kind 'nope'.*register_evaluator"):
        evaluator_from_config({"kind": "nope"})
    register()
    with pytest.raises(ValueError, match="bad settings"):
        strategy_from_config({"name": HillClimb.name, "no_such": 1})


def test_factory_returning_the_wrong_type(registry: None) -> None:
    bo_nas.register_strategy("not-a-strategy", lambda settings: object())
    with pytest.raises(TypeError, match="'not-a-strategy' returned object, not a Strategy"):
        strategy_from_config({"name": "not-a-strategy"})


# --- a user's strategy and evaluator through SIGKILL and resume ---------------------------

BUDGET = 18


def _child(path: Path, log: Path, kill_at_write: int | None = None) -> subprocess.Popen[str]:
    """A fresh interpreter: its registry knows the user's names only once it registers."""
    args = {"path": str(path), "budget": BUDGET, "seed": 5, "sleep": 0.1, "log": str(log),
            "kill_at_write": kill_at_write}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen(
        [sys.executable, str(TESTS / "_user_parts.py"), json.dumps(args)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _evaluations(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_user_parts_survive_sigkill_and_resume(registry: None, tmp_path: Path) -> None:
    # The uninterrupted reference, in this process.
    ref = tmp_path / "reference.sqlite"
    run_user_campaign(str(ref), BUDGET, seed=5)
    reference = _snapshot(ref)
    assert len(reference) == BUDGET

    path, log = tmp_path / "crashed.sqlite", tmp_path / "evaluations.log"
    seen: dict[int, tuple[str, str, float | None]] = {}
    pending_at_kill: set[str] = set()

    def after_kill(proc: subprocess.Popen[str]) -> None:
        nonlocal seen
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, f"child was not killed: {out}"
        snap = _snapshot(path)
        for number, (key, state, value) in seen.items():
            assert number in snap, f"trial {number} lost"
            assert snap[number][0] == key
            if state != TrialState.PENDING.value:
                assert snap[number] == (key, state, value)
        pending_at_kill.update(k for k, s, _ in snap.values() if s == TrialState.PENDING.value)
        seen = snap

    # 1. Killed from outside in the middle of its seventh evaluation.
    proc = _child(path, log)
    deadline = time.monotonic() + 120
    while len(_evaluations(log)) < 7 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.kill()
    after_kill(proc)
    assert 7 <= len(seen) < BUDGET  # mid-run (inside the evaluation, unless this was slow)

    # 2. Resumed from the store's configuration alone, and killed by itself inside a
    #    store transaction.
    proc = _child(path, log, kill_at_write=6)
    after_kill(proc)

    # 3. Resumed again, to the end.
    proc = _child(path, log)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out

    final = _snapshot(path)
    assert sorted(final) == list(range(BUDGET))
    assert all(state == TrialState.COMPLETE.value for _, state, _ in final.values())
    keys = [final[i][0] for i in range(BUDGET)]
    assert len(set(keys)) == BUDGET
    # Same seed, same proposals and results as the run that was never interrupted: the
    # rebuilt strategy got its settings and its state back.
    assert final == reference
    # Every architecture evaluated; again only those a kill interrupted, once per kill.
    evaluated = Counter(_evaluations(log))
    assert set(evaluated) == set(keys)
    repeated = {k: c - 1 for k, c in evaluated.items() if c > 1}
    assert sum(repeated.values()) <= 2
    assert set(repeated) <= pending_at_kill
    with Campaign.resume(path) as campaign:
        assert isinstance(campaign.strategy, HillClimb)
        assert isinstance(campaign.evaluator, OpScore)
        assert campaign.strategy.proposed == BUDGET
