r"""Promotion rules of multi-fidelity campaigns: which trial trains further, and how far.

A schedule works on *rungs*, the budgets (epochs) at which a trial is stopped and
compared: :math:`R\,\eta^{-k}` down from the final budget :math:`R` to no less than
:math:`r_{\min}`, each lowered to an epoch count the evaluator can report at
(`Evaluator.fidelities`), the last always :math:`R`. A new trial trains to its first
rung; whenever a worker frees up, the campaign asks the schedule for a promotion before it
asks the strategy for a new architecture.

Asynchronous successive halving (ASHA, Li et al. 2020) promotes a trial paused at rung
:math:`k` once it ranks among the best :math:`\lfloor n_k/\eta \rfloor` of the
:math:`n_k` results at that rung, looking from the top rung down, so no worker ever waits
for a rung to fill. Every result ever reached at a rung counts in its ranking, including
those of trials that went on.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from bo_nas._history import History, Trial, TrialState


def rung_budgets(min_epochs: int, eta: int, fidelities: Sequence[int]) -> tuple[int, ...]:
    r"""Rungs counted down from the final budget :math:`R`: :math:`R\,\eta^{-k}` for
    :math:`k = 0, 1, \dots` while at least ``min_epochs``, each lowered to the largest
    epoch count in ``fidelities`` at or below it (Hyperband's ladder).

    Counting down keeps every step a factor of about :math:`\eta`: counted up from
    ``min_epochs``, a final budget off the ladder (12 epochs: 1, 3, 9, 12) leaves a last
    step of a few epochs that still costs a third of the trials reaching it.

    Example:
        >>> rung_budgets(1, 3, range(1, 28))
        (1, 3, 9, 27)
        >>> rung_budgets(1, 3, range(1, 13))
        (1, 4, 12)
        >>> rung_budgets(1, 3, (12, 200))    # NB-201's table: 12 and 200 epochs
        (12, 200)
    """
    allowed = sorted({int(f) for f in fidelities})
    if not allowed:
        raise ValueError("fidelities: the evaluator reports at no budget")
    final = allowed[-1]
    rungs = [final]
    r = float(final)
    while True:
        r /= eta
        # A little slack: 27 / 3 / 3 / 3 is 0.999... in floating point.
        if r < min_epochs - 1e-9:
            break
        below = [f for f in allowed if f <= r + 1e-9 and f >= min_epochs]
        if not below:
            break
        if below[-1] < rungs[-1]:
            rungs.append(below[-1])
    return tuple(reversed(rungs))


def _check(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return value


class FidelitySchedule(ABC):
    """How a multi-fidelity campaign spends epochs: rungs, first budgets, promotions.

    Call order, by `Campaign`: `setup(fidelities)` once with the evaluator's
    fidelities; then `first_budget(number)` for each new trial and
    `promotions(history, n)` whenever workers are free. Schedules are deterministic
    functions of the history (nothing random), so a resumed campaign promotes what the
    uninterrupted one would.
    """

    #: Name in configs and on the command line.
    name: ClassVar[str] = "schedule"

    def __init__(self, *, min_epochs: int = 1, eta: int = 3) -> None:
        self.min_epochs = _check("min_epochs", min_epochs, 1)
        self.eta = _check("eta", eta, 2)
        self.rungs: tuple[int, ...] = ()

    def setup(self, fidelities: Sequence[int]) -> None:
        """Fix the rungs from the evaluator's fidelities."""
        if self.min_epochs > max(fidelities):
            raise ValueError(
                f"min_epochs {self.min_epochs} is beyond the final budget "
                f"{max(fidelities)} epochs"
            )
        self.rungs = rung_budgets(self.min_epochs, self.eta, fidelities)

    @property
    def max_epochs(self) -> int:
        """The final budget."""
        return self.rungs[-1]

    @abstractmethod
    def first_budget(self, number: int) -> int:
        """Epochs a new trial (numbered ``number``) first trains to."""

    @abstractmethod
    def promotions(self, history: History, n: int) -> list[tuple[int, int]]:
        """Up to ``n`` promotions, ``(trial number, next budget)``, best first."""

    def finish(self, history: History) -> tuple[int, int] | None:
        r"""When the campaign has no new architecture left to try and nothing else to
        promote: a promotion that brings the search to a final result, or ``None``.

        Without one, a small budget could end with no trial at the final budget (ASHA
        needs :math:`\eta^k` results at the bottom rung for one to reach rung
        :math:`k`). Until some trial is final, the best paused trial of the highest rung
        reached goes on, one rung at a time.
        """
        if any(t.state is TrialState.COMPLETE for t in history):
            return None
        paused = [t for t in history if t.state is TrialState.PAUSED and t.budget is not None]
        if not paused:
            return None
        top = max(t.budget for t in paused)  # type: ignore[type-var]
        best = min((t for t in paused if t.budget == top),
                   key=lambda t: (-t.rungs[top].val_accuracy, t.number))
        later = [r for r in self.rungs if r > top]
        return (best.number, later[0]) if later else None

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "min_epochs": self.min_epochs, "eta": self.eta}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_epochs={self.min_epochs}, eta={self.eta})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_config() == self.to_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))

    def _promote_within(
        self, trials: Sequence[Trial], rungs: Sequence[int], n: int
    ) -> list[tuple[int, int]]:
        """ASHA on ``trials`` over ``rungs``: from the top rung down, paused trials among
        the best ``floor(n_k / eta)`` of their rung."""
        out: list[tuple[int, int]] = []
        for k in range(len(rungs) - 2, -1, -1):
            r = rungs[k]
            reached = [t for t in trials if r in t.rungs]
            top = math.floor(len(reached) / self.eta)
            if top == 0:
                continue
            ranked = sorted(reached, key=lambda t: (-t.rungs[r].val_accuracy, t.number))
            for t in ranked[:top]:
                if t.state is TrialState.PAUSED and t.budget == r:
                    out.append((t.number, rungs[k + 1]))
                    if len(out) == n:
                        return out
        return out


class ASHA(FidelitySchedule):
    r"""Asynchronous successive halving: every trial starts at the lowest rung; one
    paused at rung :math:`k` is promoted to :math:`k + 1` once it is in the top
    :math:`1/\eta` of the results there.

    Args:
        min_epochs: :math:`r_{\min}`, the first rung.
        eta: :math:`\eta`, the reduction factor (3 by default).
    """

    name = "asha"

    def first_budget(self, number: int) -> int:
        return self.rungs[0]

    def promotions(self, history: History, n: int) -> list[tuple[int, int]]:
        return self._promote_within(list(history), self.rungs, n)


class Hyperband(FidelitySchedule):
    r"""Asynchronous Hyperband: ASHA in brackets that start at different rungs.

    Bracket :math:`b` starts its trials at rung :math:`b` (bracket 0 is ASHA itself,
    the most aggressive); promotions compare trials of the same bracket only. New trials
    are dealt to brackets in Hyperband's proportions,
    :math:`n_b \propto \frac{s_{\max}+1}{s+1}\,\eta^{s}` with :math:`s = s_{\max} - b`,
    by a smooth weighted round robin of the trial number (deterministic, nothing to
    store).

    Args:
        min_epochs, eta: As `ASHA`.
        brackets: How many brackets (all rungs but the last by default).
    """

    name = "hyperband"

    def __init__(self, *, min_epochs: int = 1, eta: int = 3, brackets: int | None = None) -> None:
        super().__init__(min_epochs=min_epochs, eta=eta)
        self.brackets = None if brackets is None else _check("brackets", brackets, 1)
        self._deal: list[int] = []
        self._credit: list[float] = []

    def setup(self, fidelities: Sequence[int]) -> None:
        super().setup(fidelities)
        self._deal, self._credit = [], []

    @property
    def n_brackets(self) -> int:
        most = max(1, len(self.rungs) - 1)
        return most if self.brackets is None else min(self.brackets, most)

    def bracket(self, number: int) -> int:
        """The bracket of trial ``number``."""
        count = self.n_brackets
        s_max = len(self.rungs) - 1
        weights = [(s_max + 1) / (s_max - b + 1) * self.eta ** (s_max - b) for b in range(count)]
        total = sum(weights)
        if len(self._credit) != count:
            self._credit, self._deal = [0.0] * count, []
        while len(self._deal) <= number:
            for b in range(count):
                self._credit[b] += weights[b]
            b = max(range(count), key=lambda i: (self._credit[i], -i))
            self._credit[b] -= total
            self._deal.append(b)
        return self._deal[number]

    def first_budget(self, number: int) -> int:
        return self.rungs[self.bracket(number)]

    def promotions(self, history: History, n: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        by_bracket: dict[int, list[Trial]] = {}
        for t in history:
            by_bracket.setdefault(self.bracket(t.number), []).append(t)
        for b in sorted(by_bracket):
            out += self._promote_within(by_bracket[b], self.rungs[b:], n - len(out))
            if len(out) >= n:
                break
        return out[:n]

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        if self.brackets is not None:
            config["brackets"] = self.brackets
        return config


_SCHEDULES: dict[str, type[FidelitySchedule]] = {"asha": ASHA, "hyperband": Hyperband}


def schedule_names() -> tuple[str, ...]:
    return tuple(_SCHEDULES)


def schedule_from_config(config: Mapping[str, Any] | str) -> FidelitySchedule:
    """Rebuild a schedule from `FidelitySchedule.to_config` output (or a bare name)."""
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, Mapping) or config.get("name") not in _SCHEDULES:
        raise ValueError(
            f"fidelity schedule: expected one of {sorted(_SCHEDULES)}, got {config!r}"
        )
    settings = {k: v for k, v in config.items() if k != "name"}
    try:
        return _SCHEDULES[config["name"]](**settings)
    except TypeError as exc:
        raise ValueError(f"fidelity schedule {config['name']!r}: {exc}") from None
