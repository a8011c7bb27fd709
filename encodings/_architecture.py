"""`Architecture`: an immutable, labelled DAG with one input and one output node."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping
from functools import cached_property
from typing import Any

import networkx as nx

from ._canonical import canonical_hash, canonical_order
from ._errors import InvalidArchitectureError

INPUT = "input"
OUTPUT = "output"


def _prune(graph: nx.DiGraph, source: Hashable, sink: Hashable) -> nx.DiGraph:
    live = (nx.descendants(graph, source) | {source}) & (nx.ancestors(graph, sink) | {sink})
    if len(live) == graph.number_of_nodes() and nx.is_frozen(graph):
        # Nothing to prune: the frozen graph itself serves (copying cost more than the
        # rest of an architecture's construction for larger cells such as DARTS).
        return graph
    # A disconnected cell keeps its two terminals so every architecture has both.
    return graph.subgraph(live | {source, sink}).copy()


def _checked_lists(
    data: Any,
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], int, int] | None:
    """The ops, successor lists and terminals of a well-formed `to_dict` form, checked
    as `Architecture.from_dict` and the constructor check it, in plain Python; None for
    anything else, which then takes the constructor and its error messages."""
    if not isinstance(data, dict):
        return None
    nodes, edges = data.get("nodes"), data.get("edges")
    meta, disconnected = data.get("meta"), data.get("disconnected", False)
    if (
        not isinstance(nodes, list)
        or not isinstance(edges, list)
        or not (meta is None or isinstance(meta, dict))
        or not isinstance(disconnected, bool)
        or not all(isinstance(op, str) and op for op in nodes)
        or nodes.count(INPUT) != 1
        or nodes.count(OUTPUT) != 1
    ):
        return None
    n = len(nodes)
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for e in edges:
        if not isinstance(e, (list, tuple)) or len(e) != 2:
            return None
        u, v = e
        if type(u) is not int or type(v) is not int or not (0 <= u < n and 0 <= v < n):
            return None
        if v not in succ[u]:  # a repeated edge is one edge, as in networkx
            succ[u].append(v)
            indegree[v] += 1
    # Kahn's algorithm: every node is reached once all its predecessors are, or a cycle.
    ready = [i for i in range(n) if not indegree[i]]
    reached = 0
    while ready:
        u = ready.pop()
        reached += 1
        for v in succ[u]:
            indegree[v] -= 1
            if not indegree[v]:
                ready.append(v)
    if reached != n:
        return None
    source, sink = nodes.index(INPUT), nodes.index(OUTPUT)
    if not disconnected:
        seen, stack = {source}, [source]
        while stack:
            for v in succ[stack.pop()]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
        if sink not in seen:
            return None
    return tuple(nodes), tuple(map(tuple, succ)), source, sink


class Architecture:
    r"""A neural cell as a labelled directed acyclic graph.

    Every node carries an ``op`` label. Exactly one node is labelled ``"input"`` and
    exactly one ``"output"``. The graph given is kept as is (``graph``); identity is
    decided on the *pruned* graph (``pruned``), which keeps only nodes on some
    input → output path. Two architectures are equal when their pruned graphs are
    isomorphic with equal labels, so equal networks hash equal whatever their node
    names, dead branches or the space's way of writing them.

    Args:
        graph: A ``networkx.DiGraph`` whose nodes have an ``op`` attribute. It is copied
            and frozen.
        meta: Optional JSON-compatible annotations (e.g. the NB-201 string); they take
            no part in equality.
        allow_disconnected: Accept a graph with no input → output path. Its pruned graph
            is the bare input and output nodes: every such cell is the same (constant)
            network. Tabular benchmarks contain such cells.

    Raises:
        InvalidArchitectureError: for a cycle, a missing or repeated input/output node,
            a node without ``op``, or no path from input to output.

    Example:
        >>> g = nx.DiGraph()
        >>> g.add_nodes_from([(0, {"op": "input"}), (1, {"op": "conv3x3"}), (2, {"op": "output"})])
        >>> g.add_edges_from([(0, 1), (1, 2)])
        >>> Architecture(g).ops
        ('conv3x3',)
    """

    def __init__(
        self,
        graph: nx.DiGraph,
        meta: Mapping[str, Any] | None = None,
        *,
        allow_disconnected: bool = False,
    ) -> None:
        if not isinstance(graph, nx.DiGraph):
            raise InvalidArchitectureError(
                f"graph: expected a networkx.DiGraph, got {type(graph).__name__}"
            )
        g = nx.DiGraph()
        for v, data in graph.nodes(data=True):
            op = data.get("op")
            if not isinstance(op, str) or not op:
                raise InvalidArchitectureError(f"node {v!r} has no 'op' label (got {op!r})")
            g.add_node(v, op=op)
        g.add_edges_from(graph.edges)
        if not nx.is_directed_acyclic_graph(g):
            cycle = nx.find_cycle(g)
            raise InvalidArchitectureError(f"graph has a cycle: {cycle}")
        inputs = [v for v in g if g.nodes[v]["op"] == INPUT]
        outputs = [v for v in g if g.nodes[v]["op"] == OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise InvalidArchitectureError(
                f"expected exactly one 'input' and one 'output' node, "
                f"got {len(inputs)} input and {len(outputs)} output nodes"
            )
        if not allow_disconnected and not nx.has_path(g, inputs[0], outputs[0]):
            raise InvalidArchitectureError("no path from the input node to the output node")
        nx.freeze(g)
        object.__setattr__(self, "_graph", g)
        object.__setattr__(self, "_meta", dict(meta or {}))
        object.__setattr__(self, "input_node", inputs[0])
        object.__setattr__(self, "output_node", outputs[0])

    input_node: Hashable
    output_node: Hashable
    # Set instead of ``_graph`` by `from_dict`'s fast path: ops and successor lists.
    _lists: tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]

    @property
    def graph(self) -> nx.DiGraph:
        """The graph as given (frozen)."""
        return self._graph

    @cached_property
    def _graph(self) -> nx.DiGraph:
        # Reached only by an architecture from `from_dict`'s fast path (the constructor
        # sets ``_graph`` itself): its lists were checked there, and the graph is built
        # here, on first use, as the constructor would build it. A store read makes
        # thousands of architectures of which an observer looks at a handful; building
        # their networkx graphs was nine tenths of reading a 10,000-trial store.
        ops, succ = self._lists
        g = nx.DiGraph()
        g.add_nodes_from((i, {"op": op}) for i, op in enumerate(ops))
        # Edges grouped by source node in node order, as the constructor's copy of the
        # graph adds them, so even the predecessor order matches.
        g.add_edges_from((u, v) for u, out in enumerate(succ) for v in out)
        nx.freeze(g)
        return g

    @property
    def meta(self) -> dict[str, Any]:
        """Annotations given at construction (a copy)."""
        return dict(self._meta)

    @cached_property
    def pruned(self) -> nx.DiGraph:
        """The graph restricted to nodes on an input → output path (frozen)."""
        g = _prune(self._graph, self.input_node, self.output_node)
        nx.freeze(g)
        return g

    @cached_property
    def is_connected(self) -> bool:
        """Whether some path leads from the input to the output."""
        return nx.has_path(self._graph, self.input_node, self.output_node)

    @cached_property
    def canonical_order(self) -> tuple[Hashable, ...]:
        """Nodes of `pruned` in an order shared by every equal architecture."""
        return tuple(canonical_order(self.pruned))

    @cached_property
    def key(self) -> str:
        """Canonical hash of the pruned labelled graph (32 hex characters)."""
        return canonical_hash(self.pruned)

    @property
    def ops(self) -> tuple[str, ...]:
        """Op labels of the live operation nodes (input/output excluded), canonical order."""
        return tuple(
            self.pruned.nodes[v]["op"]
            for v in self.canonical_order
            if v not in (self.input_node, self.output_node)
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return self.key == other.key

    def __repr__(self) -> str:
        label = self._meta.get("string")
        if label:
            return f"Architecture({label!r})"
        return (
            f"Architecture(nodes={self.pruned.number_of_nodes()}, "
            f"edges={self.pruned.number_of_edges()}, key={self.key[:8]})"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Architecture is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Architecture is immutable")

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # Rebuild through the validating constructor; node names become 0..n-1 in order.
        return (Architecture.from_dict, (self.to_dict(),))

    # --- JSON -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form: ``{"nodes": [[name, op], ...], "edges": [[u, v], ...]}``."""
        index = {v: i for i, v in enumerate(self._graph.nodes)}
        out: dict[str, Any] = {
            "nodes": [self._graph.nodes[v]["op"] for v in self._graph.nodes],
            "edges": sorted([index[u], index[v]] for u, v in self._graph.edges),
        }
        if self._meta:
            out["meta"] = self._meta
        if not self.is_connected:
            out["disconnected"] = True
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """Inverse of `to_dict`; raises `InvalidArchitectureError` on any malformed field."""
        if cls.__init__ is Architecture.__init__:
            fast = _checked_lists(data)
            if fast is not None:
                ops, succ, source, sink = fast
                arch = cls.__new__(cls)
                object.__setattr__(arch, "_lists", (ops, succ))
                object.__setattr__(arch, "_meta", dict(data.get("meta") or {}))
                object.__setattr__(arch, "input_node", source)
                object.__setattr__(arch, "output_node", sink)
                return arch
        # Anything the fast check does not accept (malformed, or a subclass with its own
        # constructor) takes the validating constructor, which raises its usual errors.
        if not isinstance(data, Mapping):
            raise InvalidArchitectureError(
                f"architecture JSON: expected an object, got {type(data).__name__}"
            )
        nodes = data.get("nodes")
        edges = data.get("edges")
        if not isinstance(nodes, list) or not all(isinstance(o, str) for o in nodes):
            raise InvalidArchitectureError("architecture JSON: 'nodes' must be a list of op names")
        if not isinstance(edges, list):
            raise InvalidArchitectureError("architecture JSON: 'edges' must be a list of pairs")
        g = nx.DiGraph()
        g.add_nodes_from((i, {"op": op}) for i, op in enumerate(nodes))
        for e in edges:
            if (
                not isinstance(e, (list, tuple))
                or len(e) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in e)
                or not all(0 <= i < len(nodes) for i in e)
            ):
                raise InvalidArchitectureError(
                    f"architecture JSON: edge {e!r} is not a pair of node indices "
                    f"in [0, {len(nodes)})"
                )
            g.add_edge(e[0], e[1])
        meta = data.get("meta")
        if meta is not None and not isinstance(meta, Mapping):
            raise InvalidArchitectureError("architecture JSON: 'meta' must be an object")
        disconnected = data.get("disconnected", False)
        if not isinstance(disconnected, bool):
            raise InvalidArchitectureError(
                f"architecture JSON: 'disconnected' must be true or false, got {disconnected!r}"
            )
        return cls(g, meta, allow_disconnected=disconnected)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            # ValueError covers JSONDecodeError, undecodable bytes and integers longer
            # than Python's int-conversion limit.
            raise InvalidArchitectureError(f"architecture JSON: not valid JSON ({exc})") from exc
        except RecursionError:
            raise InvalidArchitectureError("architecture JSON: nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def from_edges(
        cls,
        ops: Iterable[str],
        edges: Iterable[tuple[int, int]],
        meta: Mapping[str, Any] | None = None,
    ) -> Architecture:
        """Build from node op labels (node i gets ``ops[i]``) and index pairs."""
        return cls.from_dict({"nodes": list(ops), "edges": [list(e) for e in edges],
                              **({"meta": dict(meta)} if meta else {})})
