"""The strategy protocol: how a search decides what to evaluate next."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar

import numpy as np

from bo_nas._history import History
from bo_nas._settings import settings_from_config, settings_to_config
from bo_nas.encodings import Architecture
from bo_nas.objectives import Constraint, CostSource, Objective
from bo_nas.spaces import SearchSpace
from bo_nas.zero_cost._source import ScoreSource


class Strategy(ABC):
    """Decides which architectures to evaluate.

    Call order, by `Campaign`:

    1. `setup(space)` once, before the first proposal (also after a resume), then
       `use_scores(source)` with the evaluator's zero-cost scores or ``None``, then
       `use_objectives(objectives, constraints, costs)`, then `use_fidelity(rungs)`.
       The space already excludes
       every cell that violates a hard (known-cost) constraint.
    2. `propose(history, n, rng)` whenever the campaign needs ``n`` new architectures.
       ``history`` holds every trial so far, pending ones included; a proposal must not
       repeat any architecture in it (compare ``arch.key``), nor itself.
    3. `after_trial(history, trial_number)` after each result or failure is recorded
       (a do-nothing hook by default).

    All randomness must come from the ``rng`` passed to `propose` (derive torch
    generators from it), so that one seed fixes a whole campaign and a resumed campaign
    repeats the same proposals. A strategy's state is either rebuilt from the history
    or returned by `get_state` (JSON-compatible), which the campaign stores after every
    proposal and hands back through `set_state` on resume, on a fresh instance after
    `setup`.

    Settings: a strategy that has any declares them as a frozen dataclass in the class
    attribute ``Settings``; the constructor takes either such an instance or its fields
    as keywords, and `to_config` and the rebuild on resume (`from_config`) derive from
    it. A strategy without ``Settings`` takes none.
    """

    #: Name in configs, stores and benchmark tables.
    name: str = "strategy"
    #: The frozen dataclass of this strategy's settings, or ``None``.
    Settings: ClassVar[type | None] = None
    settings: Any = None
    #: The campaign's zero-cost scores (`use_scores`), ``None`` without any.
    scores: ScoreSource | None = None
    #: Whether the strategy searches for every objective of a multi-objective campaign;
    #: one that does not maximises ``val_accuracy`` alone (the campaign warns).
    multi_objective: ClassVar[bool] = False
    #: What the campaign optimises (`use_objectives`); ``val_accuracy`` by default.
    objectives: tuple[Objective, ...] = (Objective("val_accuracy"),)
    #: Constraints on costs known only after evaluating (`use_objectives`); those on
    #: known costs are already enforced by the space the strategy is set up with.
    constraints: tuple[Constraint, ...] = ()
    #: Costs the evaluator knows before evaluating (`use_objectives`), or ``None``.
    costs: CostSource | None = None
    #: Rungs (epochs) of a multi-fidelity campaign (`use_fidelity`), or ``None``.
    rungs: tuple[int, ...] | None = None

    def __init__(self, settings: Any = None, **kwargs: Any) -> None:
        cls = type(self)
        if cls.Settings is None:
            if settings is not None or kwargs:
                raise ValueError(
                    f"strategy {cls.name!r} takes no settings, got {settings or kwargs!r}"
                )
            return
        if settings is None:
            self.settings = settings_from_config(cls.Settings, kwargs, cls.__name__)
        elif kwargs:
            raise ValueError(
                f"strategy {cls.name!r}: pass either a settings object or keyword settings, "
                "not both"
            )
        elif not isinstance(settings, cls.Settings):
            raise ValueError(
                f"settings: expected a {cls.Settings.__name__}, got {type(settings).__name__}"
            )
        else:
            self.settings = settings

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Strategy:
        """Rebuild from the stored settings (`to_config` without its ``"name"``)."""
        return cls(**settings)

    def setup(self, space: SearchSpace) -> None:
        """Bind to the search space. Subclasses calling super() get ``self.space``."""
        self.space = space

    def use_scores(self, source: ScoreSource | None) -> None:
        """Zero-cost scores of the campaign's architectures (`bo_nas.zero_cost`), or
        ``None`` when it has none; called by `Campaign` after `setup`. A strategy that
        can use them reads ``self.scores``; the others ignore it."""
        self.scores = source

    def use_objectives(
        self,
        objectives: tuple[Objective, ...],
        constraints: tuple[Constraint, ...] = (),
        costs: CostSource | None = None,
    ) -> None:
        """The campaign's objectives, its constraints on costs measured only by
        evaluating, and the evaluator's known costs; called by `Campaign` after
        `use_scores`. The default stores them as ``objectives``, ``constraints`` and
        ``costs``."""
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self.costs = costs

    def use_fidelity(self, rungs: tuple[int, ...] | None) -> None:
        """The rungs (epochs, ascending; the last is the final budget) of a
        multi-fidelity campaign, or ``None``; called by `Campaign` after
        `use_objectives`. Trials then carry their results by budget (``Trial.rungs``)
        and only trials at the final budget are ``complete``; a strategy that can learn
        from lower rungs reads them there. The default stores ``rungs``."""
        self.rungs = tuple(rungs) if rungs is not None else None

    @abstractmethod
    def propose(
        self, history: History, n: int, rng: np.random.Generator
    ) -> list[Architecture]:
        """Return up to ``n`` distinct architectures not in ``history``."""

    def after_trial(self, history: History, trial_number: int) -> None:  # noqa: B027
        """Hook called after a trial completes or fails."""

    def get_state(self) -> dict[str, Any]:
        """State that affects future proposals and is not in the history (default none)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:  # noqa: B027
        """Restore what `get_state` returned."""

    def to_config(self) -> dict[str, Any]:
        """JSON-compatible settings, stored with the campaign: ``{"name": ..., **settings}``."""
        if self.settings is None:
            return {"name": self.name}
        return {"name": self.name, **settings_to_config(self.settings)}

    def __repr__(self) -> str:
        if self.settings is None:
            return f"{type(self).__name__}()"
        args = ", ".join(f"{f.name}={getattr(self.settings, f.name)!r}"
                         for f in fields(self.settings))
        return f"{type(self).__name__}({args})"
