"""A search space cut down to the cells that meet hard constraints on known costs.

Every strategy draws, mutates and enumerates through its space, so wrapping the space
is what makes "no proposal ever violates a known-cost constraint" hold for all of
them, baselines included, without each one knowing about constraints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from bo_nas._random import RandomLike, as_generator
from bo_nas.encodings import Architecture, InvalidArchitectureError, TWEncoder
from bo_nas.objectives import Constraint, CostSource

from ._base import SearchSpace

#: Draws from the base space per feasible sample before giving up.
MAX_DRAWS = 20_000
#: Random cells checked for a feasible one when the cost source cannot list the space.
_PROBE = 2_000


class InfeasibleConstraintError(ValueError):
    """No architecture of the space meets the constraints (raised before any evaluation)."""


class ConstrainedSpace(SearchSpace):
    """The cells of ``base`` that meet every constraint in ``constraints``.

    `sample` redraws from the base space until a cell is feasible (up to `MAX_DRAWS`
    draws), `neighbours` and `enumerate` keep the feasible ones, a mutation step never
    lands on an infeasible cell, and `validate` rejects one with the violated bound in
    the message. Feasibility is decided on the costs ``source`` knows before
    evaluating, cached per cell.

    Args:
        base: The space to cut down.
        constraints: Bounds on costs ``source`` knows.
        source: Where the costs come from (the evaluator's `known_costs`).

    Raises:
        ValueError: for a constraint on a cost the source does not know.
        InfeasibleConstraintError: when no cell meets the constraints (exactly, for a
            source that lists every cell; else none of 2,000 random cells does).
    """

    name = "constrained"

    def __init__(
        self, base: SearchSpace, constraints: Sequence[Constraint], source: CostSource
    ) -> None:
        if not isinstance(base, SearchSpace):
            raise ValueError(f"base: expected a SearchSpace, got {type(base).__name__}")
        unknown = [str(c) for c in constraints if c.metric not in source.names]
        if unknown:
            raise ValueError(
                f"constraints {unknown}: the evaluator does not know these costs before "
                f"evaluating (it knows {list(source.names)})"
            )
        if not constraints:
            raise ValueError("constraints: a constrained space needs at least one")
        self.base = base
        self.constraints = tuple(constraints)
        self.source = source
        self.ops = base.ops
        self.op_tree = base.op_tree
        self._metrics = tuple(dict.fromkeys(c.metric for c in self.constraints))
        self._verdicts: dict[str, str | None] = {}
        self._check_some_feasible()

    # --- feasibility --------------------------------------------------------------------

    def violation(self, arch: Architecture) -> str | None:
        """``None`` when ``arch`` meets every constraint, else what it violates
        (``"params<=1: params = 1.53"``)."""
        key = _exact(arch)
        if key in self._verdicts:
            return self._verdicts[key]
        row = self.source.costs([arch], self._metrics)[0]
        verdict = self._verdict(row)
        self._verdicts[key] = verdict
        return verdict

    def feasible(self, arch: Architecture) -> bool:
        """Whether ``arch`` meets every constraint."""
        return self.violation(arch) is None

    def _verdict(self, row: np.ndarray) -> str | None:
        for c in self.constraints:
            v = float(row[self._metrics.index(c.metric)])
            if not c.satisfied(v):
                shown = "unknown" if v != v else f"{v:.4g}"
                return f"{c}: {c.metric} = {shown}"
        return None

    def _check_some_feasible(self) -> None:
        every = self.source.all_costs(self._metrics)
        if every is not None:
            ok = np.ones(len(every), dtype=bool)
            for c in self.constraints:
                col = every[:, self._metrics.index(c.metric)]
                with np.errstate(invalid="ignore"):
                    ok &= (col <= c.bound) if c.op == "<=" else (col >= c.bound)
            if not ok.any():
                raise InfeasibleConstraintError(self._nothing_meets(every))
            return
        probe = [self.base.sample(np.random.default_rng(i)) for i in range(_PROBE)]
        if not any(self.feasible(a) for a in probe):
            rows = self.source.costs(probe, self._metrics)
            raise InfeasibleConstraintError(
                self._nothing_meets(rows, f"none of {_PROBE:,} random cells")
            )

    def _nothing_meets(self, rows: np.ndarray, what: str = "no cell of the space") -> str:
        ranges = ", ".join(
            f"{m} from {np.nanmin(rows[:, j]):.4g} to {np.nanmax(rows[:, j]):.4g}"
            for j, m in enumerate(self._metrics)
        )
        shown = ", ".join(str(c) for c in self.constraints)
        return (f"constraints {shown}: {what} meets them ({ranges}); "
                "loosen a bound before the first evaluation")

    # --- the space protocol -------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # The base space's conversions (from_string, to_string, ...). Looked up in
        # __dict__ so that unpickling (no attributes yet) does not recurse.
        base = self.__dict__.get("base")
        if base is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(base, name)

    def sample(self, rng: RandomLike = None) -> Architecture:
        gen = as_generator(rng)
        for _ in range(MAX_DRAWS):
            arch = self.base.sample(gen)
            if self.feasible(arch):
                return arch
        raise InfeasibleConstraintError(
            f"no feasible cell in {MAX_DRAWS:,} draws from {self.base!r} under "
            f"{', '.join(map(str, self.constraints))}: the constraints leave too little "
            "of the space to sample from"
        )

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        return [a for a in self.base.neighbours(arch) if self.feasible(a)]

    def _step(
        self,
        arch: Architecture,
        rng: np.random.Generator,
        moves: Callable[[Architecture], list[Architecture]] | None = None,
    ) -> Architecture | None:
        if moves is not None:
            return super()._step(arch, rng, moves)
        # The base space's own one-move draw (cheap for DARTS), redrawn while it lands
        # outside; the feasible neighbours when that keeps failing.
        for _ in range(20):
            step = self.base._step(arch, rng)
            if step is None:
                return None
            if self.feasible(step):
                return step
        return super()._step(arch, rng)

    def validate(self, arch: Architecture) -> Architecture:
        self.base.validate(arch)
        why = self.violation(arch)
        if why is not None:
            raise InvalidArchitectureError(f"{arch!r} violates the constraint {why}")
        return arch

    def disconnected(self, arch: Architecture) -> bool:
        return self.base.disconnected(arch)

    def enumerate(self) -> Iterator[Architecture]:
        return (a for a in self.base.enumerate() if self.feasible(a))

    def encoder(self, positions: bool | None = None, ngrams: bool = False) -> TWEncoder:
        return self.base.encoder(positions, ngrams)

    def to_config(self) -> dict[str, Any]:
        # Campaigns store the base space and the constraints apart (the costs come from
        # the evaluator, which a space config cannot hold).
        return {"name": self.name, "base": self.base.to_config(),
                "constraints": [c.to_config() for c in self.constraints]}

    def __repr__(self) -> str:
        shown = ", ".join(map(str, self.constraints))
        return f"ConstrainedSpace({self.base!r}, [{shown}])"


def _exact(arch: Architecture) -> str:
    """An identity of the cell as written (not its canonical key): costs count every op,
    also those of edges that reach nothing."""
    d = arch.to_dict()
    return repr((d["nodes"], d["edges"], d.get("meta")))
