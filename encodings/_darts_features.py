r"""Tree-Wasserstein features of DARTS genotypes, one set of blocks per cell type.

A DARTS genotype is two cells, so its features are the concatenation of each cell's
blocks and the L1 distance between two genotypes is the sum of the cells' TW terms (the
TW discrepancy on the product of the two cells' measures). Per cell:

* ``ops``: the histogram of the 8 edge ops (mass 1/8 each) embedded on the op tree;
* ``in_degree`` / ``out_degree``: the in- and out-degrees of the cell's 6 nodes (inputs
  0, 1 and intermediate nodes 2…5, edges = the 8 op edges) as measures over depth
  positions 0…4, embedded as CDFs (1-D Wasserstein on the chain);
* position-aware variant: ``positions``, the (slot, op) measure of the canonical genotype
  (each of the 8 edge slots mass 1/8, :math:`\frac18\sum_p d_T(o_p, o'_p)`), and
  ``inputs``, the node each slot reads as a measure on the chain 0…5 per slot
  (:math:`\frac18\sum_p |j_p - j'_p|`), which the histogram leaves out.

The canonical genotype numbers intermediate nodes and orders each node's two edges the
same way for every equal network, so equal cells get equal position features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._architecture import Architecture
from ._darts import CELL_TYPES, DARTS_STEPS, Cell, DARTSGenotype, canonical_cell, darts_genotype_of
from ._errors import InvalidArchitectureError
from ._op_tree import OpTree
from ._tw_features import position_embedding

_EDGES = 2 * DARTS_STEPS
_NODES = 2 + DARTS_STEPS
#: Depth positions of a cell's nodes: inputs at 0, a chain of four nodes reaches 4.
_DEPTHS = DARTS_STEPS + 1


def cell_depths(cell: Cell) -> list[int]:
    """Longest-path depth of nodes 0…5 (inputs at depth 0)."""
    depth = [0, 0]
    for step in range(DARTS_STEPS):
        srcs = (cell[2 * step][1], cell[2 * step + 1][1])
        depth.append(1 + max(depth[s] for s in srcs))
    return depth


def cell_degree_embeddings(cell: Cell) -> tuple[np.ndarray, np.ndarray]:
    """CDFs (4 values each) of the in- and out-degree measures of a cell over depth."""
    depth = cell_depths(cell)
    inm = np.zeros(_DEPTHS)
    outm = np.zeros(_DEPTHS)
    for k, (_, src) in enumerate(cell):
        inm[depth[2 + k // 2]] += 1.0
        outm[depth[src]] += 1.0
    return np.cumsum(inm / _EDGES)[:-1], np.cumsum(outm / _EDGES)[:-1]


def cell_op_embedding(cell: Cell, tree: OpTree) -> np.ndarray:
    """Subtree-mass embedding of the cell's op histogram (`tree.dim`)."""
    out = np.zeros(tree.dim)
    for op, _ in cell:
        if op not in tree:
            raise InvalidArchitectureError(
                f"op {op!r} is not in the op tree (known ops: {list(tree.leaves)})"
            )
        out += tree.leaf_embedding[tree.leaf_index(op)]
    return out / _EDGES


def cell_input_embedding(cell: Cell) -> np.ndarray:
    """Per slot, the CDF of the node it reads on the chain 0…5, scaled by 1/8 (8 × 5)."""
    out = np.zeros((_EDGES, _NODES - 1))
    for k, (_, src) in enumerate(cell):
        out[k, src:] = 1.0
    return (out / _EDGES).reshape(-1)


def _canonical_slots(arch: Architecture) -> list[str]:
    g = darts_genotype_of(arch)
    return [op for kind in CELL_TYPES for op, _ in canonical_cell(g.cell(kind))]


@dataclass(frozen=True)
class DARTSEncoder:
    """Feature map from DARTS-cell architectures to TW blocks (see the module docstring).

    Args:
        tree: Op tree over the DARTS ops.
        positions: Position-aware blocks (``positions`` + ``inputs``) instead of the op
            histogram.
        degrees: Add the in- and out-degree blocks of each cell.

    Block names are prefixed by the cell type: ``normal_ops``, ``normal_in_degree``, …,
    ``reduce_out_degree``; one lengthscale per block in `TreeWassersteinKernel`.
    """

    tree: OpTree
    positions: bool = False
    degrees: bool = True
    # The interface GP strategies read off every encoder: per-slot ops for categorical
    # baselines, present only in the position-aware variant.
    slots: Callable[[Architecture], Sequence[str | None]] | None = field(init=False)
    n_slots: int = field(init=False)
    absent: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", _canonical_slots if self.positions else None)
        object.__setattr__(self, "n_slots", 2 * _EDGES if self.positions else 0)

    @property
    def block_names(self) -> tuple[str, ...]:
        per_cell = ["positions", "inputs"] if self.positions else ["ops"]
        if self.degrees:
            per_cell += ["in_degree", "out_degree"]
        return tuple(f"{kind}_{name}" for kind in CELL_TYPES for name in per_cell)

    @property
    def block_sizes(self) -> tuple[int, ...]:
        size = {
            "positions": _EDGES * self.tree.dim,
            "inputs": _EDGES * (_NODES - 1),
            "ops": self.tree.dim,
            "in_degree": _DEPTHS - 1,
            "out_degree": _DEPTHS - 1,
        }
        return tuple(size[n.split("_", 1)[1]] for n in self.block_names)

    @property
    def dim(self) -> int:
        return sum(self.block_sizes)

    def encode_genotype(self, genotype: DARTSGenotype) -> np.ndarray:
        parts: list[np.ndarray] = []
        for kind in CELL_TYPES:
            cell = genotype.cell(kind)
            if self.positions:
                canon = canonical_cell(cell)
                parts.append(position_embedding([op for op, _ in canon], self.tree))
                parts.append(cell_input_embedding(canon))
            else:
                parts.append(cell_op_embedding(cell, self.tree))
            if self.degrees:
                parts.extend(cell_degree_embeddings(cell))
        return np.concatenate(parts)

    def encode_one(self, arch: Architecture) -> np.ndarray:
        return self.encode_genotype(darts_genotype_of(arch))

    def encode(self, archs: Iterable[Architecture]) -> np.ndarray:
        """`n x dim` float64 matrix, one row per architecture."""
        rows = [self.encode_one(a) for a in archs]
        if not rows:
            return np.zeros((0, self.dim))
        return np.stack(rows)
