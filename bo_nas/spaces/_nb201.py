"""The NAS-Bench-201 search space: 6 edges, 5 ops, 15,625 cells."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

from bo_nas._random import RandomLike, as_generator
from bo_nas.encodings import (
    NB201_OPS,
    Architecture,
    InvalidArchitectureError,
    OpTree,
    TWEncoder,
    format_nb201,
    nb201_architecture,
    nb201_canonical_ops,
)
from bo_nas.encodings._nb201 import nb201_ops_of

from ._base import SearchSpace


def default_nb201_tree() -> OpTree:
    """conv3x3 and conv1x1 share a branch (1 apart); conv, pool and skip are 3 apart."""
    return OpTree.from_groups(
        {
            "conv": ["nor_conv_3x3", "nor_conv_1x1"],
            "pool": ["avg_pool_3x3"],
            "skip": ["skip_connect"],
        }
    )


class NB201Space(SearchSpace):
    """NAS-Bench-201 cells, written as the official ``|op~0|+|op~0|op~1|+…|`` strings.

    ``none`` edges are the absence of an op: in the op histogram they are pruned away,
    in position-aware features the slot keeps its mass at the root of its op tree.

    Args:
        op_tree: Ground metric over the four real ops; `default_nb201_tree` if omitted.

    Example:
        >>> space = NB201Space()
        >>> a = space.from_string(
        ...     "|nor_conv_3x3~0|+|none~0|skip_connect~1|"
        ...     "+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
        ... )
        >>> len(space.neighbours(a)) <= 24
        True
    """

    name = "nb201"
    ops = NB201_OPS
    n_cells = 5**6

    def __init__(self, op_tree: OpTree | None = None) -> None:
        if op_tree is not None and not isinstance(op_tree, OpTree):
            raise ValueError(f"op_tree: expected an OpTree or None, got {type(op_tree).__name__}")
        self.op_tree = op_tree or default_nb201_tree()
        missing = [op for op in NB201_OPS[1:] if op not in self.op_tree]
        if missing:
            raise InvalidArchitectureError(f"op_tree: lacks NB-201 ops {missing}")

    def from_string(self, text: str) -> Architecture:
        return nb201_architecture(text)

    def to_string(self, arch: Architecture) -> str:
        return format_nb201(nb201_ops_of(arch))

    def edge_ops(self, arch: Architecture) -> tuple[str, ...]:
        """The 6 edge ops of a cell of this space."""
        return nb201_ops_of(arch)

    def canonical_string(self, arch: Architecture) -> str:
        """The string of the cell's equivalence-class representative."""
        return format_nb201(nb201_canonical_ops(nb201_ops_of(arch)))

    def disconnected(self, arch: Architecture) -> bool:
        # Every edge dead: the zero op (``none``) cuts each input -> output path.
        return _disconnected(nb201_ops_of(arch))

    def sample(self, rng: RandomLike = None) -> Architecture:
        gen = as_generator(rng)
        idx = gen.integers(len(NB201_OPS), size=6)
        return _cell(tuple(NB201_OPS[i] for i in idx))

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        return list(_neighbour_cells(nb201_ops_of(arch)))

    def validate(self, arch: Architecture) -> Architecture:
        nb201_ops_of(arch)
        return arch

    def enumerate(self) -> Iterator[Architecture]:
        for ops in itertools.product(NB201_OPS, repeat=6):
            yield nb201_architecture(ops)

    def encoder(self, positions: bool | None = None, ngrams: bool = False) -> TWEncoder:
        if positions is None:
            positions = True
        if positions:
            return TWEncoder(
                self.op_tree,
                max_depth=5,
                slots=lambda a: nb201_canonical_ops(nb201_ops_of(a)),
                n_slots=6,
                absent=frozenset({"none"}),
            )
        return TWEncoder(self.op_tree, max_depth=5, ngrams=ngrams)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name}


@functools.lru_cache(maxsize=5**6)
def _cell(ops: tuple[str, ...]) -> Architecture:
    """One shared (immutable) object per cell: a candidate pool samples hundreds of cells
    per proposal, and building one and its canonical key costs about a millisecond."""
    return nb201_architecture(ops)


@functools.lru_cache(maxsize=5**6)
def _disconnected(ops: tuple[str, ...]) -> bool:
    return all(op == "none" for op in nb201_canonical_ops(ops))


@functools.lru_cache(maxsize=5**6)
def _neighbour_cells(ops: tuple[str, ...]) -> tuple[Architecture, ...]:
    """Distinct networks one edge-op change away (a search revisits the same cells often)."""
    seen = {nb201_architecture(ops).key}
    out: list[Architecture] = []
    for k in range(6):
        for op in NB201_OPS:
            if op == ops[k]:
                continue
            b = nb201_architecture((*ops[:k], op, *ops[k + 1 :]))
            if b.key not in seen:
                seen.add(b.key)
                out.append(b)
    return tuple(out)
