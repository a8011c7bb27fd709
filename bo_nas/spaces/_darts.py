"""The DARTS search space: a normal and a reduction cell, each node with two inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np

from bo_nas._random import RandomLike, as_generator
from bo_nas.encodings import Architecture, InvalidArchitectureError, OpTree
from bo_nas.encodings._darts import (
    CELL_TYPES,
    DARTS_OPS,
    DARTS_STEPS,
    Cell,
    DARTSGenotype,
    darts_architecture,
    darts_genotype_of,
)
from bo_nas.encodings._darts_features import DARTSEncoder

from ._base import SearchSpace


def default_darts_tree() -> OpTree:
    r"""Separable convs close, dilated convs close to them, pools together, skip apart.

    root → conv (1) → sep (0.5) → sep_conv_3x3, sep_conv_5x5 (0.25 each); conv → dil
    (0.5) → dil_conv_3x3, dil_conv_5x5 (0.25); root → pool (1) → max/avg pool (0.5);
    root → skip_connect (1.5). Distances: sep 3×3–5×5 0.5, sep–dil 1.5, max–avg 1,
    conv–pool 3.25, skip–pool 3, skip–conv 3.25.
    """
    t = nx.DiGraph()
    t.add_edge("root", "conv", weight=1.0)
    t.add_edge("conv", "sep", weight=0.5)
    t.add_edge("conv", "dil", weight=0.5)
    for k in ("3x3", "5x5"):
        t.add_edge("sep", f"sep_conv_{k}", weight=0.25)
        t.add_edge("dil", f"dil_conv_{k}", weight=0.25)
    t.add_edge("root", "pool", weight=1.0)
    t.add_edge("pool", "max_pool_3x3", weight=0.5)
    t.add_edge("pool", "avg_pool_3x3", weight=0.5)
    t.add_edge("root", "skip_connect", weight=1.5)
    return OpTree(t, "root")


class DARTSSpace(SearchSpace):
    r"""DARTS cells (as searched by DARTS, NAS-Bench-301, BANANAS, NAS-BOWL).

    Each of the two cell types (normal, reduction) has two inputs (node 0 = the cell two
    back, node 1 = the previous cell) and four intermediate nodes; node i reads two
    distinct nodes among 0…i−1, each through one op of `DARTS_OPS`, and sums them; the
    cell concatenates nodes 2…5. Per cell type there are
    :math:`\prod_{i=2}^{5}\binom{i}{2} \cdot 7^8 ≈ 1.0 \cdot 10^9` genotypes.

    A move changes one edge's op or rewires one edge to another node (never to the other
    input of the same node). Equal networks are equal architectures: swapping a node's two
    edges, or numbering its intermediate nodes in another topological order, keeps the key.

    Args:
        op_tree: Ground metric over the seven ops; `default_darts_tree` if omitted.

    Example:
        >>> space = DARTSSpace()
        >>> a = space.sample(0)
        >>> space.from_string(space.to_string(a)) == a
        True
    """

    name = "darts"
    ops = DARTS_OPS

    def __init__(self, op_tree: OpTree | None = None) -> None:
        if op_tree is not None and not isinstance(op_tree, OpTree):
            raise ValueError(f"op_tree: expected an OpTree or None, got {type(op_tree).__name__}")
        self.op_tree = op_tree or default_darts_tree()
        missing = [op for op in DARTS_OPS if op not in self.op_tree]
        if missing:
            raise InvalidArchitectureError(f"op_tree: lacks DARTS ops {missing}")

    # --- conversions -------------------------------------------------------------------

    def architecture(self, genotype: DARTSGenotype) -> Architecture:
        """The architecture of a `DARTSGenotype`."""
        return darts_architecture(genotype)

    def genotype(self, arch: Architecture) -> DARTSGenotype:
        """The genotype of a cell of this space."""
        self.validate(arch)
        return darts_genotype_of(arch)

    def from_string(self, text: str) -> Architecture:
        """From DARTS' ``Genotype(normal=[...], normal_concat=..., reduce=..., ...)`` text."""
        return darts_architecture(DARTSGenotype.from_string(text))

    def to_string(self, arch: Architecture) -> str:
        return self.genotype(arch).to_string()

    def canonical_string(self, arch: Architecture) -> str:
        """The genotype text of the cell's equivalence-class representative."""
        return self.genotype(arch).canonical().to_string()

    def from_compact(self, compact: object) -> Architecture:
        """From NB-301's compact form: ``(normal, reduce)``, 8 ``(input, op)`` pairs each,
        op an index into `DARTS_OPS` or its name."""
        return darts_architecture(DARTSGenotype.from_compact(compact))

    def to_compact(self, arch: Architecture) -> tuple:
        return self.genotype(arch).to_compact()

    # --- protocol ----------------------------------------------------------------------

    def validate(self, arch: Architecture) -> Architecture:
        if not isinstance(arch, Architecture):
            raise InvalidArchitectureError(
                f"expected an Architecture, got {type(arch).__name__}"
            )
        genotype = darts_genotype_of(arch)
        # The graph must be exactly the two cells (no extra nodes or edges).
        if darts_architecture(genotype).key != arch.key:
            raise InvalidArchitectureError(
                f"{arch!r}: not a DARTS cell graph (extra nodes or edges beside the two cells)"
            )
        return arch

    def sample(self, rng: RandomLike = None) -> Architecture:
        """Inputs of every node uniform among the pairs of earlier nodes, ops uniform."""
        gen = as_generator(rng)
        cells: list[Cell] = []
        for _ in CELL_TYPES:
            edges = []
            for step in range(DARTS_STEPS):
                node = step + 2
                srcs = sorted(int(s) for s in gen.choice(node, size=2, replace=False))
                for s in srcs:
                    edges.append((DARTS_OPS[int(gen.integers(len(DARTS_OPS)))], s))
            cells.append(tuple(edges))
        return darts_architecture(DARTSGenotype(normal=cells[0], reduce=cells[1]))

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        genotype = self.genotype(arch)
        seen = {arch.key}
        out: list[Architecture] = []
        for move in _move_list(genotype):
            cand = _apply(genotype, move)
            if cand.key not in seen:
                seen.add(cand.key)
                out.append(cand)
        return out

    def _step(
        self,
        arch: Architecture,
        rng: np.random.Generator,
        moves: Callable[[Architecture], list[Architecture]] | None = None,
    ) -> Architecture | None:
        # A neighbour list costs 120 graph builds and hashes; one uniform move (redrawn
        # when it gives the same network, which only a rewire into a symmetric position
        # can) costs one. Uniform over moves rather than over distinct neighbours.
        genotype = self.genotype(arch)
        options = _move_list(genotype)
        for _ in range(32):
            cand = _apply(genotype, options[int(rng.integers(len(options)))])
            if cand.key != arch.key:
                return cand
        return super()._step(arch, rng, moves)

    def encoder(self, positions: bool | None = None, ngrams: bool = False) -> DARTSEncoder:  # type: ignore[override]
        """TW features of both cells (`DARTSEncoder`): the op histogram with in/out degrees
        by default (the TW-NAS paper's blocks), or the position-aware variant."""
        if ngrams:
            raise ValueError(
                "ngrams: the DARTS space has no op 2-gram block; use the histogram "
                "(features='tw') or the position-aware variant (features='tw-positions')"
            )
        return DARTSEncoder(self.op_tree, positions=bool(positions))

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name}


_Move = tuple[str, int, tuple[str, int]]


def _move_list(genotype: DARTSGenotype) -> list[_Move]:
    """Every (cell type, edge index, new edge) one move away: another op on an edge, or
    the edge rewired to another earlier node that its node's other edge does not read."""
    out: list[_Move] = []
    for kind in CELL_TYPES:
        cell = genotype.cell(kind)
        for k, (op, src) in enumerate(cell):
            node = 2 + k // 2
            other = cell[k ^ 1][1]
            out += [(kind, k, (o, src)) for o in DARTS_OPS if o != op]
            out += [(kind, k, (op, j)) for j in range(node) if j not in (src, other)]
    return out


def _apply(genotype: DARTSGenotype, move: _Move) -> Architecture:
    kind, k, edge = move
    cell = genotype.cell(kind)
    new = (*cell[:k], edge, *cell[k + 1:])
    if kind == "normal":
        return darts_architecture(DARTSGenotype(normal=new, reduce=genotype.reduce))
    return darts_architecture(DARTSGenotype(normal=genotype.normal, reduce=new))
