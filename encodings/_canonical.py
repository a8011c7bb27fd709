"""Canonical labelling of small labelled DAGs.

Two architectures are the same network when their pruned graphs are isomorphic with
matching ``op`` labels. We compute a canonical node order: colour refinement over
(op, predecessor colours, successor colours) splits most nodes apart; ties that
survive refinement are broken by trying every order within each tied class and
keeping the lexicographically smallest encoding. Cells have at most a few dozen
nodes and refinement leaves few ties, so the search stays tiny.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Hashable, Sequence

import networkx as nx

_MAX_TIE_ORDERS = 200_000


def _refine(graph: nx.DiGraph) -> dict[Hashable, int]:
    colour = {v: graph.nodes[v]["op"] for v in graph}
    palette = {c: i for i, c in enumerate(sorted(set(colour.values())))}
    ids = {v: palette[colour[v]] for v in graph}
    for _ in range(graph.number_of_nodes()):
        sig = {
            v: (
                ids[v],
                tuple(sorted(ids[u] for u in graph.predecessors(v))),
                tuple(sorted(ids[w] for w in graph.successors(v))),
            )
            for v in graph
        }
        palette2 = {s: i for i, s in enumerate(sorted(set(sig.values())))}
        new = {v: palette2[sig[v]] for v in graph}
        if len(palette2) == len(set(ids.values())):
            return new
        ids = new
    return ids


def _encode(graph: nx.DiGraph, order: Sequence[Hashable]) -> tuple:
    pos = {v: i for i, v in enumerate(order)}
    ops = tuple(graph.nodes[v]["op"] for v in order)
    edges = tuple(sorted((pos[u], pos[v]) for u, v in graph.edges))
    return ops, edges


def canonical_order(graph: nx.DiGraph) -> list[Hashable]:
    """Node order that is the same for every graph isomorphic to ``graph``.

    Isomorphism respects the node attribute ``op``.
    """
    ids = _refine(graph)
    classes: dict[int, list[Hashable]] = {}
    for v in graph:
        classes.setdefault(ids[v], []).append(v)
    groups = [classes[c] for c in sorted(classes)]
    n_orders = 1
    for g in groups:
        for k in range(2, len(g) + 1):
            n_orders *= k
    if n_orders == 1:
        return [g[0] for g in groups]
    if n_orders > _MAX_TIE_ORDERS:
        # Symmetric graphs this large do not arise from cell spaces. Breaking the
        # remaining ties by node name keeps the result deterministic; isomorphic
        # copies may then hash apart, which costs a duplicate evaluation, not a wrong one.
        return [v for g in groups for v in sorted(g, key=repr)]
    best: tuple | None = None
    best_order: list[Hashable] = []
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = [v for p in perms for v in p]
        enc = _encode(graph, order)
        if best is None or enc < best:
            best, best_order = enc, order
    return best_order


def canonical_encoding(graph: nx.DiGraph) -> tuple:
    """``(ops, edges)`` in canonical order: equal exactly for isomorphic labelled graphs."""
    return _encode(graph, canonical_order(graph))


def canonical_hash(graph: nx.DiGraph) -> str:
    """Hex SHA-256 of the canonical encoding."""
    ops, edges = canonical_encoding(graph)
    text = "|".join(ops) + "#" + ";".join(f"{u}>{v}" for u, v in edges)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
