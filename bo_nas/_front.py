"""The Pareto front of a history: light enough for observers of a store."""

from __future__ import annotations

from collections.abc import Sequence

from bo_nas._history import History, Trial
from bo_nas.objectives import (
    Constraint,
    Objective,
    feasible,
    outcome_matrix,
    pareto_mask,
    parse_constraints,
    parse_objectives,
)


def pareto_front(
    history: History,
    objectives: Sequence[Objective | str],
    constraints: Sequence[Constraint | str] = (),
) -> list[Trial]:
    """The non-dominated complete trials of ``history`` that meet every constraint.

    Trial :math:`a` dominates :math:`b` when it is at least as good in every objective
    and better in one; of trials with equal objectives the first is kept. A trial
    lacking one of the objective costs is left out.

    Returns:
        Trials in proposal order.
    """
    objs = parse_objectives(objectives)
    cons = parse_constraints(constraints)
    trials = [t for t in history.complete
              if t.result is not None and feasible(t.result, cons)]
    if not trials:
        return []
    Y = outcome_matrix([t.result for t in trials], objs)
    return [t for t, on in zip(trials, pareto_mask(Y)) if on]
