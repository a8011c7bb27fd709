"""`Campaign.tell` never lets memory and the store disagree.

Hypothesis drives sequences of ``tell`` calls with arguments of every kind (numbers in
and out of range, negative, bools, floats, stale or foreign trials; results whose costs
or info strict JSON cannot hold, tuples, numpy numbers, non-string keys; messages,
exceptions, bare accuracies). After every call, whatever it did, the store read back by
an observer equals the campaign's history, and a call that raised changed nothing.
Real SQLite files, no mocks.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _crash_worker import HashEvaluator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bo_nas.campaign import Campaign, StoreError, TrialState, read_store
from bo_nas.evaluators import EvaluationResult, InvalidResultError
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

N_TRIALS = 6

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8,
)
#: What strict JSON cannot hold exactly, or holds as another type.
awkward = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, {1, 2}, b"bytes", object()]),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.builds(np.float64, st.floats(allow_nan=True)),
    st.builds(np.int64, st.integers(-(2**62), 2**62)),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
)
info_values = st.dictionaries(st.text(max_size=5), json_value | awkward, max_size=3)
cost_values = st.dictionaries(
    st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6),
    max_size=3,
)


@st.composite
def results(draw: st.DrawFn) -> EvaluationResult:
    return EvaluationResult(
        val_accuracy=draw(st.floats(0, 100)),
        test_accuracy=draw(st.none() | st.floats(0, 100)),
        costs=draw(cost_values),
        info=draw(info_values),
    )


outcomes = st.one_of(
    results(),
    st.text(max_size=20),
    st.builds(ValueError, st.text(max_size=10)),
    st.builds(RuntimeError, st.text(max_size=10)),
    st.floats(allow_nan=True),  # a bare accuracy: refused, not a failure
    st.integers(0, 100),
    st.none(),
    st.just({"val_accuracy": 70.0}),
)
#: Trial numbers: valid, negative, past the end, of other types.
numbers = st.one_of(
    st.integers(-3, N_TRIALS + 2), st.booleans(), st.floats(-1, N_TRIALS),
    st.just("0"), st.builds(np.int64, st.integers(0, N_TRIALS - 1)),
)
calls = st.lists(st.tuples(st.integers(0, 2), numbers, outcomes), min_size=1, max_size=8)


def _view(history: Any) -> list[tuple[Any, ...]]:
    return [(t.number, t.arch.key, t.state, t.result, t.error, t.attempts) for t in history]


def _check_stored_equals_memory(campaign: Campaign, path: Path) -> None:
    _, stored = read_store(path)
    assert _view(stored) == _view(campaign.history)
    for t in campaign.history:
        if t.result is not None:  # what is in memory is plain JSON data
            assert EvaluationResult.from_dict(t.result.to_dict()) == t.result


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(script=calls)
def test_tell_keeps_store_and_memory_equal(script: list[tuple[int, Any, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.sqlite"
        with Campaign(NB201Space(), HashEvaluator(), RandomSearch(), seed=1,
                      store=path) as campaign:
            trials = campaign.ask(N_TRIALS)
            foreign = NB201Space().sample(12345)
            for how, number, outcome in script:
                if how == 0:
                    target: Any = number
                elif how == 1 and isinstance(number, int) and 0 <= number < N_TRIALS:
                    target = trials[number]  # the Trial object, possibly stale
                else:
                    target = type(trials[0])(0, foreign, TrialState.PENDING)  # not ours
                before = _view(campaign.history)
                try:
                    returned = campaign.tell(target, outcome)
                except (ValueError, TypeError, StoreError) as exc:
                    assert str(exc)
                    assert _view(campaign.history) == before  # nothing changed
                else:
                    now = campaign.history[returned.number]
                    assert now == returned and returned.state is not TrialState.PENDING
                    assert before[returned.number][2] is TrialState.PENDING
                    if isinstance(outcome, EvaluationResult):
                        assert returned.state is TrialState.COMPLETE
                    else:
                        assert returned.state is TrialState.FAILED
                _check_stored_equals_memory(campaign, path)
        # What a resumed campaign sees is what the last one held.
        with Campaign.resume(path, evaluator=HashEvaluator()) as again:
            _check_stored_equals_memory(again, path)


def test_the_reported_cases(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    with Campaign(NB201Space(), HashEvaluator(), RandomSearch(), seed=0, store=path) as c:
        t = c.ask(3)
        with pytest.raises(ValueError, match="no trial number -1"):
            c.tell(-1, EvaluationResult(50.0))
        with pytest.raises(ValueError, match=r"EvaluationResult\(val_accuracy=70.0\)"):
            c.tell(t[0], 70.0)
        with pytest.raises(InvalidResultError, match=r"info\['s'\] is a set"):
            c.tell(t[0], EvaluationResult(50.0, info={"s": {1}}))
        with pytest.raises(InvalidResultError, match=r"costs\['lat'\] is nan"):
            c.tell(t[0], EvaluationResult(50.0, costs={"lat": math.nan}))
        assert [x.state for x in c.history] == [TrialState.PENDING] * 3
        assert [x.state for x in read_store(path)[1]] == [TrialState.PENDING] * 3
        stored = c.tell(t[0], EvaluationResult(50.0, info={"shape": (2, 3), "n": np.int64(4)}))
        assert stored.result is not None and stored.result.info == {"shape": [2, 3], "n": 4}
        assert read_store(path)[1][0] == stored
    # A result from an evaluator that strict JSON cannot hold is a failed trial in run().

    class NaNCost(HashEvaluator):
        def evaluate(self, arch: Any) -> EvaluationResult:
            return EvaluationResult(50.0, costs={"latency": math.nan})

    with Campaign(NB201Space(), NaNCost(), RandomSearch(), seed=0) as c:
        c.run(2)
        assert [x.state for x in c.history] == [TrialState.FAILED] * 2
        assert "invalid result" in (c.history[0].error or "")
