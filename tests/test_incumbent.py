"""The incumbent curve: one function, and every wrapper of it agreeing on failures.

Oracle for `incumbent_values`: a curve written out by hand. The wrappers (the
campaign's `incumbent_curve`, `incumbent_test_accuracy` / `incumbent_test_error`, the
simulated schedule, the benchmark harness) are checked against it and against each
other on histories with failed and pending trials.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from _crash_worker import HashEvaluator

from bo_nas._history import History, Trial, TrialState
from bo_nas._incumbent import incumbent_values
from bo_nas.bench import _harness, run_benchmark, run_trial
from bo_nas.campaign import Campaign, SimulatedExecutor, incumbent_curve, run_simulated
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator
from bo_nas.evaluators._regret import incumbent_test_accuracy, incumbent_test_error
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

R = EvaluationResult


def _bad(arch: Architecture) -> bool:
    """A fixed third of the space fails (decided by the key)."""
    return int(arch.key[:8], 16) % 3 == 0


class FailingEvaluator(Evaluator):
    """`HashEvaluator` that raises on `_bad` architectures; knows its optimum, as the
    harness asks a tabular benchmark for one."""

    kind = "test-failing"

    def __init__(self, optimum_val: float = 89.99) -> None:
        self.inner = HashEvaluator()
        self.optimum = R(optimum_val, max(optimum_val - 1.0, 0.0))

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        if _bad(arch):
            raise RuntimeError("injected failure")
        return self.inner.evaluate(arch)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind}


def _nan_equal(a: Any, b: Any) -> bool:
    return bool(np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True))


# --- the one function ----------------------------------------------------------------


def test_hand_computed_curve() -> None:
    results = [None, R(80.0, 81.0), None, R(80.0, 95.0), R(70.0, 99.0), R(85.0, None),
               R(90.0, 88.0)]
    # Failures count as queries; a tie (80.0) keeps the earlier; a better validation
    # without a test accuracy is the incumbent all the same (NaN test).
    assert _nan_equal(incumbent_values(results),
                      [math.nan, 81.0, 81.0, 81.0, 81.0, math.nan, 88.0])
    assert _nan_equal(incumbent_values(results, "val_accuracy"),
                      [math.nan, 80.0, 80.0, 80.0, 80.0, 85.0, 90.0])


def test_empty_and_all_failed() -> None:
    assert incumbent_values([]).shape == (0,)
    assert np.isnan(incumbent_values([None, None], "val_accuracy")).all()


def test_unknown_key() -> None:
    with pytest.raises(ValueError, match="key: expected"):
        incumbent_values([R(80.0)], "accuracy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key: expected"):
        incumbent_curve(History(), key="accuracy")  # type: ignore[arg-type]


# --- the wrappers agree ---------------------------------------------------------------


def _history_with_failures_and_pending() -> History:
    archs = NB201Space().sample_many(8, np.random.default_rng(0))
    states = [
        (TrialState.FAILED, None),
        (TrialState.COMPLETE, R(80.0, 81.0)),
        (TrialState.PENDING, None),
        (TrialState.COMPLETE, R(80.0, 95.0)),
        (TrialState.FAILED, None),
        (TrialState.COMPLETE, R(86.0, 84.0)),
        (TrialState.PENDING, None),
        (TrialState.COMPLETE, R(83.0, 99.0)),
    ]
    return History([
        Trial(i, a, s, r, "boom" if s is TrialState.FAILED else None, 1)
        for i, (a, (s, r)) in enumerate(zip(archs, states, strict=True))
    ])


def test_wrappers_agree_on_failures_and_pending() -> None:
    history = _history_with_failures_and_pending()
    finished = [t.result for t in history if t.state is not TrialState.PENDING]
    expected_test = [math.nan, 81.0, 81.0, 81.0, 84.0, 84.0]
    expected_val = [math.nan, 80.0, 80.0, 80.0, 86.0, 86.0]
    assert _nan_equal(incumbent_curve(history, key="test_accuracy"), expected_test)
    assert _nan_equal(incumbent_curve(history), expected_val)
    assert _nan_equal(incumbent_test_accuracy(finished), expected_test)
    assert _nan_equal(incumbent_test_error(finished), 100.0 - np.asarray(expected_test))


def test_campaign_simulator_and_harness_agree() -> None:
    # One campaign with failures, run three ways: on the simulated clock (one worker, no
    # noise, so finish order is proposal order), through the harness, and plainly.
    budget, seed = 12, 3

    def campaign() -> Campaign:
        return Campaign(NB201Space(), FailingEvaluator(), RandomSearch(), seed=seed)

    history = campaign().run(budget)
    assert history.failed and history.complete
    val = incumbent_curve(history)
    test = incumbent_curve(history, key="test_accuracy")
    assert len(val) == budget

    sim = run_simulated(
        campaign(), budget, executor=SimulatedExecutor(lambda _: 1.0, noise_sigma=0.0)
    )
    assert [t.arch.key for t in sim.history] == [t.arch.key for t in history]
    assert _nan_equal(sim.incumbent, val)

    results = [t.result for t in history]
    assert _nan_equal(incumbent_test_accuracy(results), test)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_harness, "_evaluator", lambda *_: FailingEvaluator())
        trial = run_trial("nb201", "cifar10", None, "random", 0, seed, budget)
    assert _nan_equal(trial.incumbent_test_error, 100.0 - test)
    assert _nan_equal(trial.val, [math.nan if r is None else r.val_accuracy for r in results])


# --- the harness counts failed queries ------------------------------------------------


def test_harness_counts_a_failure_as_a_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_harness, "_evaluator", lambda *_: FailingEvaluator())
    budget = 12
    report = run_benchmark("nb201", "cifar10", ["random"], budget=budget, trials=2,
                           seed=3, workers=1)
    for t in report.trials:
        assert len(t.val) == len(t.test) == len(t.incumbent_test_error) == budget
        failed = [i for i, v in enumerate(t.val) if math.isnan(v)]
        assert failed, "seeds 3 and 4 should draw failing architectures"
        for i in failed:  # a failure leaves the incumbent where it was
            assert math.isnan(t.test[i])
            if i > 0:
                assert _nan_equal(t.incumbent_test_error[i], t.incumbent_test_error[i - 1])
    # Every trial's curve is budget long, so they stack and the last query summarises.
    assert report.errors("random").shape == (2, budget)
    row = report.summary([budget])[0]
    assert math.isfinite(row[f"mean@{budget}"])


def test_harness_optimum_and_labelled_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    # An optimum below every result: any success finds it. Labels name configurations.
    monkeypatch.setattr(_harness, "_evaluator", lambda *_: FailingEvaluator(0.0))
    report = run_benchmark("nb201", "cifar10", {"rs": {"name": "random"}}, budget=4,
                           trials=2, seed=3, workers=1)
    assert report.methods == ["rs"]
    assert all(t.found_optimum for t in report.trials)
    row = report.summary([4], ddof=1)[0]
    assert row["optimum_share"] == 1.0
    errs = report.errors("rs")[:, -1]
    assert row["std@4"] == pytest.approx(float(np.std(errs, ddof=1)))
    single = run_benchmark("nb201", "cifar10", {"rs": {"name": "random"}}, budget=4,
                           trials=1, seed=3, workers=1)
    assert single.summary([4], ddof=1)[0]["std@4"] == 0.0
