"""Categorical encoding: the op index at each position, for Hamming-kernel baselines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._architecture import Architecture
from ._errors import InvalidArchitectureError


@dataclass(frozen=True)
class CategoricalEncoder:
    """Maps an architecture to `n_slots` integers: the index of the op in each slot.

    Empty slots (``None`` or an op in `absent`) get index ``len(ops)``. Pair with BoTorch's
    ``CategoricalKernel`` (a Hamming-distance kernel) for the baseline a BoTorch user
    would build without TW.
    """

    ops: tuple[str, ...]
    slots: Callable[[Architecture], Sequence[str | None]]
    n_slots: int
    absent: frozenset[str] = frozenset()

    @property
    def dim(self) -> int:
        return self.n_slots

    @property
    def block_sizes(self) -> tuple[int, ...]:
        return (self.n_slots,)

    def encode_one(self, arch: Architecture) -> np.ndarray:
        index = {op: i for i, op in enumerate(self.ops)}
        out = np.empty(self.n_slots)
        for i, op in enumerate(self.slots(arch)):
            if op is None or op in self.absent:
                out[i] = len(self.ops)
            elif op in index:
                out[i] = index[op]
            else:
                raise InvalidArchitectureError(f"op {op!r} not among {self.ops}")
        return out

    def encode(self, archs: Iterable[Architecture]) -> np.ndarray:
        rows = [self.encode_one(a) for a in archs]
        return np.stack(rows) if rows else np.zeros((0, self.n_slots))
