"""Trials and the read-only history a strategy sees."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult


class TrialState(str, Enum):
    PENDING = "pending"
    COMPLETE = "complete"
    FAILED = "failed"
    #: Multi-fidelity: stopped at a rung below the final budget; may be promoted.
    PAUSED = "paused"


@dataclass(frozen=True)
class Trial:
    """One proposal and, once known, its outcome.

    Attributes:
        number: 0-based order of proposal within the campaign.
        arch: The architecture.
        state: pending, complete or failed.
        result: The measurement when complete.
        error: The failure reason when failed.
        attempts: How many times the evaluation was started.
        budget: Multi-fidelity campaigns: the epochs of the latest result, or those
            the running evaluation trains to; ``None`` at full fidelity.
        rungs: Multi-fidelity campaigns: every result the trial reached, by epochs
            (ascending); empty at full fidelity. ``result`` is the last of them.
    """

    number: int
    arch: Architecture
    state: TrialState
    result: EvaluationResult | None = None
    error: str | None = None
    attempts: int = 0
    budget: int | None = None
    rungs: Mapping[int, EvaluationResult] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        """Validation accuracy when complete, else ``None``."""
        return self.result.val_accuracy if self.result is not None else None


class History(Sequence[Trial]):
    """Immutable sequence of trials in proposal order, with the views strategies need."""

    def __init__(self, trials: Sequence[Trial] = ()) -> None:
        self._trials = tuple(trials)

    def __getitem__(self, i):  # type: ignore[override]
        return self._trials[i]

    def __len__(self) -> int:
        return len(self._trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._trials)

    @property
    def complete(self) -> list[Trial]:
        return [t for t in self._trials if t.state is TrialState.COMPLETE]

    @property
    def pending(self) -> list[Trial]:
        return [t for t in self._trials if t.state is TrialState.PENDING]

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self._trials if t.state is TrialState.FAILED]

    @property
    def paused(self) -> list[Trial]:
        """Multi-fidelity: trials stopped at a lower rung (not pending, not final)."""
        return [t for t in self._trials if t.state is TrialState.PAUSED]

    @property
    def keys(self) -> set[str]:
        """Canonical keys of every proposed architecture (any state)."""
        return {t.arch.key for t in self._trials}

    def best(self) -> Trial | None:
        """The complete trial with the highest validation accuracy (first one on ties)."""
        best: Trial | None = None
        for t in self.complete:
            if best is None or t.value > best.value:  # type: ignore[operator]
                best = t
        return best

    def top(self, k: int) -> list[Trial]:
        """The ``k`` best complete trials, best first."""
        return sorted(self.complete, key=lambda t: (-t.value, t.number))[:k]  # type: ignore[operator]
