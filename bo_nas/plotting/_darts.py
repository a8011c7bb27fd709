"""DARTS cells drawn as DARTS papers draw them: inputs left, nodes by depth, ops on edges."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from bo_nas.encodings import Architecture
from bo_nas.encodings._darts import CELL_TYPES, DARTS_STEPS, DARTSGenotype, darts_genotype_of
from bo_nas.encodings._darts_features import cell_depths

from ._colours import foreground, line_colour, op_colour

_TITLES = {"normal": "normal cell", "reduce": "reduction cell"}


def is_darts(arch: Architecture) -> bool:
    """Whether ``arch`` is a DARTS-cell graph (both cells' anchors present)."""
    ops = {op for _, op in arch.graph.nodes(data="op")}
    return {"normal_c0", "reduce_concat"} <= ops


def _cell_positions(cell: tuple, x0: float) -> dict[int | str, tuple[float, float]]:
    depth = cell_depths(cell)
    pos: dict[int | str, tuple[float, float]] = {0: (x0, 0.6), 1: (x0, -0.6)}
    by_depth: dict[int, list[int]] = {}
    for node in range(2, 2 + DARTS_STEPS):
        by_depth.setdefault(depth[node], []).append(node)
    for d, nodes in by_depth.items():
        # A lone node per depth alternates up and down, so that edges skipping a level
        # do not run through the nodes between.
        shift = (0.5 if d % 2 else -0.5) if len(nodes) == 1 else 0.0
        for i, node in enumerate(nodes):
            pos[node] = (x0 + 1.2 * d, (len(nodes) - 1) / 2 - i + shift)
    pos["out"] = (x0 + 1.2 * (max(depth) + 1), 0.0)
    return pos


def _draw_one(ax: Axes, cell: tuple, kind: str, x0: float, labels: bool) -> float:
    pos = _cell_positions(cell, x0)
    edge = line_colour()
    for k, (op, src) in enumerate(cell):
        node = 2 + k // 2
        # Two edges between the same pair are impossible (distinct inputs), but edges
        # into one node from nodes at the same height bend apart for legibility.
        rad = 0.15 if k % 2 else -0.15
        ax.add_patch(FancyArrowPatch(
            pos[src], pos[node], arrowstyle="-|>", mutation_scale=10, lw=2.0,
            color=op_colour(op), connectionstyle=f"arc3,rad={rad}", shrinkA=9, shrinkB=9,
        ))
        if labels:
            (xa, ya), (xb, yb) = pos[src], pos[node]
            ax.annotate(op.replace("_conv", "").replace("_connect", ""),
                        ((xa + xb) / 2, (ya + yb) / 2), fontsize=6, ha="center",
                        va="center", color=foreground())
    for node in range(2, 2 + DARTS_STEPS):
        ax.add_patch(FancyArrowPatch(pos[node], pos["out"], arrowstyle="-|>",
                                     mutation_scale=8, lw=0.8, color=edge, shrinkA=9,
                                     shrinkB=9, linestyle=":"))
    names = {0: "c_{k-2}", 1: "c_{k-1}", "out": "c_{k}"}
    for node, (x, y) in pos.items():
        square = node in names
        ax.scatter([x], [y], s=260 if square else 200, marker="s" if square else "o",
                   c="white", edgecolors=edge, zorder=3, linewidths=1.0)
        text = f"${names[node]}$" if square else str(int(node) - 2)
        ax.annotate(text, (x, y), fontsize=7, ha="center", va="center", zorder=4,
                    color="black")
    ax.annotate(_TITLES[kind], (x0 + (pos["out"][0] - x0) / 2, 1.9), ha="center",
                fontsize=8, color=foreground())
    return pos["out"][0]


def draw_darts(
    genotype: DARTSGenotype | Architecture,
    ax: Axes,
    title: str | None = None,
    *,
    legend: bool = True,
    labels: bool = False,
) -> Axes:
    """Both cells of a DARTS genotype side by side on ``ax``: cell inputs as squares on
    the left, intermediate nodes 0–3 by depth, the concatenated output on the right; each
    edge coloured by its op (`op_colour`), the concat edges dotted."""
    if isinstance(genotype, Architecture):
        genotype = darts_genotype_of(genotype)
    x = 0.0
    for kind in CELL_TYPES:
        x = _draw_one(ax, genotype.cell(kind), kind, x, labels) + 1.5
    if legend:
        ops = sorted({op for kind in CELL_TYPES for op, _ in genotype.cell(kind)})
        handles = [Line2D([0], [0], color=op_colour(op), lw=2.5, label=op) for op in ops]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=min(4, len(handles)), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=8, color=foreground())
    ax.set_xlim(-0.6, x - 0.9)
    ax.set_ylim(-2.2, 2.3)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax
