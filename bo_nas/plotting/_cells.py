"""Drawings of cells (architectures) and of op trees."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import matplotlib.pyplot as plt
import networkx as nx
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bo_nas.encodings import INPUT, OUTPUT, Architecture, OpTree

from ._colours import background, foreground, line_colour, op_colour

_TERMINAL_SHAPE = "s"
_OP_SHAPE = "o"


def _layers(graph: nx.DiGraph, source: Hashable, sink: Hashable) -> dict[Hashable, int]:
    """Longest-path depth of every node; the output alone in the last layer."""
    depth: dict[Hashable, int] = {}
    for v in nx.topological_sort(graph):
        preds = [depth[u] for u in graph.predecessors(v)]
        depth[v] = max(preds) + 1 if preds else 0
    # Sources other than the input (dead branches of an unpruned graph) start at
    # layer 1 so the input stays alone on the left.
    for v in graph:
        if v != source and graph.in_degree(v) == 0:
            depth[v] = max(depth[v], 1)
    for v in nx.topological_sort(graph):
        preds = [depth[u] for u in graph.predecessors(v)]
        if preds:
            depth[v] = max(depth[v], max(preds) + 1)
    last = max((d for v, d in depth.items() if v != sink), default=0) + 1
    depth[sink] = max(last, 1)
    return depth


def _positions(
    graph: nx.DiGraph, source: Hashable, sink: Hashable, order: Sequence[Hashable]
) -> dict[Hashable, tuple[float, float]]:
    """Left → right layers; within a layer nodes sorted by the mean height of their
    predecessors (one barycentre sweep), which removes most crossings in small cells."""
    depth = _layers(graph, source, sink)
    rank = {v: i for i, v in enumerate(order)}
    by_layer: dict[int, list[Hashable]] = {}
    for v, d in depth.items():
        by_layer.setdefault(d, []).append(v)
    pos: dict[Hashable, tuple[float, float]] = {}
    for d in sorted(by_layer):
        nodes = by_layer[d]

        def bary(v: Hashable) -> tuple[float, int]:
            ys = [pos[u][1] for u in graph.predecessors(v) if u in pos]
            return (sum(ys) / len(ys) if ys else 0.0, rank.get(v, len(rank)))

        nodes.sort(key=bary)
        n = len(nodes)
        for i, v in enumerate(nodes):
            pos[v] = (float(d), (n - 1) / 2.0 - i)
    return pos


_BEND = 0.35
_CLEARANCE = 0.25


def _bend(u: Hashable, v: Hashable, pos: dict[Hashable, tuple[float, float]]) -> float:
    """Curvature (matplotlib ``arc3`` rad) for edge u → v: 0 unless the straight line
    passes within `_CLEARANCE` of a node between its ends, then bowed away from it."""
    (x0, y0), (x1, y1) = pos[u], pos[v]
    nearest: tuple[float, float] | None = None
    for w, (xw, yw) in pos.items():
        if w in (u, v) or not x0 < xw < x1:
            continue
        y_line = y0 + (y1 - y0) * (xw - x0) / (x1 - x0)
        # Vertical offset times cos(slope) is the distance to the line.
        gap = (yw - y_line) / (1.0 + ((y1 - y0) / (x1 - x0)) ** 2) ** 0.5
        if abs(gap) < _CLEARANCE and (nearest is None or abs(gap) < abs(nearest[0])):
            nearest = (gap, y_line)
    if nearest is None:
        return 0.0
    gap, y_line = nearest
    # For a left → right edge a positive rad bows downwards. Bow away from the blocking
    # node; when it sits on the line, away from the middle row, where there is room.
    if abs(gap) > 1e-9:
        return _BEND if gap > 0 else -_BEND
    return -_BEND if y_line >= 0 else _BEND


def _legend_handles(ops: Sequence[str], size: float = 9.0) -> list[Line2D]:
    handles = []
    for op in ops:
        shape = _TERMINAL_SHAPE if op in (INPUT, OUTPUT) else _OP_SHAPE
        handles.append(
            Line2D(
                [], [], linestyle="", marker=shape, markersize=size,
                markerfacecolor=op_colour(op), markeredgecolor=line_colour(), label=op,
            )
        )
    return handles


def _ordered_ops(ops: set[str]) -> list[str]:
    # input first, output last, the rest alphabetically: legends are comparable.
    middle = sorted(ops - {INPUT, OUTPUT})
    return [o for o in (INPUT,) if o in ops] + middle + [o for o in (OUTPUT,) if o in ops]


def draw_cell(
    arch: Architecture,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    pruned: bool = True,
    legend: bool = True,
    labels: bool = False,
    node_size: float = 500.0,
) -> Axes:
    """Draw an architecture as a left → right layered graph, nodes coloured by op.

    A DARTS genotype is drawn as its two cells, ops on the edges (`draw_darts`).

    Layers are longest-path depths from the input; the input (square, left) and the
    output (square, right) stand apart from the operation nodes (circles). Colours come
    from `op_colour`, so one op has one colour in every figure.

    Args:
        arch: The architecture.
        ax: Axes to draw on; ``None`` creates a new figure.
        title: Axes title; ``None`` uses the NB-201 string when the cell has one.
        pruned: Draw the live graph (nodes on an input → output path) rather than the
            graph as given, which may contain dead branches and isolated ``none`` nodes.
        legend: Add a legend of the ops present, below the drawing.
        labels: Also write each op name beside its node.
        node_size: Marker area in points².

    Returns:
        The axes drawn on.
    """
    if not isinstance(arch, Architecture):
        raise ValueError(f"arch: expected an Architecture, got {type(arch).__name__}")
    from ._darts import draw_darts, is_darts

    if is_darts(arch):
        if ax is None:
            _, ax = plt.subplots(figsize=(7.0, 3.2))
        return draw_darts(arch, ax, title, legend=legend, labels=labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.2))
    graph = arch.pruned if pruned else arch.graph
    order = arch.canonical_order if pruned else sorted(graph.nodes, key=str)
    pos = _positions(graph, arch.input_node, arch.output_node, order)
    edge = line_colour()
    by_bend: dict[float, list[tuple[Hashable, Hashable]]] = {}
    for u, v in graph.edges:
        by_bend.setdefault(_bend(u, v, pos), []).append((u, v))
    for rad, edgelist in sorted(by_bend.items()):
        nx.draw_networkx_edges(
            graph, pos, edgelist=edgelist, ax=ax, edge_color=edge, width=1.2, arrows=True,
            arrowstyle="-|>", arrowsize=12, node_size=node_size, node_shape=_OP_SHAPE,
            connectionstyle=f"arc3,rad={rad}",
        )
    for shape, members in (
        (_TERMINAL_SHAPE, [v for v in graph if v in (arch.input_node, arch.output_node)]),
        (_OP_SHAPE, [v for v in graph if v not in (arch.input_node, arch.output_node)]),
    ):
        if not members:
            continue
        nx.draw_networkx_nodes(
            graph, pos, nodelist=members, ax=ax, node_shape=shape, node_size=node_size,
            node_color=[op_colour(graph.nodes[v]["op"]) for v in members],
            edgecolors=edge, linewidths=1.0,
        )
    if labels:
        for v, (x, y) in pos.items():
            ax.annotate(
                graph.nodes[v]["op"], (x, y), xytext=(0, -14), textcoords="offset points",
                ha="center", va="top", fontsize=7, color=foreground(),
            )
    ops = {graph.nodes[v]["op"] for v in graph}
    if legend:
        handles = _legend_handles(_ordered_ops(ops))
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
            ncol=min(3, len(handles)), fontsize=8, frameon=False,
        )
    if title is None:
        string = arch.meta.get("string")
        # An NB-201 string is three '+'-joined groups (edges into nodes 1, 2, 3): one
        # line each keeps the title as narrow as the drawing.
        title = str(string).replace("+", "\n") if string else None
    if title:
        ax.set_title(str(title), fontsize=8, color=foreground())
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_axis_off()
    return ax


def draw_cells(
    archs: Sequence[Architecture],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    panel_size: tuple[float, float] = (3.2, 2.4),
    suptitle: str | None = None,
) -> Figure:
    """Draw several cells in a grid with one shared legend.

    Args:
        archs: The cells.
        titles: One title per cell (default: the NB-201 string if any).
        ncols: Panels per row.
        panel_size: Width and height of one panel in inches.
        suptitle: Figure title.

    Returns:
        The new figure.
    """
    archs = list(archs)
    if not archs:
        raise ValueError("archs: expected at least one architecture")
    if titles is not None and len(titles) != len(archs):
        raise ValueError(f"titles: expected {len(archs)} titles, got {len(titles)}")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols: expected an integer >= 1, got {ncols!r}")
    ncols = min(ncols, len(archs))
    nrows = -(-len(archs) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False
    )
    ops: set[str] = set()
    for i, ax in enumerate(axes.flat):
        if i >= len(archs):
            ax.set_axis_off()
            continue
        draw_cell(
            archs[i], ax=ax, title=None if titles is None else titles[i], legend=False,
            node_size=260.0,
        )
        ops |= {archs[i].pruned.nodes[v]["op"] for v in archs[i].pruned}
    handles = _legend_handles(_ordered_ops(ops))
    fig.legend(
        handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=8,
        frameon=False, bbox_to_anchor=(0.5, -0.02),
    )
    if suptitle:
        fig.suptitle(suptitle, color=foreground())
    fig.tight_layout(rect=(0.0, 0.06, 1.0, 1.0))
    return fig


def _tree_name(node: Hashable) -> str:
    # `OpTree.from_groups` names groups ("group", name): show the name only.
    if isinstance(node, tuple) and len(node) == 2 and node[0] == "group":
        return str(node[1])
    return str(node)


def draw_op_tree(
    tree: OpTree,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    weights: bool = True,
) -> Axes:
    """Draw an op tree top-down, with edge lengths proportional to their weights.

    The vertical position of a node is its weighted depth, so the path between two
    leaves is visibly as long as their tree distance: the ground cost of the
    tree-Wasserstein distance. Leaves (ops) take their `op_colour`.

    Args:
        tree: The op tree.
        ax: Axes to draw on; ``None`` creates a new figure.
        title: Axes title.
        weights: Write each edge's weight at its midpoint.

    Returns:
        The axes drawn on.
    """
    if not isinstance(tree, OpTree):
        raise ValueError(f"tree: expected an OpTree, got {type(tree).__name__}")
    t = tree.tree
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(tree.leaves)), 3.2))
    # Leaves evenly spaced in depth-first order; a parent centred over its children.
    x: dict[Hashable, float] = {}
    leaves_seen = 0
    for v in nx.dfs_postorder_nodes(t, tree.root):
        children = list(t.successors(v))
        if children:
            x[v] = sum(x[c] for c in children) / len(children)
        else:
            x[v] = float(leaves_seen)
            leaves_seen += 1
    depth = {tree.root: 0.0}
    for u, v in nx.bfs_edges(t, tree.root):
        depth[v] = depth[u] + float(t.edges[u, v]["weight"])
    pos = {v: (x[v], -depth[v]) for v in t}
    fg, edge = foreground(), line_colour()
    for u, v in t.edges:
        (x0, y0), (x1, y1) = pos[u], pos[v]
        ax.plot([x0, x1], [y0, y1], color=edge, linewidth=1.2, zorder=1)
        if weights:
            ax.annotate(
                f"{t.edges[u, v]['weight']:g}", ((x0 + x1) / 2, (y0 + y1) / 2),
                xytext=(3, 0), textcoords="offset points", fontsize=7, color=fg,
                va="center",
            )
    inner = [v for v in t if t.out_degree(v) > 0]
    leaves = [v for v in t if t.out_degree(v) == 0]
    ax.scatter(
        [pos[v][0] for v in inner], [pos[v][1] for v in inner], s=80, marker="D",
        color=background(), edgecolors=edge, zorder=2,
    )
    ax.scatter(
        [pos[v][0] for v in leaves], [pos[v][1] for v in leaves], s=180,
        c=[op_colour(str(v)) for v in leaves], edgecolors=edge, zorder=2,
    )
    for v in inner:
        ax.annotate(
            _tree_name(v), pos[v], xytext=(0, 8), textcoords="offset points", ha="center",
            va="bottom", fontsize=8, color=fg,
        )
    for v in leaves:
        ax.annotate(
            _tree_name(v), pos[v], xytext=(4, -10), textcoords="offset points", ha="right",
            va="top", fontsize=8, color=fg, rotation=30, rotation_mode="anchor",
        )
    ys = [p[1] for p in pos.values()]
    ax.set_ylim(min(ys) - 0.6 * (max(ys) - min(ys) + 1e-9) - 0.3, max(ys) + 0.4)
    ax.set_xlim(-0.7, max(leaves_seen - 1, 0) + 0.7)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, color=fg)
    return ax
