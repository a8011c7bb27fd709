"""NAS-Bench-101 cells: (upper-triangular adjacency matrix, op list) ↔ DAG."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import networkx as nx
import numpy as np

from ._architecture import INPUT, OUTPUT, Architecture
from ._errors import InvalidArchitectureError

NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
NB101_MAX_NODES = 7
NB101_MAX_EDGES = 9
#: Op codes of NASLib's NB-101 tables: 0 input, 1 output, 2 maxpool, 3 conv1x1, 4 conv3x3.
NB101_CODES: dict[int, str] = {
    0: INPUT,
    1: OUTPUT,
    2: "maxpool3x3",
    3: "conv1x1-bn-relu",
    4: "conv3x3-bn-relu",
}


def check_matrix(matrix: object, ops: object, *, max_nodes: int, max_edges: int,
                 known_ops: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Validate a cell given as an adjacency matrix and node op list.

    Returns:
        The matrix as an `n x n` int array and the ops as a tuple.

    Raises:
        InvalidArchitectureError: for a non-square, non-binary or not strictly upper
            triangular matrix, a size over the limit, ops that do not start with
            ``input`` and end with ``output``, or an unknown op. The edge budget applies
            to the pruned graph, see `check_edge_budget`.
    """
    try:
        m = np.asarray(matrix)
    except Exception as exc:  # numpy raises several types for ragged input
        raise InvalidArchitectureError(f"matrix: not an array ({exc})") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise InvalidArchitectureError(f"matrix: expected a square 2-D matrix, got shape {m.shape}")
    n = m.shape[0]
    if n < 2 or n > max_nodes:
        raise InvalidArchitectureError(f"matrix: expected 2 to {max_nodes} nodes, got {n}")
    if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
        raise InvalidArchitectureError("matrix: entries must be 0 or 1")
    m = m.astype(int)
    if np.tril(m).any():
        raise InvalidArchitectureError(
            "matrix: must be strictly upper triangular (edges go from lower to higher index)"
        )
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise InvalidArchitectureError(f"ops: expected a list of op names, got {ops!r}")
    ops = tuple(ops)
    bad = [op for op in ops if not isinstance(op, str)]
    if bad:
        raise InvalidArchitectureError(f"ops: every op must be a string, got {bad[0]!r}")
    if len(ops) != n:
        raise InvalidArchitectureError(
            f"ops: expected {n} ops for a {n}x{n} matrix, got {len(ops)}"
        )
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise InvalidArchitectureError("ops: the first op must be 'input' and the last 'output'")
    for op in ops[1:-1]:
        if op not in known_ops:
            raise InvalidArchitectureError(
                f"ops: unknown op {op!r} (expected one of {tuple(known_ops)})"
            )
    return m, ops


def check_edge_budget(arch: Architecture, max_edges: int) -> Architecture:
    """Raise unless the pruned graph has at most ``max_edges`` edges.

    As in NAS-Bench-101, the budget counts live edges: a matrix may hold more edges
    when some lead to dead nodes.
    """
    n = arch.pruned.number_of_edges()
    if n > max_edges:
        raise InvalidArchitectureError(
            f"cell has {n} edges after pruning dead nodes, more than the budget of {max_edges}"
        )
    return arch


def matrix_graph(matrix: np.ndarray, ops: Sequence[str]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from((i, {"op": op}) for i, op in enumerate(ops))
    g.add_edges_from((int(i), int(j)) for i, j in zip(*np.nonzero(matrix)))
    return g


def graph_matrix(arch: Architecture) -> tuple[np.ndarray, tuple[str, ...]]:
    """Matrix and ops of an architecture's graph, nodes in their given order."""
    g = arch.graph
    nodes = list(g.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    m = np.zeros((len(nodes), len(nodes)), dtype=int)
    for u, v in g.edges:
        m[index[u], index[v]] = 1
    return m, tuple(g.nodes[v]["op"] for v in nodes)


def nb101_architecture(matrix: object, ops: object) -> Architecture:
    """`Architecture` of an NB-101 cell; raises `InvalidArchitectureError` when invalid."""
    m, ops = check_matrix(
        matrix, ops, max_nodes=NB101_MAX_NODES, max_edges=NB101_MAX_EDGES, known_ops=NB101_OPS
    )
    return check_edge_budget(Architecture(matrix_graph(m, ops)), NB101_MAX_EDGES)


def decode_nb101_key(key: Sequence[int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Matrix and ops from NASLib's 56-integer key (7x7 row-major + 7 op codes)."""
    try:
        key = tuple(operator.index(c) for c in key)
    except TypeError:
        raise InvalidArchitectureError(
            f"NB-101 key: expected a sequence of 56 integers, got {key!r}"
        ) from None
    if len(key) != 56:
        raise InvalidArchitectureError(f"NB-101 key: expected 56 integers, got {len(key)}")
    bad = [c for c in key[49:] if c not in NB101_CODES]
    if bad:
        raise InvalidArchitectureError(f"NB-101 key: unknown op code {bad[0]!r}")
    ops = tuple(NB101_CODES[c] for c in key[49:])
    bad = [c for c in key[:49] if c not in (0, 1)]
    if bad:
        raise InvalidArchitectureError(f"NB-101 key: matrix entries must be 0 or 1, got {bad[0]!r}")
    return np.array(key[:49], dtype=int).reshape(7, 7), ops
