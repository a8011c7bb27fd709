"""Candidate pools: where acquisition functions look for the next architecture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bo_nas._history import History
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
            e.g. NB-201's 15,625 cells) instead of the above.
    """

    top_k: int = 10
    n_random: int = 200
    two_step: int = 20
    whole_space: bool = False

    def __post_init__(self) -> None:
        for name in ("top_k", "n_random", "two_step"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
        if not isinstance(self.whole_space, bool):
            raise ValueError(f"whole_space: expected true or false, got {self.whole_space!r}")


def candidate_pool(
    space: SearchSpace,
    history: History,
    rng: np.random.Generator,
    config: PoolConfig = PoolConfig(),
) -> list[Architecture]:
    """Distinct candidates not yet proposed (evaluated, failed or pending).

    One- and two-move mutations of the `top_k` best complete trials plus `n_random`
    random samples, deduplicated by canonical key; or the whole space.
    """
    seen = set(history.keys)
    out: list[Architecture] = []

    def add(arch: Architecture) -> None:
        if arch.key not in seen:
            seen.add(arch.key)
            out.append(arch)

    if config.whole_space:
        for arch in _enumerated(space):
            add(arch)
        return out
    for trial in history.top(config.top_k):
        for arch in space.neighbours(trial.arch):
            add(arch)
        for _ in range(config.two_step):
            add(space.mutate(trial.arch, rng, steps=2))
    for arch in space.sample_many(config.n_random, rng, exclude=[]):
        add(arch)
    return out


_ENUM_CACHE: dict[int, list[Architecture]] = {}


def _enumerated(space: SearchSpace) -> list[Architecture]:
    key = id(space)
    if key not in _ENUM_CACHE:
        _ENUM_CACHE.clear()
        _ENUM_CACHE[key] = list(space.enumerate())
    return _ENUM_CACHE[key]
