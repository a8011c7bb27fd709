"""Multi-fidelity campaigns: train briefly, promote the promising, continue from checkpoints.

`Campaign(..., fidelity=ASHA(min_epochs=1, eta=3))` evaluates each new architecture at
the lowest rung and lets the schedule decide which trials train further; evaluators
report at a budget through `Evaluator.evaluate_at`, training ones continuing from a
checkpoint.
"""

from ._schedule import (
    ASHA,
    FidelitySchedule,
    Hyperband,
    rung_budgets,
    schedule_from_config,
    schedule_names,
)

__all__ = [
    "ASHA",
    "FidelitySchedule",
    "Hyperband",
    "rung_budgets",
    "schedule_from_config",
    "schedule_names",
]
