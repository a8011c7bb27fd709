"""Plots: colours fixed per op and legible on light and dark themes; drawings match the
graphs they draw; curves match numpy's statistics; files are written."""

from __future__ import annotations

import hashlib
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pytest
from matplotlib.colors import is_color_like, to_rgb, to_rgba

from bo_nas.encodings import NB101_OPS, NB201_OPS, Architecture, OpTree, nb201_architecture
from bo_nas.plotting import (
    OP_COLOURS,
    draw_cell,
    draw_cells,
    draw_op_tree,
    op_colour,
    plot_accuracy_vs_cost,
    plot_search_curve,
    save_figure,
)
from bo_nas.plotting._cells import _bend, _positions
from bo_nas.plotting._colours import FALLBACK_PALETTE, METHOD_PALETTE
from bo_nas.spaces import CellSpace, NB101Space, NB201Space, default_nb201_tree

CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio between two colours."""

    def lum(c: str) -> float:
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in to_rgb(c)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _node_colours(ax) -> Counter:
    return Counter(
        tuple(np.round(fc, 4)) for coll in ax.collections for fc in coll.get_facecolors()
    )


def _expected_colours(graph: nx.DiGraph) -> Counter:
    return Counter(tuple(np.round(to_rgba(op_colour(graph.nodes[v]["op"])), 4)) for v in graph)


# --- colours ------------------------------------------------------------------------


def test_every_benchmark_op_has_a_fixed_distinct_colour():
    ops = [*NB201_OPS, *NB101_OPS, "input", "output"]
    assert all(op in OP_COLOURS for op in ops)
    nb201 = [op_colour(op) for op in NB201_OPS]
    assert len(set(nb201)) == len(nb201)
    assert len({op_colour(op) for op in NB101_OPS}) == len(NB101_OPS)
    assert op_colour("input") != op_colour("output")
    assert not {op_colour("input"), op_colour("output")} & set(nb201)
    # The same operation in two benchmarks reads the same.
    assert op_colour("nor_conv_3x3") == op_colour("conv3x3-bn-relu")
    assert op_colour("nor_conv_1x1") == op_colour("conv1x1-bn-relu")


def test_unknown_ops_get_a_stable_unsalted_colour():
    for op in ["conv_7x1_1x7", "zeroize", "my op", "ü"]:
        digest = hashlib.md5(op.encode()).digest()
        expected = FALLBACK_PALETTE[int.from_bytes(digest[:4], "big") % len(FALLBACK_PALETTE)]
        assert op_colour(op) == expected == op_colour(op)
    with pytest.raises(ValueError, match="op"):
        op_colour(3)  # type: ignore[arg-type]


def test_palette_contrasts_on_white_and_on_black():
    # Mid-tones: every fill stays at least 2:1 against both theme backgrounds.
    for colour in {*OP_COLOURS.values(), *FALLBACK_PALETTE, *METHOD_PALETTE}:
        assert is_color_like(colour)
        assert _contrast(colour, "#FFFFFF") >= 2.0, colour
        assert _contrast(colour, "#000000") >= 2.0, colour


# --- cells --------------------------------------------------------------------------


@pytest.mark.parametrize("space_name", ["nb201", "nb101", "cell"])
def test_draw_cell_colours_every_live_node_by_its_op(space_name):
    rng = np.random.default_rng(3)
    if space_name == "nb201":
        arch = nb201_architecture(CELL)
    elif space_name == "nb101":
        arch = NB101Space().sample(rng)
    else:
        space = CellSpace(["sep3", "sep5", "dil3", "maxpool"], n_nodes=6, max_edges=8)
        arch = space.sample(rng)
    ax = draw_cell(arch)
    assert _node_colours(ax) == _expected_colours(arch.pruned)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted({arch.pruned.nodes[v]["op"] for v in arch.pruned})
    assert legend[0] == "input" and legend[-1] == "output"


def test_draw_cell_layers_flow_left_to_right():
    space = NB201Space()
    rng = np.random.default_rng(0)
    for arch in [nb201_architecture(CELL), *space.sample_many(20, rng)]:
        for graph, order in [(arch.pruned, arch.canonical_order), (arch.graph, list(arch.graph))]:
            pos = _positions(graph, arch.input_node, arch.output_node, order)
            assert set(pos) == set(graph)
            assert all(pos[u][0] < pos[v][0] for u, v in graph.edges)
            xs = {v: p[0] for v, p in pos.items()}
            assert xs[arch.input_node] == min(xs.values())
            assert xs[arch.output_node] == max(xs.values()) > xs[arch.input_node]
            others = [x for v, x in xs.items() if v not in (arch.input_node, arch.output_node)]
            assert all(xs[arch.input_node] < x < xs[arch.output_node] for x in others)


def test_edges_that_would_cross_a_node_are_bent():
    # input -> a -> b -> output plus a skip input -> output: all four nodes on one row.
    g = nx.DiGraph([(0, 1), (1, 2), (2, 3), (0, 3)])
    nx.set_node_attributes(g, {0: "input", 1: "conv", 2: "conv", 3: "output"}, "op")
    arch = Architecture(g)
    pos = _positions(arch.pruned, arch.input_node, arch.output_node, arch.canonical_order)
    assert {p[1] for p in pos.values()} == {0.0}
    assert _bend(0, 3, pos) != 0.0
    assert _bend(0, 1, pos) == _bend(1, 2, pos) == 0.0
    # Nodes just above the line push the edge down (positive arc3 rad).
    pos2 = {**pos, 1: (1.0, 0.1), 2: (2.0, 0.1)}
    assert _bend(0, 3, pos2) > 0
    ax = draw_cell(arch)
    assert len(ax.patches) == 4  # one arrow per edge


def test_draw_cell_on_given_axes_and_unpruned_graph():
    arch = nb201_architecture(CELL)  # has one dead 'none' edge
    _, ax = plt.subplots()
    assert draw_cell(arch, ax=ax, title="mine", pruned=False, labels=True) is ax
    assert ax.get_title() == "mine"
    assert _node_colours(ax) == _expected_colours(arch.graph)
    assert "none" in [t.get_text() for t in ax.texts]
    # Default title: the NB-201 string, one group per line.
    ax2 = draw_cell(arch)
    assert ax2.get_title().split("\n") == CELL.split("+")
    with pytest.raises(ValueError, match="arch"):
        draw_cell("|none~0|")  # type: ignore[arg-type]


def test_graph_lines_and_text_follow_the_theme():
    arch = nb201_architecture(CELL)
    for style, fg in [("default", "black"), ("dark_background", "white")]:
        with plt.style.context(style):
            ax = draw_cell(arch)
            edges = {tuple(np.round(to_rgba(p.get_edgecolor()), 3)) for p in ax.patches}
            assert edges == {tuple(np.round(to_rgba(plt.rcParams["axes.edgecolor"]), 3))}
            assert to_rgba(ax.title.get_color()) == to_rgba(fg)
            assert all(
                to_rgba(t.get_color()) == to_rgba(fg) for t in ax.get_legend().get_texts()
            )


def test_draw_cells_grid_has_one_shared_legend():
    rng = np.random.default_rng(1)
    archs = NB201Space().sample_many(5, rng)
    fig = draw_cells(archs, titles=[f"#{i}" for i in range(5)], ncols=3)
    axes = fig.axes
    assert len(axes) == 6 and not axes[5].has_data()
    assert [ax.get_title() for ax in axes[:5]] == [f"#{i}" for i in range(5)]
    assert all(ax.get_legend() is None for ax in axes)
    assert len(fig.legends) == 1
    with pytest.raises(ValueError, match="titles"):
        draw_cells(archs, titles=["a"])
    with pytest.raises(ValueError, match="archs"):
        draw_cells([])


def test_op_tree_heights_are_weighted_depths():
    tree = OpTree.from_groups(
        {"conv": ["c3", "c1"], "pool": ["mp"]}, group_weight=2.0, leaf_weight=0.5
    )
    ax = draw_op_tree(tree, title="tree")
    leaves = ax.collections[1]
    ys = leaves.get_offsets()[:, 1]
    # One leaf collection, in graph order; every leaf at depth 2.5.
    assert np.allclose(ys, -2.5)
    assert len(ys) == 3
    labels = {t.get_text() for t in ax.texts}
    assert {"c3", "c1", "mp", "conv", "pool", "2", "0.5"} <= labels
    draw_op_tree(default_nb201_tree())


# --- curves -------------------------------------------------------------------------


def test_search_curve_median_and_band_match_numpy():
    rng = np.random.default_rng(0)
    runs = np.maximum.accumulate(rng.normal(90.0, 2.0, size=(7, 25)), axis=1)
    runs[:, 0] = np.nan  # a first query that failed in every run
    single = runs[0]
    ax = plot_search_curve({"GP": runs, "one run": single}, optimum=95.0)
    lines = ax.get_lines()
    med = lines[0].get_ydata()
    assert np.isnan(med[0])
    assert np.allclose(med[1:], np.median(runs[:, 1:], axis=0))
    assert np.array_equal(lines[0].get_xdata(), np.arange(1, 26))
    assert np.allclose(lines[1].get_ydata(), single, equal_nan=True)
    assert np.allclose(lines[2].get_ydata(), 95.0)  # optimum
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    q25, q75 = np.percentile(runs[:, 1:], [25, 75], axis=0)
    assert np.isclose(np.nanmin(band), q25.min()) and np.isclose(np.nanmax(band), q75.max())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["GP (median of 7, IQR)", "one run", "optimum"]


def test_search_curve_single_array_regret_and_errors():
    curve = [80.0, 85.0, 85.0, 91.0]
    ax = plot_search_curve(curve, optimum=94.0, regret=True)
    assert np.allclose(ax.get_lines()[0].get_ydata(), [14.0, 9.0, 9.0, 3.0])
    assert ax.get_yscale() == "log" and ax.get_legend() is None
    with pytest.raises(ValueError, match="optimum"):
        plot_search_curve(curve, regret=True)
    with pytest.raises(ValueError, match="shape"):
        plot_search_curve({"x": np.zeros((2, 2, 2))})
    with pytest.raises(ValueError, match="at least one"):
        plot_search_curve({})


def test_accuracy_vs_cost_highlight_and_pareto_front():
    rng = np.random.default_rng(5)
    acc = rng.normal(90.0, 3.0, 60)
    cost = rng.lognormal(0.0, 1.0, 60)
    ax = plot_accuracy_vs_cost(acc, cost, highlight=[int(np.argmax(acc))], pareto=True,
                               xlabel="params (M)", logx=True)
    front = ax.get_lines()[0]
    xs, ys = front.get_xdata(), front.get_ydata()
    # Oracle: a point is on the front when no point has cost <= and accuracy >= (one strict).
    brute = [
        i for i in range(60)
        if not any(
            cost[j] <= cost[i] and acc[j] >= acc[i] and (cost[j] < cost[i] or acc[j] > acc[i])
            for j in range(60)
        )
    ]
    assert sorted(zip(xs, ys)) == sorted(zip(cost[brute], acc[brute]))
    star = ax.collections[1].get_offsets()
    assert np.allclose(star, [[cost[np.argmax(acc)], acc.max()]])
    assert ax.get_xlabel() == "params (M)" and ax.get_xscale() == "log"
    mask = acc > 92
    ax2 = plot_accuracy_vs_cost(acc, cost, highlight=mask)
    assert len(ax2.collections[1].get_offsets()) == mask.sum()
    with pytest.raises(ValueError, match="equal lengths"):
        plot_accuracy_vs_cost(acc, cost[:-1])
    with pytest.raises(ValueError, match="out of range"):
        plot_accuracy_vs_cost(acc, cost, highlight=[60])


def test_save_figure_writes_files(tmp_path):
    ax = draw_cell(nb201_architecture(CELL))
    png = save_figure(ax.figure, tmp_path / "sub" / "cell.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save_figure(ax.figure, tmp_path / "cell.svg", close=True)
    assert b"<svg" in svg.read_bytes()[:500]
    assert not plt.fignum_exists(ax.figure.number)
    with pytest.raises(ValueError, match="fig"):
        save_figure(ax, tmp_path / "x.png")  # type: ignore[arg-type]
