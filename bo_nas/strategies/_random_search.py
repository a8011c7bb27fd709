"""Random search: the floor every other strategy must clear."""

from __future__ import annotations

from typing import Any

import numpy as np

from bo_nas._history import History
from bo_nas.encodings import Architecture

from ._base import Strategy


class RandomSearch(Strategy):
    """Uniform samples from the space's sampling distribution, never one proposed before.

    Example:
        >>> campaign = Campaign(NB201Space(), evaluator, RandomSearch(), seed=0)  # doctest: +SKIP
    """

    name = "random"
    #: Uniform sampling serves any objectives alike.
    multi_objective = True

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        return self.space.sample_many(n, rng, exclude=[t.arch for t in history])

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name}
