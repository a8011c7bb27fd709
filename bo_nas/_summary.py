"""What observers of a store report: the pieces `bo-nas status`, ``export``, ``plot`` and
the dashboard share, so that they all say the same thing about a campaign.

Light, like `bo_nas._front`: numpy and the objectives only. The search space is built
(from the stored configuration) only to write an NB-201 string or a DARTS genotype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bo_nas._history import History, Trial, TrialState
from bo_nas._incumbent import IncumbentKey, incumbent_values
from bo_nas.objectives import (
    Constraint,
    Objective,
    feasible,
    parse_constraints,
    parse_objectives,
)

#: The ``meta`` entry in which ``bo-nas run`` records its settings (its budget among them).
CLI_RUN_META = "cli_run"


def goals(config: Mapping[str, Any]) -> tuple[tuple[Objective, ...], tuple[Constraint, ...]]:
    """The objectives and constraints a store records (a store from before either, or a
    campaign with neither, records none: ``val_accuracy`` alone, unconstrained)."""
    return (parse_objectives(config.get("objectives")),
            parse_constraints(config.get("constraints")))


def run_budget(meta: Mapping[str, Any]) -> int | None:
    """The budget ``bo-nas run`` recorded in the store's meta entries; ``None`` for a
    campaign run from Python, which records none."""
    run = meta.get(CLI_RUN_META)
    budget = run.get("budget") if isinstance(run, Mapping) else None
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def arch_formatter(config: Mapping[str, Any]) -> Callable[[Trial], str]:
    """A function writing a trial's architecture in the space's own text (NB-201 string,
    DARTS genotype), else as its JSON. The space is built once, here, not per trial."""
    space = config.get("space", {})
    if isinstance(space, Mapping) and space.get("name") == "subset":
        space = space.get("base", {})
    to_string: Callable[[Any], str] | None = None
    if isinstance(space, Mapping) and space.get("name") in ("nb201", "darts"):
        from bo_nas.spaces import space_from_config

        try:
            to_string = space_from_config(dict(space)).to_string  # type: ignore[attr-defined]
        except ValueError:
            to_string = None

    def text(trial: Trial) -> str:
        if to_string is not None:
            try:
                return to_string(trial.arch)
            except ValueError:
                pass
        return trial.arch.to_json()

    return text


def arch_text(config: Mapping[str, Any], trial: Trial) -> str:
    """One trial's architecture as `arch_formatter` writes it."""
    return arch_formatter(config)(trial)


def best_feasible(history: History, constraints: tuple[Constraint, ...]) -> Trial | None:
    """The best trial by validation accuracy among those that meet every constraint, as
    the campaign's own ``best``: an infeasible trial is no answer however accurate."""
    return History([t for t in history.complete
                    if t.result is not None and feasible(t.result, constraints)]).best()


def by_first_objective(trials: list[Trial], first: Objective) -> list[Trial]:
    """``trials`` from best to worst in ``first`` (those lacking it last), then by number."""
    def key(t: Trial) -> tuple[float, int]:
        v = first.value(t.result)  # type: ignore[arg-type]
        return ((v if first.minimize else -v) if v is not None else math.inf, t.number)

    return sorted(trials, key=key)


def search_curve(history: History, key: IncumbentKey = "val_accuracy") -> np.ndarray:
    """After each finished trial, ``key`` of the best-validation result so far (what
    `incumbent_curve` returns; here so that observers need not import the campaign,
    whose strategies bring BoTorch). Failed (and paused) trials count as queries,
    pending ones not yet.

    Returns:
        Array of shape `n_finished`, NaN before the first result.
    """
    return incumbent_values([t.result if t.state is TrialState.COMPLETE else None
                             for t in history if t.state is not TrialState.PENDING], key)
