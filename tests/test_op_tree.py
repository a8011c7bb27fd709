"""`OpTree`: validation, pinned distances of the default trees, and the embedding."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from bo_nas.encodings import NB101_OPS, NB201_OPS, InvalidOpTreeError, OpTree
from bo_nas.spaces import default_nb101_tree, default_nb201_tree, flat_tree

CONV3, CONV1, POOL, SKIP = "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect"


def test_nb201_default_tree_distances_are_pinned() -> None:
    t = default_nb201_tree()
    # `none` is the absence of an op, never a leaf (the reference's off-by-one).
    assert sorted(t.leaves) == sorted(NB201_OPS[1:])
    assert t.distance(CONV3, CONV1) == pytest.approx(1.0)
    for a, b in [(CONV3, POOL), (CONV3, SKIP), (CONV1, POOL), (CONV1, SKIP), (POOL, SKIP)]:
        assert t.distance(a, b) == pytest.approx(3.0), (a, b)
    for op in t.leaves:
        assert t.distance(op, op) == 0.0
        assert t.depth(op) == pytest.approx(1.5)
    # Convolutions are closer to each other than to anything else.
    assert t.distance(CONV3, CONV1) < min(t.distance(CONV3, POOL), t.distance(CONV3, SKIP))


def test_nb101_default_tree_distances_are_pinned() -> None:
    t = default_nb101_tree()
    c3, c1, mp = NB101_OPS
    assert sorted(t.leaves) == sorted(NB101_OPS)
    assert t.distance(c3, c1) == pytest.approx(1.0)
    assert t.distance(c3, mp) == pytest.approx(3.0)
    assert t.distance(c1, mp) == pytest.approx(3.0)


def test_flat_tree_puts_every_op_two_apart() -> None:
    t = flat_tree(["a", "b", "c"])
    for a, b in itertools.combinations("abc", 2):
        assert t.distance(a, b) == pytest.approx(2.0)


def test_from_groups_distances_follow_weights() -> None:
    t = OpTree.from_groups({"g": ["a", "b"], "h": ["c"]}, group_weight=2.0, leaf_weight=0.25)
    assert t.distance("a", "b") == pytest.approx(0.5)
    assert t.distance("a", "c") == pytest.approx(2 * (2.0 + 0.25))


def test_distance_is_the_weighted_path_length_on_a_handmade_tree() -> None:
    g = nx.DiGraph()
    g.add_edge("r", "x", weight=0.7)
    g.add_edge("x", "a", weight=0.2)
    g.add_edge("x", "y", weight=1.1)
    g.add_edge("y", "b", weight=0.4)
    g.add_edge("r", "c", weight=2.5)
    t = OpTree(g)
    assert t.root == "r"
    assert t.distance("a", "b") == pytest.approx(0.2 + 1.1 + 0.4)
    assert t.distance("b", "c") == pytest.approx(0.4 + 1.1 + 0.7 + 2.5)
    assert t.depth("b") == pytest.approx(0.7 + 1.1 + 0.4)
    # Unit mass at a node embeds to the weights on its root path.
    assert t.dim == 5
    assert t.node_embedding[t.nodes.index("b")].sum() == pytest.approx(0.7 + 1.1 + 0.4)
    assert not t.node_embedding.flags.writeable


def test_node_metric_matches_the_embedding_l1() -> None:
    t = default_nb201_tree()
    e = t.node_embedding
    l1 = np.abs(e[:, None, :] - e[None, :, :]).sum(-1)
    np.testing.assert_allclose(t.node_metric, l1, atol=1e-12)


def _bad(weight: object) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_edge("r", "a", weight=1.0)
    g.add_edge("r", "b", weight=weight)
    return g


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: OpTree(_bad(0.0)), "positive finite"),
        (lambda: OpTree(_bad(-1.0)), "positive finite"),
        (lambda: OpTree(_bad(math.nan)), "positive finite"),
        (lambda: OpTree(_bad(math.inf)), "positive finite"),
        (lambda: OpTree(_bad("1")), "positive finite"),
        (lambda: OpTree(nx.DiGraph([("a", "b"), ("b", "a")])), "rooted tree"),
        (lambda: OpTree(nx.DiGraph([("r", "a"), ("s", "a")])), "rooted tree"),
        (lambda: OpTree(nx.DiGraph()), "at least 2 nodes"),
        (lambda: OpTree(_bad(1.0), root="a"), "not the root"),
        (lambda: OpTree.from_groups({}), "empty"),
        (lambda: OpTree.from_groups({"g": []}), "no ops"),
        (lambda: OpTree.from_groups({"g": ["a"], "h": ["a"]}), "two groups"),
    ],
)
def test_invalid_trees_raise_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        make()
    assert isinstance(info.value, InvalidOpTreeError)


def test_unknown_op_names_the_leaves() -> None:
    with pytest.raises(ValueError, match="not a leaf"):
        default_nb201_tree().distance("none", CONV3)
