"""The strategy protocol: how a search decides what to evaluate next."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from bo_nas._history import History
from bo_nas.encodings import Architecture
from bo_nas.spaces import SearchSpace


class Strategy(ABC):
    """Decides which architectures to evaluate.

    Call order, by `Campaign`:

    1. `setup(space)` once, before the first proposal (also after a resume).
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
    """

    #: Name in configs, stores and benchmark tables.
    name: str = "strategy"

    def setup(self, space: SearchSpace) -> None:
        """Bind to the search space. Subclasses calling super() get ``self.space``."""
        self.space = space

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
        """JSON-compatible settings, stored with the campaign."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
