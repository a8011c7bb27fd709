"""`OpTree`: the tree over operation types whose path metric is TW's ground cost."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from functools import cached_property

import networkx as nx
import numpy as np

from ._errors import BoNasError


class InvalidOpTreeError(BoNasError, ValueError):
    """The op tree is not a rooted tree with positive finite edge weights."""


def _positive_finite(w: object) -> bool:
    if not isinstance(w, (int, float)) or isinstance(w, bool):
        return False
    try:
        f = float(w)
    except OverflowError:  # an integer beyond float range
        return False
    return math.isfinite(f) and f > 0


class OpTree:
    r"""A rooted tree with weighted edges whose leaves are operation names.

    The tree distance between two ops is the weighted path length between their leaves.
    For a probability measure :math:`\mu` on the nodes, the subtree-mass embedding

    .. math::
        \phi(\mu)_v = w_v \, \mu(\Gamma(v)) \quad \text{for every non-root node } v,

    with :math:`w_v` the weight of the edge into :math:`v` and :math:`\Gamma(v)` the
    subtree under :math:`v`, turns the tree-Wasserstein distance into an L1 distance:
    :math:`TW(\mu, \nu) = \lVert \phi(\mu) - \phi(\nu) \rVert_1`, which equals exact
    optimal transport with the tree metric as ground cost.

    Args:
        tree: A ``networkx.DiGraph`` arborescence, edges parent → child, each with a
            positive ``weight`` attribute.
        root: Its root; found automatically when omitted.

    Raises:
        InvalidOpTreeError: if ``tree`` is not an arborescence or a weight is not a
            positive finite number.
    """

    def __init__(self, tree: nx.DiGraph, root: Hashable | None = None) -> None:
        if not isinstance(tree, nx.DiGraph) or tree.number_of_nodes() < 2:
            raise InvalidOpTreeError("op tree: expected a networkx.DiGraph with at least 2 nodes")
        if not nx.is_arborescence(tree):
            raise InvalidOpTreeError(
                "op tree: expected a rooted tree (every node but the root has exactly one "
                "parent, no cycles)"
            )
        roots = [v for v in tree if tree.in_degree(v) == 0]
        if root is not None and roots != [root]:
            raise InvalidOpTreeError(f"op tree: {root!r} is not the root (root is {roots[0]!r})")
        for u, v, w in tree.edges(data="weight"):
            if not _positive_finite(w):
                raise InvalidOpTreeError(
                    f"op tree: edge {u!r} -> {v!r} needs a positive finite 'weight', got {w!r}"
                )
        leaf_names = [str(v) for v in tree if tree.out_degree(v) == 0]
        clashes = sorted({name for name in leaf_names if leaf_names.count(name) > 1})
        if clashes:
            raise InvalidOpTreeError(f"op tree: several leaves are named {clashes}")
        self._tree = tree.copy()
        nx.freeze(self._tree)
        self.root: Hashable = roots[0]
        order = list(nx.topological_sort(self._tree))
        self.nodes: tuple[Hashable, ...] = tuple(order)
        self.leaves: tuple[str, ...] = tuple(
            str(v) for v in order if self._tree.out_degree(v) == 0
        )
        self._node_index = {v: i for i, v in enumerate(order)}
        self._leaf_index = {op: i for i, op in enumerate(self.leaves)}

    @classmethod
    def from_groups(
        cls,
        groups: Mapping[str, Sequence[str]],
        *,
        group_weight: float = 1.0,
        leaf_weight: float = 0.5,
    ) -> OpTree:
        """Two-level tree: root → group → op.

        Ops in one group are ``2 * leaf_weight`` apart; ops in different groups
        ``2 * (group_weight + leaf_weight)``.

        Example:
            >>> t = OpTree.from_groups({"conv": ["conv3x3", "conv1x1"], "pool": ["maxpool"]})
            >>> t.distance("conv3x3", "conv1x1"), t.distance("conv3x3", "maxpool")
            (1.0, 3.0)
        """
        if not isinstance(groups, Mapping) or not groups:
            raise InvalidOpTreeError(
                f"op tree: 'groups' must be a non-empty mapping of group name to ops, "
                f"got {groups!r}"
            )
        for label, w in (("group_weight", group_weight), ("leaf_weight", leaf_weight)):
            if not _positive_finite(w):
                raise InvalidOpTreeError(
                    f"op tree: {label} must be a positive finite number, got {w!r}"
                )
        t = nx.DiGraph()
        seen: set[str] = set()
        for name, ops in groups.items():
            if not isinstance(name, str):
                raise InvalidOpTreeError(f"op tree: group name {name!r} is not a string")
            if isinstance(ops, str) or not isinstance(ops, Sequence):
                raise InvalidOpTreeError(
                    f"op tree: group {name!r} needs a list of ops, got {ops!r}"
                )
            if not ops:
                raise InvalidOpTreeError(f"op tree: group {name!r} has no ops")
            bad = [op for op in ops if not isinstance(op, str) or not op]
            if bad:
                raise InvalidOpTreeError(
                    f"op tree: group {name!r} has op {bad[0]!r}, expected a non-empty string"
                )
            gnode = ("group", name)
            t.add_edge("root", gnode, weight=float(group_weight))
            for op in ops:
                if op in seen:
                    raise InvalidOpTreeError(f"op tree: op {op!r} appears in two groups")
                seen.add(op)
                t.add_edge(gnode, op, weight=float(leaf_weight))
        return cls(t, "root")

    @property
    def tree(self) -> nx.DiGraph:
        return self._tree

    def __contains__(self, op: object) -> bool:
        return op in self._leaf_index

    def leaf_index(self, op: str) -> int:
        try:
            return self._leaf_index[op]
        except KeyError:
            raise InvalidOpTreeError(
                f"op {op!r} is not a leaf of the op tree (leaves: {list(self.leaves)})"
            ) from None

    @property
    def dim(self) -> int:
        """Length of the embedding: one entry per non-root node."""
        return len(self.nodes) - 1

    @cached_property
    def node_embedding(self) -> np.ndarray:
        """`n_nodes x dim` matrix: row of node u is the embedding of a unit mass at u."""
        m = np.zeros((len(self.nodes), self.dim))
        cols = {v: j for j, v in enumerate(self.nodes[1:])}
        for u in self.nodes:
            for a in [u, *nx.ancestors(self._tree, u)]:
                if a != self.root:
                    parent = next(iter(self._tree.predecessors(a)))
                    m[self._node_index[u], cols[a]] = self._tree.edges[parent, a]["weight"]
        m.setflags(write=False)
        return m

    @cached_property
    def leaf_embedding(self) -> np.ndarray:
        """`n_leaves x dim` rows of `node_embedding` for the leaves, in `leaves` order."""
        rows = [self._node_index[v] for v in self.nodes if self._tree.out_degree(v) == 0]
        m = self.node_embedding[rows]
        m.setflags(write=False)
        return m

    @cached_property
    def node_metric(self) -> np.ndarray:
        """`n_nodes x n_nodes` shortest-path distances in the (undirected) tree."""
        und = self._tree.to_undirected()
        d = dict(nx.all_pairs_dijkstra_path_length(und, weight="weight"))
        return np.array([[d[u][v] for v in self.nodes] for u in self.nodes], dtype=float)

    def embed(self, mass: np.ndarray) -> np.ndarray:
        """Embedding `phi` of a measure given on all nodes (`n_nodes`, `nodes` order)."""
        return np.asarray(mass, dtype=float) @ self.node_embedding

    def distance(self, a: str, b: str) -> float:
        """Tree path length between two ops."""
        ia, ib = self.leaf_index(a), self.leaf_index(b)
        return float(np.abs(self.leaf_embedding[ia] - self.leaf_embedding[ib]).sum())

    def depth(self, op: str) -> float:
        """Weighted distance from the root to an op."""
        return float(self.leaf_embedding[self.leaf_index(op)].sum())

    def __repr__(self) -> str:
        return f"OpTree(leaves={list(self.leaves)})"
