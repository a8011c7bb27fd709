r"""Path encoding: which input → output op sequences a cell contains (BANANAS).

A cell's pruned DAG has a set of paths from the input node to the output node; each
path reads as the sequence of op labels of the nodes it crosses (input and output
excluded). With :math:`K` ops and paths of at most :math:`L` op nodes, the feature
vector has one entry per possible sequence,

.. math::

    d = \sum_{\ell=0}^{L} K^{\ell},

and entry :math:`s` is 1 when some input → output path reads :math:`s` (or, with
``counts=True``, the number of such paths). The empty sequence (index 0) is a direct
input → output edge. Paths are label sequences, so isomorphic cells encode equally and
dead nodes (pruned) do not count.

Reference: White, Neiswanger, Savani. BANANAS: Bayesian optimization with neural
architectures for neural architecture search. AAAI 2021.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ._architecture import Architecture
from ._errors import InvalidArchitectureError

#: Refuse encodings wider than this: the caller should lower ``max_length``.
MAX_PATH_FEATURES = 1_000_000


def op_paths(arch: Architecture) -> Iterator[tuple[str, ...]]:
    """Every input → output path of the pruned cell, as its op labels (with repeats).

    Yields nothing for a disconnected cell.
    """
    g = arch.pruned
    src, dst = arch.input_node, arch.output_node
    if not arch.is_connected:
        return
    # Iterative DFS: cells are small, and the number of paths (not nodes) is the cost.
    stack: list[tuple[object, tuple[str, ...]]] = [(src, ())]
    while stack:
        v, prefix = stack.pop()
        for w in g.successors(v):
            if w == dst:
                yield prefix
            else:
                stack.append((w, (*prefix, g.nodes[w]["op"])))


@dataclass(frozen=True)
class PathEncoder:
    r"""One-hot (or count) vector over input → output op paths.

    Args:
        ops: The op labels a cell may use (input/output excluded); their order fixes
            the feature layout.
        max_length: Longest path, in op nodes, that gets a feature; longer paths are
            dropped (BANANAS' truncation for large spaces).
        counts: Count paths per op sequence instead of a 0/1 indicator.
        skip_ops: Labels that may appear in a graph but carry no op (NB-201's ``none``);
            a path through one is not a path of the network.

    Shapes:
        `encode` returns `n x dim`, float64.

    Example:
        >>> enc = PathEncoder(("conv", "pool"), max_length=2)
        >>> enc.dim  # 1 + 2 + 4
        7
    """

    ops: tuple[str, ...]
    max_length: int
    counts: bool = False
    skip_ops: frozenset[str] = frozenset()
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if not ops or len(set(ops)) != len(ops):
            raise ValueError(f"ops: expected distinct op names, got {list(ops)!r}")
        if not isinstance(self.max_length, int) or self.max_length < 0:
            raise ValueError(f"max_length: expected an integer >= 0, got {self.max_length!r}")
        k = len(ops)
        offsets = [0]
        for length in range(self.max_length + 1):
            offsets.append(offsets[-1] + k**length)
        if offsets[-1] > MAX_PATH_FEATURES:
            raise ValueError(
                f"max_length: {k} ops and paths of up to {self.max_length} ops give "
                f"{offsets[-1]} features (limit {MAX_PATH_FEATURES}); lower max_length"
            )
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "skip_ops", frozenset(self.skip_ops))
        object.__setattr__(self, "_index", {op: i for i, op in enumerate(ops)})
        object.__setattr__(self, "_offsets", tuple(offsets))

    @property
    def dim(self) -> int:
        """Number of features, :math:`\\sum_{\\ell \\le L} K^\\ell`."""
        return self._offsets[-1]

    def path_index(self, path: Sequence[str]) -> int:
        """Column of an op sequence: offset of its length plus its base-K digits."""
        if len(path) > self.max_length:
            raise ValueError(f"path of {len(path)} ops exceeds max_length {self.max_length}")
        i = 0
        for op in path:
            try:
                i = i * len(self.ops) + self._index[op]
            except KeyError:
                raise InvalidArchitectureError(
                    f"op {op!r} not among the encoder's ops {self.ops}"
                ) from None
        return self._offsets[len(path)] + i

    def encode_one(self, arch: Architecture) -> np.ndarray:
        """Feature vector of one cell, shape `dim`."""
        out = np.zeros(self.dim)
        for path in op_paths(arch):
            if self.skip_ops and any(op in self.skip_ops for op in path):
                continue
            if len(path) > self.max_length:
                continue
            j = self.path_index(path)
            out[j] = out[j] + 1.0 if self.counts else 1.0
        return out

    def encode(self, archs: Iterable[Architecture]) -> np.ndarray:
        """Feature matrix, shape `n x dim`."""
        rows = [self.encode_one(a) for a in archs]
        return np.stack(rows) if rows else np.zeros((0, self.dim))


def count_paths(arch: Architecture) -> int:
    """Number of input → output paths of the pruned cell (0 when disconnected)."""
    if not arch.is_connected:
        return 0
    g = arch.pruned
    ways = {arch.input_node: 1}
    for v in nx.topological_sort(g):
        if v != arch.input_node:
            ways[v] = sum(ways.get(u, 0) for u in g.predecessors(v))
    return ways[arch.output_node]
