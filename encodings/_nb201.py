"""NAS-Bench-201 cells: the official string ↔ a node-labelled DAG.

An NB-201 cell has 4 nodes; each of its 6 edges j → i (j < i) carries one op. In the
string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` group i (1-based) lists the edges into
node i. We turn every edge op into a node: the op node of edge j → i reads the sum of
the op nodes entering j (or the cell input when j = 0) and feeds every op node leaving
i (or the output when i = 3). Executing that DAG with "sum at merges" is exactly the
NB-201 cell. ``none`` edges become isolated ``none`` nodes that pruning removes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import networkx as nx

from ._architecture import INPUT, OUTPUT, Architecture
from ._errors import InvalidArchitectureError

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: Edges (target i, source j) in string order.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

# ASCII digits only and a full match: ``\d`` and ``$`` would let Unicode digits and a
# trailing newline through, and an unbounded ``int()`` fails on thousands of digits.
_TOKEN = re.compile(r"([A-Za-z0-9_]+)~([0-9]+)")


def parse_nb201(text: str) -> tuple[str, ...]:
    """The 6 edge ops of an NB-201 string, in `NB201_EDGES` order.

    Raises:
        InvalidArchitectureError: naming what is wrong with the string.
    """
    if not isinstance(text, str):
        raise InvalidArchitectureError(
            f"NB-201 string: expected str, got {type(text).__name__}"
        )
    s = text.strip()
    groups = s.split("+")
    if len(groups) != 3:
        raise InvalidArchitectureError(
            f"NB-201 string {text!r}: expected 3 '+'-separated node groups, got {len(groups)}"
        )
    ops: list[str] = []
    for i, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise InvalidArchitectureError(
                f"NB-201 string {text!r}: group {i} must be enclosed in '|', got {group!r}"
            )
        tokens = group[1:-1].split("|")
        if len(tokens) != i:
            raise InvalidArchitectureError(
                f"NB-201 string {text!r}: node {i} needs {i} incoming edge(s), "
                f"got {len(tokens)}"
            )
        for j, token in enumerate(tokens):
            m = _TOKEN.fullmatch(token)
            if m is None:
                raise InvalidArchitectureError(
                    f"NB-201 string {text!r}: token {token!r} is not of the form 'op~index'"
                )
            op, src = m.group(1), m.group(2)
            if src != str(j):
                raise InvalidArchitectureError(
                    f"NB-201 string {text!r}: edge {token!r} into node {i} should come "
                    f"from node {j}"
                )
            if op not in NB201_OPS:
                raise InvalidArchitectureError(
                    f"NB-201 string {text!r}: unknown op {op!r} (expected one of {NB201_OPS})"
                )
            ops.append(op)
    # Group order (1←0), (2←0, 2←1), (3←0, 3←1, 3←2) is NB201_EDGES order already.
    return tuple(ops)


def _check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    try:
        ops = tuple(ops)
    except TypeError:
        raise InvalidArchitectureError(
            f"NB-201 cell: expected a string or 6 edge ops, got {type(ops).__name__}"
        ) from None
    if len(ops) != len(NB201_EDGES):
        raise InvalidArchitectureError(f"NB-201 cell: expected 6 edge ops, got {len(ops)}")
    for op in ops:
        if not isinstance(op, str) or op not in NB201_OPS:
            raise InvalidArchitectureError(
                f"NB-201 cell: unknown op {op!r} (expected one of {NB201_OPS})"
            )
    return ops


def format_nb201(ops: Sequence[str]) -> str:
    """Official string of 6 edge ops given in `NB201_EDGES` order."""
    ops = _check_ops(ops)
    it = iter(ops)
    groups = ["|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in (1, 2, 3)]
    return "+".join(groups)


def nb201_graph(ops: Sequence[str]) -> nx.DiGraph:
    """Node-labelled DAG: node 0 input, nodes 1…6 the edge ops, node 7 output."""
    ops = _check_ops(ops)
    g = nx.DiGraph()
    g.add_node(0, op=INPUT)
    for k, op in enumerate(ops, start=1):
        g.add_node(k, op=op)
    g.add_node(7, op=OUTPUT)
    live = [k for k, op in enumerate(ops, start=1) if op != "none"]
    for k in live:
        tgt, src = NB201_EDGES[k - 1]
        if src == 0:
            g.add_edge(0, k)
        else:
            for k2 in live:
                if NB201_EDGES[k2 - 1][0] == src:
                    g.add_edge(k2, k)
        if tgt == 3:
            g.add_edge(k, 7)
    return g


def nb201_architecture(text_or_ops: str | Sequence[str]) -> Architecture:
    """`Architecture` of an NB-201 string (or 6 ops), with the string in ``meta``.

    Architectures are immutable, so one object per cell is shared: searches build the
    same cells over and over (neighbours, mutations, pools), and the canonical hash is
    then computed once per cell rather than once per construction.
    """
    ops = parse_nb201(text_or_ops) if isinstance(text_or_ops, str) else _check_ops(text_or_ops)
    return _cached_cell(ops)


@functools.lru_cache(maxsize=5**6)
def _cached_cell(ops: tuple[str, ...]) -> Architecture:
    arch = Architecture(nb201_graph(ops), {"string": format_nb201(ops)}, allow_disconnected=True)
    # Only this constructor sets the attribute, so `nb201_ops_of` may trust it.
    object.__setattr__(arch, "_nb201_ops", ops)
    return arch


def nb201_ops_of(arch: Architecture) -> tuple[str, ...]:
    """The 6 edge ops of an architecture built by `nb201_architecture`."""
    known = arch.__dict__.get("_nb201_ops")
    if known is not None:
        return known
    g = arch.graph
    # A set comparison: node names of other spaces need not be mutually orderable.
    if (g.number_of_nodes() != 8 or set(g.nodes) != set(range(8))
            or g.nodes[0]["op"] != INPUT or g.nodes[7]["op"] != OUTPUT):
        raise InvalidArchitectureError(
            f"{arch!r} is not an NB-201 cell graph (expected nodes 0…7: input, 6 edge ops, "
            "output)"
        )
    ops = tuple(g.nodes[k]["op"] for k in range(1, 7))
    if nx.utils.graphs_equal(nb201_graph(ops), g) is False:
        raise InvalidArchitectureError(f"{arch!r}: edges do not match an NB-201 cell")
    return ops


def nb201_canonical_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """Representative of an NB-201 cell's equivalence class, as 6 edge ops.

    Dead edges (not on an input → output path) become ``none``; when edge 2 ← 1 is
    ``none`` the intermediate nodes 1 and 2 are interchangeable, and the
    lexicographically smaller (by `NB201_OPS` index) of the two orders is kept.
    Equal representatives ⇔ equal `Architecture` keys.
    """
    ops = list(_check_ops(ops))
    reach_from_in = {0}
    for (i, j), op in zip(NB201_EDGES, ops):
        if op != "none" and j in reach_from_in:
            reach_from_in.add(i)
    reach_out = {3}
    for (i, j), op in reversed(list(zip(NB201_EDGES, ops))):
        if op != "none" and i in reach_out:
            reach_out.add(j)
    ops = [
        op if (j in reach_from_in and i in reach_out) else "none"
        for (i, j), op in zip(NB201_EDGES, ops)
    ]
    if ops[2] == "none":
        swapped = [ops[1], ops[0], "none", ops[3], ops[5], ops[4]]
        idx = NB201_OPS.index
        if [idx(o) for o in swapped] < [idx(o) for o in ops]:
            ops = swapped
    return tuple(ops)
