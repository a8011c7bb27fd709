"""Seeding helpers: every random draw in bo-nas goes through an explicit generator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

RandomLike = np.random.Generator | int | np.integer | None


def as_generator(seed: RandomLike, name: str = "rng") -> np.random.Generator:
    """Return a `numpy.random.Generator` for a seed, a generator, or ``None`` (fresh entropy).

    Raises:
        ValueError: naming ``name`` when ``seed`` is neither.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"{name}: seed must be non-negative, got {seed}")
        return np.random.default_rng(seed)
    raise ValueError(
        f"{name}: expected a numpy.random.Generator, an int seed or None, got {type(seed).__name__}"
    )


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from ``rng`` (advances ``rng`` by one draw): how a
    strategy turns the campaign's numpy stream into the torch draws of one proposal."""
    import torch  # numpy-only callers of this module do not pay for torch

    return torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
