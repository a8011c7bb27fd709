"""Cell spaces given by an adjacency matrix: a user's own, and NAS-Bench-101."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bo_nas._random import RandomLike, as_generator
from bo_nas.encodings import (
    NB101_OPS,
    Architecture,
    InvalidArchitectureError,
    OpTree,
    TWEncoder,
)
from bo_nas.encodings._architecture import INPUT, OUTPUT
from bo_nas.encodings._nb101 import check_edge_budget, check_matrix, graph_matrix, matrix_graph
from bo_nas.encodings._tw_features import depth_ordered_slots

from ._base import SearchSpace


def flat_tree(ops: Sequence[str]) -> OpTree:
    """Every op 2 apart: the op tree to use when nothing is known about the ops."""
    import networkx as nx

    # The root must not share a name with an op (an op called "root" made a self-loop).
    root = "root"
    while root in ops:
        root = "_" + root
    t = nx.DiGraph()
    for op in ops:
        t.add_edge(root, op, weight=1.0)
    return OpTree(t, root)


class CellSpace(SearchSpace):
    r"""A cell of ``n_nodes`` nodes (input, ``n_nodes - 2`` op nodes, output) whose edges
    go from lower to higher node index, with at most ``max_edges`` live edges (edges
    into or out of dead nodes are pruned before counting, as in NAS-Bench-101).

    Args:
        ops: The op labels a node may carry.
        n_nodes: Nodes per cell, input and output included (≥ 2).
        max_edges: Edge budget.
        op_tree: TW ground metric over ``ops``; a flat tree (all ops equally far) if
            omitted.
        name: Name recorded in configs.

    Example:
        >>> space = CellSpace(["conv3x3", "conv5x5", "maxpool"], n_nodes=5, max_edges=7,
        ...     op_tree=OpTree.from_groups({"conv": ["conv3x3", "conv5x5"], "pool": ["maxpool"]}))
        >>> arch = space.sample(0)
    """

    name = "cell"

    def __init__(
        self,
        ops: Sequence[str],
        n_nodes: int,
        max_edges: int,
        op_tree: OpTree | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(ops, str) or not isinstance(ops, Sequence) or not ops:
            raise ValueError(f"ops: expected a non-empty list of op names, got {ops!r}")
        if any(not isinstance(o, str) or not o for o in ops):
            raise ValueError(f"ops: every op must be a non-empty string, got {list(ops)!r}")
        if len(set(ops)) != len(ops):
            raise ValueError(f"ops: duplicate op names in {list(ops)!r}")
        if INPUT in ops or OUTPUT in ops:
            raise ValueError("ops: 'input' and 'output' are reserved node labels")
        if not isinstance(n_nodes, int) or isinstance(n_nodes, bool) or n_nodes < 2:
            raise ValueError(f"n_nodes: expected an integer >= 2, got {n_nodes!r}")
        if n_nodes > 32:
            raise ValueError(f"n_nodes: at most 32 nodes are supported, got {n_nodes}")
        if not isinstance(max_edges, int) or isinstance(max_edges, bool) or max_edges < 1:
            raise ValueError(f"max_edges: expected an integer >= 1, got {max_edges!r}")
        if op_tree is not None and not isinstance(op_tree, OpTree):
            raise ValueError(f"op_tree: expected an OpTree or None, got {type(op_tree).__name__}")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name: expected a string or None, got {name!r}")
        self.ops = tuple(ops)
        self.n_nodes = n_nodes
        self.max_edges = max_edges
        self.op_tree = op_tree or flat_tree(self.ops)
        missing = [op for op in self.ops if op not in self.op_tree]
        if missing:
            raise ValueError(f"op_tree: lacks leaves for ops {missing}")
        if name is not None:
            self.name = name

    # --- conversions -------------------------------------------------------------------

    def from_matrix(self, matrix: object, ops: object) -> Architecture:
        """Architecture of an upper-triangular 0/1 matrix and its node ops."""
        m, ops_t = check_matrix(
            matrix, ops, max_nodes=self.n_nodes, max_edges=self.max_edges, known_ops=self.ops
        )
        return check_edge_budget(Architecture(matrix_graph(m, ops_t)), self.max_edges)

    def to_matrix(self, arch: Architecture) -> tuple[np.ndarray, tuple[str, ...]]:
        """Matrix and ops of a cell of this space, nodes in their given order."""
        self.validate(arch)
        return graph_matrix(arch)

    # --- protocol ----------------------------------------------------------------------

    def validate(self, arch: Architecture) -> Architecture:
        g = arch.graph
        if list(g.nodes) != list(range(g.number_of_nodes())):
            raise InvalidArchitectureError(
                f"{arch!r}: nodes must be 0..n-1 in order for a {self.name} cell"
            )
        m, ops = graph_matrix(arch)
        check_matrix(m, ops, max_nodes=self.n_nodes, max_edges=self.max_edges, known_ops=self.ops)
        return check_edge_budget(arch, self.max_edges)

    def _try(self, m: np.ndarray, ops: Sequence[str]) -> Architecture | None:
        try:
            return check_edge_budget(Architecture(matrix_graph(m, ops)), self.max_edges)
        except InvalidArchitectureError:
            return None

    def sample(self, rng: RandomLike = None) -> Architecture:
        """A uniformly random matrix and ops, redrawn until valid (as NAS-Bench-101 does)."""
        gen = as_generator(rng)
        n = self.n_nodes
        for _ in range(10_000):
            m = np.triu(gen.integers(0, 2, size=(n, n)), k=1)
            ops = [INPUT, *(self.ops[i] for i in gen.integers(len(self.ops), size=n - 2)), OUTPUT]
            arch = self._try(m, ops)
            if arch is not None:
                return arch
        # Reached only when max_edges is far below what random matrices have: a chain
        # input → … → output then fits whenever max_edges >= n - 1.
        m = np.eye(n, k=1, dtype=int)
        if n - 1 > self.max_edges:
            m = np.zeros((n, n), dtype=int)
            m[0, n - 1] = 1
        return Architecture(matrix_graph(m, ops))

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        m, ops = self.to_matrix(arch)
        n = m.shape[0]
        seen = {arch.key}
        out: list[Architecture] = []

        def add(candidate: Architecture | None) -> None:
            if candidate is not None and candidate.key not in seen:
                seen.add(candidate.key)
                out.append(candidate)

        for i in range(n):
            for j in range(i + 1, n):
                m2 = m.copy()
                m2[i, j] = 1 - m2[i, j]
                add(self._try(m2, ops))
        for k in range(1, n - 1):
            for op in self.ops:
                if op != ops[k]:
                    add(self._try(m, [*ops[:k], op, *ops[k + 1 :]]))
        return out

    def encoder(self, positions: bool | None = None, ngrams: bool = False) -> TWEncoder:
        if positions:
            n_slots = max(self.n_nodes - 2, 1)
            return TWEncoder(
                self.op_tree,
                max_depth=self.n_nodes,
                slots=lambda a: depth_ordered_slots(a, n_slots),
                n_slots=n_slots,
            )
        return TWEncoder(self.op_tree, max_depth=self.n_nodes, ngrams=ngrams)

    def to_config(self) -> dict[str, Any]:
        tree = self.op_tree.tree
        return {
            "name": "cell",
            "label": self.name,
            "ops": list(self.ops),
            "n_nodes": self.n_nodes,
            "max_edges": self.max_edges,
            "op_tree": [[str(u), str(v), float(w)] for u, v, w in tree.edges(data="weight")],
        }

    def __repr__(self) -> str:
        return (
            f"CellSpace(ops={list(self.ops)}, n_nodes={self.n_nodes}, "
            f"max_edges={self.max_edges})"
        )


def default_nb101_tree() -> OpTree:
    return OpTree.from_groups(
        {"conv": ["conv3x3-bn-relu", "conv1x1-bn-relu"], "pool": ["maxpool3x3"]}
    )


class NB101Space(CellSpace):
    """NAS-Bench-101 cells: ≤ 7 nodes, ≤ 9 edges, ops conv3x3, conv1x1, maxpool3x3."""

    name = "nb101"

    def __init__(self, op_tree: OpTree | None = None) -> None:
        super().__init__(NB101_OPS, n_nodes=7, max_edges=9, op_tree=op_tree or default_nb101_tree())

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return "NB101Space()"
