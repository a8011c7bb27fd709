"""Candidate pools: where acquisition functions look for the next architecture."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bo_nas._history import History, Trial
from bo_nas.encodings import Architecture
from bo_nas.spaces import SearchSpace


@dataclass(frozen=True)
class PoolConfig:
    """How to build the candidate pool.

    Attributes:
        top_k: Incumbents whose mutations enter the pool.
        n_random: Random samples added.
        two_step: Per incumbent, this many two-move mutations (one-move neighbours are
            all added).
        whole_space: Score every architecture of the space (when it can be enumerated,
            e.g. NB-201's 15,625 cells) instead of the above; ``"auto"`` (the default)
            does so in a multi-objective GP search of a space of at most 20,000 cells
            (a front over known costs has a best cell per cost level, often far from
            every cell evaluated so far) and not otherwise.
    """

    top_k: int = 10
    n_random: int = 200
    two_step: int = 20
    whole_space: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        for name in ("top_k", "n_random", "two_step"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
        if not isinstance(self.whole_space, bool) and self.whole_space != "auto":
            raise ValueError(
                f"whole_space: expected true, false or 'auto', got {self.whole_space!r}"
            )


def as_pool_config(value: PoolConfig | dict | None) -> PoolConfig:
    """A `PoolConfig` from itself, its fields as a dict (stored configs), or ``None``."""
    if value is None:
        return PoolConfig()
    if isinstance(value, dict):
        return PoolConfig(**value)
    if not isinstance(value, PoolConfig):
        raise ValueError(f"pool: expected a PoolConfig or dict, got {value!r}")
    return value


def candidate_pool(
    space: SearchSpace,
    history: History,
    rng: np.random.Generator,
    config: PoolConfig = PoolConfig(),
    neighbours: Callable[[Architecture], list[Architecture]] | None = None,
    parents: Sequence[Trial] | None = None,
) -> list[Architecture]:
    """Distinct candidates not yet proposed (evaluated, failed or pending).

    One- and two-move mutations of the `top_k` best complete trials (or of
    ``parents``, e.g. a Pareto front) plus `n_random` random samples, deduplicated by
    canonical key; or the whole space. A two-move mutation is a uniform neighbour of a
    uniform neighbour, as `SearchSpace.mutate` draws it. ``neighbours`` replaces
    ``space.neighbours`` (e.g. a `NeighbourCache`); it changes no result, only the cost.
    """
    neighbours = neighbours or space.neighbours
    seen = set(history.keys)
    out: list[Architecture] = []

    def add(arch: Architecture) -> None:
        if arch.key not in seen:
            seen.add(arch.key)
            out.append(arch)

    if config.whole_space is True:
        # One list of distinct networks per space: a cell's key costs a property lookup,
        # and a search asks for the whole space at every step.
        return [a for k, a in _distinct_enumerated(space) if k not in seen]
    for trial in (history.top(config.top_k) if parents is None else parents):
        for arch in neighbours(trial.arch):
            add(arch)
        for _ in range(config.two_step):
            current = trial.arch
            for _ in range(2):
                step = space._step(current, rng, neighbours)
                if step is None:
                    break
                current = step
            add(current)
    for arch in space.sample_many(config.n_random, rng, exclude=[]):
        add(arch)
    return out


class NeighbourCache:
    """`SearchSpace.neighbours` memoised per graph (least recently used dropped).

    Building a cell's neighbours constructs and hashes every one of them, which costs
    far more than a tabular evaluation; searches revisit the same incumbents each step.
    ``space.neighbours`` is deterministic, so the cache changes no result.

    Args:
        space: The search space.
        max_size: Cells whose neighbour lists are kept.
        moves: What to memoise instead of ``space.neighbours`` (e.g. the space's
            ``_moves``, where one mutation step may go); deterministic as well.
    """

    def __init__(
        self,
        space: SearchSpace,
        max_size: int = 512,
        moves: Callable[[Architecture], list[Architecture]] | None = None,
    ) -> None:
        self.space = space
        self.max_size = max_size
        self._moves = moves if moves is not None else space.neighbours
        self._lists: OrderedDict[str, list[Architecture]] = OrderedDict()

    def __call__(self, arch: Architecture) -> list[Architecture]:
        # Keyed by the graph as written, not the canonical key: cells equal up to dead
        # edges are written differently and have different neighbours (NB-201).
        key = arch.to_json()
        nbrs = self._lists.get(key)
        if nbrs is None:
            nbrs = self._lists[key] = self._moves(arch)
            if len(self._lists) > self.max_size:
                self._lists.popitem(last=False)
        else:
            self._lists.move_to_end(key)
        return nbrs


_ENUMERATIONS: weakref.WeakKeyDictionary[SearchSpace, list[Architecture]] = (
    weakref.WeakKeyDictionary()
)


_DISTINCT: weakref.WeakKeyDictionary[SearchSpace, list[tuple[str, Architecture]]] = (
    weakref.WeakKeyDictionary()
)


def _distinct_enumerated(space: SearchSpace) -> list[tuple[str, Architecture]]:
    """``(key, cell)`` of the first cell of each network in `_enumerated` order."""
    pairs = _DISTINCT.get(space)
    if pairs is None:
        first: dict[str, Architecture] = {}
        for arch in _enumerated(space):
            first.setdefault(arch.key, arch)
        pairs = _DISTINCT[space] = list(first.items())
    return pairs


def _enumerated(space: SearchSpace) -> list[Architecture]:
    # Held per space object and released with it (an ``id`` key could be reused by a
    # later, different space).
    cells = _ENUMERATIONS.get(space)
    if cells is None:
        cells = _ENUMERATIONS[space] = list(space.enumerate())
    return cells
