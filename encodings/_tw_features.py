r"""Tree-Wasserstein feature maps: architectures to fixed-length vectors.

Every block is an embedding under which a tree-Wasserstein (or 1-D Wasserstein)
distance is exactly an L1 distance, so the kernel works on plain tensors:

* ``ops``: the normalised histogram of live ops, embedded on the op tree;
* ``ngrams``: the normalised histogram of (op → op) pairs along edges, on the tree
  root → first op (weight 1) → pair (weight 1/2);
* ``in_degree`` / ``out_degree``: the in- and out-degrees of the nodes as a measure over
  depth positions 0 … D−1 (depth = longest path from the input); on a chain with unit
  spacing :math:`W_1(\mu, \nu) = \sum_{p < D-1} |F_\mu(p) - F_\nu(p)|` with F the CDF;
* ``positions``: a measure over (position, op) on the tree root → position → op tree,
  each of P positions holding mass 1/P, so :math:`TW = \frac1P\sum_p d_T(o_p, o'_p)`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ._architecture import INPUT, OUTPUT, Architecture
from ._errors import InvalidArchitectureError
from ._op_tree import OpTree


def op_histogram_embedding(arch: Architecture, tree: OpTree) -> np.ndarray:
    """Subtree-mass embedding of the normalised op histogram (`tree.dim`).

    An architecture without operation nodes puts its unit mass on the root: all zeros.
    """
    ops = arch.ops
    out = np.zeros(tree.dim)
    if not ops:
        return out
    for op, count in Counter(ops).items():
        out += count * tree.leaf_embedding[_leaf(tree, op)]
    return out / len(ops)


def _leaf(tree: OpTree, op: str) -> int:
    if op not in tree:
        raise InvalidArchitectureError(
            f"op {op!r} is not in the op tree (known ops: {list(tree.leaves)})"
        )
    return tree.leaf_index(op)


def ngram_vocabulary(tree: OpTree) -> tuple[str, ...]:
    return (INPUT, *tree.leaves, OUTPUT)


def ngram_embedding(arch: Architecture, tree: OpTree) -> np.ndarray:
    """Embedding of the normalised 2-gram histogram (`V + V * V`, V = ops + 2)."""
    vocab = ngram_vocabulary(tree)
    index = {op: i for i, op in enumerate(vocab)}
    v = len(vocab)
    out = np.zeros(v + v * v)
    g = arch.pruned
    edges = list(g.edges)
    if not edges:
        return out
    for a, b in edges:
        oa, ob = g.nodes[a]["op"], g.nodes[b]["op"]
        for o in (oa, ob):
            if o not in index:
                _leaf(tree, o)
        ia, ib = index[oa], index[ob]
        out[ia] += 1.0
        out[v + ia * v + ib] += 0.5
    return out / len(edges)


def depths(arch: Architecture) -> dict:
    """Longest-path depth from the input of every live node."""
    g = arch.pruned
    d = {}
    for v in nx.topological_sort(g):
        preds = list(g.predecessors(v))
        d[v] = 1 + max(d[u] for u in preds) if preds else 0
    return d


def degree_embeddings(arch: Architecture, max_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """CDFs (`max_depth - 1` each) of the in- and out-degree measures over depth."""
    g = arch.pruned
    d = depths(arch)
    if max(d.values()) >= max_depth:
        raise InvalidArchitectureError(
            f"architecture has depth {max(d.values())}, beyond max_depth={max_depth} of the "
            "feature map"
        )
    n_edges = g.number_of_edges()
    inm = np.zeros(max_depth)
    outm = np.zeros(max_depth)
    if n_edges == 0:
        # A disconnected cell: both measures are a unit mass at depth 0.
        return np.ones(max_depth - 1), np.ones(max_depth - 1)
    for v in g:
        inm[d[v]] += g.in_degree(v)
        outm[d[v]] += g.out_degree(v)
    return np.cumsum(inm / n_edges)[:-1], np.cumsum(outm / n_edges)[:-1]


def position_embedding(
    slot_ops: Sequence[str | None], tree: OpTree, absent: Iterable[str] = ()
) -> np.ndarray:
    """Embedding of the (position, op) measure (`len(slot_ops) * tree.dim`).

    A slot that is ``None`` or holds an op in ``absent`` (e.g. NB-201's ``none``) keeps
    its mass on its position node, i.e. at the root of that position's op tree.
    """
    absent = set(absent)
    p = len(slot_ops)
    out = np.zeros((p, tree.dim))
    for i, op in enumerate(slot_ops):
        if op is None or op in absent:
            continue
        out[i] = tree.leaf_embedding[_leaf(tree, op)]
    return (out / p).reshape(-1)


def depth_ordered_slots(arch: Architecture, n_slots: int) -> list[str | None]:
    """Live op nodes ordered by (depth, canonical rank), padded with ``None`` to `n_slots`."""
    g = arch.pruned
    d = depths(arch)
    rank = {v: i for i, v in enumerate(arch.canonical_order)}
    nodes = sorted(
        (v for v in g if v not in (arch.input_node, arch.output_node)),
        key=lambda v: (d[v], rank[v]),
    )
    if len(nodes) > n_slots:
        raise InvalidArchitectureError(
            f"architecture has {len(nodes)} op nodes, more than the {n_slots} slots"
        )
    return [g.nodes[v]["op"] for v in nodes] + [None] * (n_slots - len(nodes))


def tw_features(
    arch: Architecture,
    tree: OpTree,
    *,
    max_depth: int,
    ngrams: bool = False,
    degrees: bool = True,
) -> np.ndarray:
    """Concatenated TW blocks of one architecture (see `TWEncoder` for the layout)."""
    parts = [op_histogram_embedding(arch, tree)]
    if ngrams:
        parts.append(ngram_embedding(arch, tree))
    if degrees:
        parts.extend(degree_embeddings(arch, max_depth))
    return np.concatenate(parts)


@dataclass(frozen=True)
class TWEncoder:
    r"""Feature map from architectures to TW blocks, with its block layout.

    Args:
        tree: The op tree.
        max_depth: Number of depth positions (the largest cell's node count suffices).
        ngrams: Add the op 2-gram block.
        degrees: Add the in-degree and out-degree blocks.
        slots: For the position-aware variant, a function from an architecture to its
            per-position ops (``None`` = empty); the histogram and n-gram blocks are then
            replaced by one ``positions`` block.
        n_slots: Number of positions `slots` returns.
        absent: Op names that mean "no op" in a slot.

    Example:
        >>> enc = TWEncoder(tree, max_depth=8)                # doctest: +SKIP
        >>> X = enc.encode(archs)                             # n x enc.dim
        >>> enc.block_sizes                                   # e.g. (5, 7, 7)
    """

    tree: OpTree
    max_depth: int
    ngrams: bool = False
    degrees: bool = True
    slots: Callable[[Architecture], Sequence[str | None]] | None = None
    n_slots: int = 0
    absent: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.max_depth < 2:
            raise ValueError(f"max_depth: expected an integer >= 2, got {self.max_depth!r}")
        if self.slots is not None and self.n_slots < 1:
            raise ValueError("n_slots: must be >= 1 when slots is given")

    @property
    def block_names(self) -> tuple[str, ...]:
        names: list[str] = ["positions"] if self.slots is not None else ["ops"]
        if self.ngrams and self.slots is None:
            names.append("ngrams")
        if self.degrees:
            names += ["in_degree", "out_degree"]
        return tuple(names)

    @property
    def block_sizes(self) -> tuple[int, ...]:
        v = len(ngram_vocabulary(self.tree))
        size = {
            "positions": self.n_slots * self.tree.dim,
            "ops": self.tree.dim,
            "ngrams": v + v * v,
            "in_degree": self.max_depth - 1,
            "out_degree": self.max_depth - 1,
        }
        return tuple(size[n] for n in self.block_names)

    @property
    def dim(self) -> int:
        return sum(self.block_sizes)

    def encode_one(self, arch: Architecture) -> np.ndarray:
        if self.slots is None:
            return tw_features(
                arch, self.tree, max_depth=self.max_depth, ngrams=self.ngrams,
                degrees=self.degrees,
            )
        parts = [position_embedding(self.slots(arch), self.tree, self.absent)]
        if self.degrees:
            parts.extend(degree_embeddings(arch, self.max_depth))
        return np.concatenate(parts)

    def encode(self, archs: Iterable[Architecture]) -> np.ndarray:
        """`n x dim` float64 matrix, one row per architecture."""
        rows = [self.encode_one(a) for a in archs]
        if not rows:
            return np.zeros((0, self.dim))
        return np.stack(rows)
