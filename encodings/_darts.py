r"""DARTS cells: the `Genotype` text, NB-301's compact form and a node-labelled DAG.

A DARTS cell has two inputs (node 0 = the output of the cell two back, node 1 = the
previous cell) and four intermediate nodes 2…5. Intermediate node i reads two *distinct*
earlier nodes j < i, each through one op, and sums them; the cell's output concatenates
nodes 2…5. A genotype lists, per cell type (normal, reduction), eight ``(op, input)``
pairs: pairs 2(i−2) and 2(i−2)+1 are the two edges into node i.

As a graph (one `Architecture` per genotype, both cell types in it) every edge op becomes
a node, as for NB-201: ``input`` → the cell-input nodes of both cells (``normal_c0``,
``normal_c1``, ``reduce_c0``, ``reduce_c1``) → op nodes → ``add`` nodes → the cell's
``normal_concat`` / ``reduce_concat`` node → ``output``. Distinct anchor labels keep the
two cell types and the two inputs apart; everything else is symmetric, so swapping the
two edges of a node, or renumbering intermediate nodes in another topological order, gives
an isomorphic graph: the same `Architecture.key`, as it is the same network.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ._architecture import INPUT, OUTPUT, Architecture
from ._errors import InvalidArchitectureError

#: The DARTS / NAS-Bench-301 ops without ``none``, in NB-301's (NASLib's) index order.
DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Intermediate nodes per cell.
DARTS_STEPS = 4
#: The cell types of a genotype, in order.
CELL_TYPES: tuple[str, str] = ("normal", "reduce")

_CONCAT = tuple(range(2, 2 + DARTS_STEPS))
Edge = tuple[str, int]
Cell = tuple[Edge, ...]


def check_cell(edges: object, kind: str = "normal", ops: Sequence[str] = DARTS_OPS) -> Cell:
    """The cell's 8 ``(op, input)`` pairs as a tuple, or `InvalidArchitectureError`.

    Rules: 8 pairs; the two edges into node i read distinct nodes among 0…i−1; ops known.
    """
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
        raise InvalidArchitectureError(
            f"{kind} cell: expected a list of 8 (op, input) pairs, got {edges!r}"
        )
    cell = []
    for k, pair in enumerate(edges):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InvalidArchitectureError(
                f"{kind} cell: edge {k} must be an (op, input) pair, got {pair!r}"
            )
        op, src = pair
        if not isinstance(op, str) or op not in ops:
            raise InvalidArchitectureError(
                f"{kind} cell: edge {k} has unknown op {op!r} (expected one of {tuple(ops)})"
            )
        if not isinstance(src, int) or isinstance(src, bool):
            raise InvalidArchitectureError(
                f"{kind} cell: edge {k} input must be an integer node index, got {src!r}"
            )
        cell.append((op, src))
    if len(cell) != 2 * DARTS_STEPS:
        raise InvalidArchitectureError(
            f"{kind} cell: expected {2 * DARTS_STEPS} (op, input) pairs, got {len(cell)}"
        )
    for step in range(DARTS_STEPS):
        node = step + 2
        a, b = cell[2 * step][1], cell[2 * step + 1][1]
        for src in (a, b):
            if src == node:
                raise InvalidArchitectureError(f"{kind} cell: node {node} reads itself")
            if src > node:
                raise InvalidArchitectureError(
                    f"{kind} cell: node {node} reads the later node {src}"
                )
            if src < 0:
                raise InvalidArchitectureError(
                    f"{kind} cell: node {node} reads node {src}, expected 0..{node - 1}"
                )
        if a == b:
            raise InvalidArchitectureError(
                f"{kind} cell: node {node} reads node {a} twice (its two inputs must differ)"
            )
    return tuple(cell)


def _check_concat(concat: object, kind: str) -> tuple[int, ...]:
    try:
        values = tuple(concat)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArchitectureError(
            f"{kind}_concat: expected a list of node indices, got {concat!r}"
        ) from None
    if values != _CONCAT:
        raise InvalidArchitectureError(
            f"{kind}_concat: DARTS cells concatenate nodes {list(_CONCAT)}, got {list(values)!r}"
        )
    return values


@dataclass(frozen=True)
class DARTSGenotype:
    """A DARTS genotype: the normal and the reduction cell, 8 ``(op, input)`` pairs each.

    Example:
        >>> g = DARTSGenotype.from_string(
        ...     "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        ...     "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
        ...     "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
        ...     "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
        ...     "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
        ...     "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
        ...     "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
        >>> g.normal[7]
        ('dil_conv_3x3', 2)
    """

    normal: Cell
    reduce: Cell
    normal_concat: tuple[int, ...] = _CONCAT
    reduce_concat: tuple[int, ...] = _CONCAT

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", check_cell(self.normal, "normal"))
        object.__setattr__(self, "reduce", check_cell(self.reduce, "reduce"))
        object.__setattr__(self, "normal_concat", _check_concat(self.normal_concat, "normal"))
        object.__setattr__(self, "reduce_concat", _check_concat(self.reduce_concat, "reduce"))

    def cell(self, kind: str) -> Cell:
        """The ``"normal"`` or ``"reduce"`` cell."""
        if kind not in CELL_TYPES:
            raise ValueError(f"kind: expected 'normal' or 'reduce', got {kind!r}")
        return self.normal if kind == "normal" else self.reduce

    # --- the DARTS text -----------------------------------------------------------------

    def to_string(self) -> str:
        """The ``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=..., ...)`` text."""

        def cell(c: Cell) -> str:
            return "[" + ", ".join(f"({op!r}, {src})" for op, src in c) + "]"

        return (
            f"Genotype(normal={cell(self.normal)}, normal_concat={list(self.normal_concat)}, "
            f"reduce={cell(self.reduce)}, reduce_concat={list(self.reduce_concat)})"
        )

    @classmethod
    def from_string(cls, text: str) -> DARTSGenotype:
        """Parse DARTS' ``Genotype(...)`` text (lists or ``range(2, 6)`` for the concats).

        Only literals are read (no code is evaluated).

        Raises:
            InvalidArchitectureError: naming what is wrong with the text.
        """
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"DARTS genotype: expected str, got {type(text).__name__}"
            )
        try:
            node = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise InvalidArchitectureError(
                f"DARTS genotype {text[:80]!r}: not a Genotype(...) expression ({exc})"
            ) from None
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "Genotype"):
            raise InvalidArchitectureError(
                f"DARTS genotype {text[:80]!r}: expected 'Genotype(normal=..., "
                "normal_concat=..., reduce=..., reduce_concat=...)'"
            )
        names = ("normal", "normal_concat", "reduce", "reduce_concat")
        if len(node.args) > len(names):
            raise InvalidArchitectureError(
                f"DARTS genotype: {len(node.args)} positional fields, at most 4"
            )
        fields: dict[str, Any] = {}
        for name, arg in zip(names, node.args):
            fields[name] = _literal(arg, name)
        for kw in node.keywords:
            if kw.arg not in names:
                raise InvalidArchitectureError(
                    f"DARTS genotype: unknown field {kw.arg!r} (expected {', '.join(names)})"
                )
            if kw.arg in fields:
                raise InvalidArchitectureError(f"DARTS genotype: field {kw.arg!r} given twice")
            fields[kw.arg] = _literal(kw.value, kw.arg)
        missing = [n for n in ("normal", "reduce") if n not in fields]
        if missing:
            raise InvalidArchitectureError(f"DARTS genotype: missing field {missing[0]!r}")
        return cls(**fields)

    # --- NB-301's compact form ------------------------------------------------------------

    def to_compact(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """NB-301 / NASLib compact form: per cell 8 ``(input, op index)`` pairs, op index
        into `DARTS_OPS`."""
        return tuple(  # type: ignore[return-value]
            tuple((src, DARTS_OPS.index(op)) for op, src in self.cell(kind))
            for kind in CELL_TYPES
        )

    @classmethod
    def from_compact(cls, compact: object) -> DARTSGenotype:
        """Inverse of `to_compact`; an op may also be given by name."""
        if isinstance(compact, (str, bytes)) or not isinstance(compact, Sequence) \
                or len(compact) != 2:
            raise InvalidArchitectureError(
                f"compact genotype: expected (normal, reduce) lists of (input, op) pairs, "
                f"got {compact!r}"
            )
        cells = []
        for kind, cell in zip(CELL_TYPES, compact):
            if isinstance(cell, (str, bytes)) or not isinstance(cell, Iterable):
                raise InvalidArchitectureError(
                    f"compact genotype: {kind} cell must be a list of (input, op) pairs, "
                    f"got {cell!r}"
                )
            edges = []
            for k, pair in enumerate(cell):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise InvalidArchitectureError(
                        f"compact genotype: {kind} edge {k} must be (input, op), got {pair!r}"
                    )
                src, op = pair
                if isinstance(op, int) and not isinstance(op, bool):
                    if not 0 <= op < len(DARTS_OPS):
                        raise InvalidArchitectureError(
                            f"compact genotype: {kind} edge {k} op index {op} outside "
                            f"0..{len(DARTS_OPS) - 1}"
                        )
                    op = DARTS_OPS[op]
                edges.append((op, src))
            cells.append(edges)
        return cls(normal=cells[0], reduce=cells[1])  # type: ignore[arg-type]

    # --- canonical form ---------------------------------------------------------------

    def canonical(self) -> DARTSGenotype:
        """The representative of the genotype's class of equal networks: intermediate nodes
        renumbered in the topological order and edge order that give the smallest pairs."""
        return DARTSGenotype(
            normal=canonical_cell(self.normal), reduce=canonical_cell(self.reduce)
        )


def _literal(node: ast.expr, name: str) -> Any:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "range" and not node.keywords):
        args = [_literal(a, name) for a in node.args]
        if not all(isinstance(a, int) for a in args) or not 1 <= len(args) <= 3:
            raise InvalidArchitectureError(f"DARTS genotype: {name}: malformed range(...)")
        return list(range(*args))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise InvalidArchitectureError(
            f"DARTS genotype: {name} must be a literal list, got {ast.unparse(node)[:80]!r}"
        ) from None


def canonical_cell(cell: Cell) -> Cell:
    """The smallest relabelling of ``cell`` over topological orders of its intermediate
    nodes, each node's two edges sorted (by input, then op index)."""
    best: Cell | None = None
    nodes = range(2, 2 + DARTS_STEPS)
    preds = {i: {cell[2 * (i - 2)][1], cell[2 * (i - 2) + 1][1]} for i in nodes}
    for perm in itertools.permutations(nodes):
        new = {0: 0, 1: 1, **{old: 2 + k for k, old in enumerate(perm)}}
        if any(new[p] >= new[i] for i in nodes for p in preds[i]):
            continue
        edges: list[Edge] = []
        for old in perm:
            pair = [cell[2 * (old - 2)], cell[2 * (old - 2) + 1]]
            moved = sorted(((op, new[src]) for op, src in pair),
                           key=lambda e: (e[1], DARTS_OPS.index(e[0])
                                          if e[0] in DARTS_OPS else e[0]))
            edges.extend(moved)
        candidate = tuple(edges)
        if best is None or _order(candidate) < _order(best):
            best = candidate
    assert best is not None
    return best


def _order(cell: Cell) -> tuple:
    return tuple((src, DARTS_OPS.index(op) if op in DARTS_OPS else len(DARTS_OPS), op)
                 for op, src in cell)


# --- graphs ---------------------------------------------------------------------------

def darts_architecture(genotype: DARTSGenotype | str) -> Architecture:
    """The `Architecture` of a genotype (or its ``Genotype(...)`` text); the genotype text
    is kept in ``meta["genotype"]``."""
    if isinstance(genotype, str):
        genotype = DARTSGenotype.from_string(genotype)
    if not isinstance(genotype, DARTSGenotype):
        raise InvalidArchitectureError(
            f"expected a DARTSGenotype or its text, got {type(genotype).__name__}"
        )
    g = nx.DiGraph()
    g.add_node("in", op=INPUT)
    g.add_node("out", op=OUTPUT)
    for kind in CELL_TYPES:
        cell = genotype.cell(kind)
        g.add_node((kind, 0), op=f"{kind}_c0")
        g.add_node((kind, 1), op=f"{kind}_c1")
        g.add_edge("in", (kind, 0))
        g.add_edge("in", (kind, 1))
        concat = (kind, "concat")
        g.add_node(concat, op=f"{kind}_concat")
        g.add_edge(concat, "out")
        for step in range(DARTS_STEPS):
            node = (kind, step + 2)
            g.add_node(node, op="add")
            g.add_edge(node, concat)
            for k in (2 * step, 2 * step + 1):
                op, src = cell[k]
                edge = (kind, "edge", k)
                g.add_node(edge, op=op)
                g.add_edge((kind, src), edge)
                g.add_edge(edge, node)
    return Architecture(g, {"genotype": genotype.to_string()})


def darts_genotype_of(arch: Architecture) -> DARTSGenotype:
    """The genotype of a DARTS-cell graph (any node names), read off the graph as given.

    Raises:
        InvalidArchitectureError: when the graph is not two DARTS cells.
    """
    g = arch.graph
    label = nx.get_node_attributes(g, "op")
    cells = []
    for kind in CELL_TYPES:
        anchors = {}
        for tag in ("c0", "c1", "concat"):
            found = [v for v, op in label.items() if op == f"{kind}_{tag}"]
            if len(found) != 1:
                raise InvalidArchitectureError(
                    f"not a DARTS cell graph: expected one '{kind}_{tag}' node, "
                    f"found {len(found)}"
                )
            anchors[tag] = found[0]
        adds = list(g.predecessors(anchors["concat"]))
        if len(adds) != DARTS_STEPS or any(label[v] != "add" for v in adds):
            raise InvalidArchitectureError(
                f"not a DARTS cell graph: the {kind} concat must read {DARTS_STEPS} 'add' nodes"
            )
        # Number intermediate nodes in the graph's own node order when that order is
        # topological (graphs built here, and their JSON, round-trip exactly), else in a
        # topological order.
        position = {v: i for i, v in enumerate(g.nodes)}
        order = sorted(adds, key=position.__getitem__)
        upstream = {v: nx.ancestors(g, v) for v in order}
        if any(order[j] in upstream[order[i]] for i in range(len(order))
               for j in range(i + 1, len(order))):
            order = [v for v in nx.topological_sort(g) if v in set(adds)]
        index = {anchors["c0"]: 0, anchors["c1"]: 1, **{v: i + 2 for i, v in enumerate(order)}}
        edges: list[Edge] = []
        for v in order:
            ins = sorted(g.predecessors(v), key=position.__getitem__)
            if len(ins) != 2:
                raise InvalidArchitectureError(
                    f"not a DARTS cell graph: a {kind} node has {len(ins)} inputs, expected 2"
                )
            pair = []
            for e in ins:
                srcs = list(g.predecessors(e))
                if len(srcs) != 1 or srcs[0] not in index or label[e] in ("add", INPUT):
                    raise InvalidArchitectureError(
                        f"not a DARTS cell graph: {kind} op node {label[e]!r} must read one "
                        "cell input or earlier node"
                    )
                pair.append((label[e], index[srcs[0]]))
            edges.extend(pair)
        cells.append(check_cell(edges, kind))
    return DARTSGenotype(normal=cells[0], reduce=cells[1])
