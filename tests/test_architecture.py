"""`Architecture`, canonical hashing, NB-201/NB-101 conversions and their errors.

Oracles: networkx's labelled isomorphism test for canonical hashing; the benchmark
files for round trips; an independent validity check for the NB-101 matrix parser.
"""

from __future__ import annotations

import csv
import itertools
import json
import pickle
from collections import defaultdict
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bo_nas.encodings import (
    INPUT,
    NB101_OPS,
    NB201_OPS,
    OUTPUT,
    Architecture,
    InvalidArchitectureError,
    decode_nb101_key,
    format_nb201,
    nb101_architecture,
    nb201_architecture,
    nb201_canonical_ops,
    parse_nb201,
)
from bo_nas.kernels import TreeWassersteinKernel
from bo_nas.spaces import CellSpace, NB101Space, NB201Space

C3, C1, MP = NB101_OPS


def graph(ops: list[str], edges: list[tuple[int, int]], names: list | None = None) -> nx.DiGraph:
    names = names or list(range(len(ops)))
    g = nx.DiGraph()
    g.add_nodes_from((names[i], {"op": op}) for i, op in enumerate(ops))
    g.add_edges_from((names[u], names[v]) for u, v in edges)
    return g


def live_subgraph(g: nx.DiGraph) -> nx.DiGraph:
    """Independent pruning: nodes on some input → output path."""
    src = next(v for v, d in g.nodes(data=True) if d["op"] == INPUT)
    dst = next(v for v, d in g.nodes(data=True) if d["op"] == OUTPUT)
    live = (nx.descendants(g, src) | {src}) & (nx.ancestors(g, dst) | {dst})
    return g.subgraph(live | {src, dst})


def same_network(a: nx.DiGraph, b: nx.DiGraph) -> bool:
    return nx.is_isomorphic(
        live_subgraph(a), live_subgraph(b), node_match=lambda x, y: x["op"] == y["op"]
    )


def assert_equivalent(archs: list[Architecture], encoders: list) -> None:
    """Equal hashes, identical features, and TW kernel distance 0 under every encoder."""
    assert len({a.key for a in archs}) == 1
    assert len({hash(a) for a in archs}) == 1
    assert all(a == archs[0] for a in archs)
    for enc in encoders:
        x = torch.as_tensor(enc.encode(archs))
        assert (x == x[0]).all()
        k = TreeWassersteinKernel(enc.block_sizes).double()
        assert torch.equal(k(x).to_dense(), torch.ones(len(archs), len(archs), dtype=x.dtype))


# --- construction and validation ----------------------------------------------------


def test_minimal_architecture_and_accessors() -> None:
    a = Architecture(graph([INPUT, C3, C1, OUTPUT], [(0, 1), (1, 2), (2, 3), (0, 2)]))
    assert set(a.ops) == {C3, C1}
    assert a.is_connected
    assert len(a.key) == 32 and all(c in "0123456789abcdef" for c in a.key)
    with pytest.raises(AttributeError):
        a.foo = 1  # type: ignore[attr-defined]
    with pytest.raises(nx.NetworkXError):
        a.graph.add_node(99)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Architecture(graph([INPUT, C3, C1, OUTPUT], [(0, 1), (1, 2), (2, 1), (2, 3)])),
         "cycle"),
        (lambda: Architecture(graph([INPUT, C3, OUTPUT], [(0, 1)])), "no path"),
        (lambda: Architecture(graph([INPUT, C3, C3], [(0, 1), (1, 2)])), "one 'output'"),
        (lambda: Architecture(graph([INPUT, INPUT, OUTPUT], [(0, 2), (1, 2)])), "2 input"),
        (lambda: Architecture(nx.DiGraph([(0, 1)])), "no 'op' label"),
        (lambda: Architecture(nx.Graph()), "DiGraph"),
        (lambda: Architecture.from_json("{not json"), "not valid JSON"),
        (lambda: Architecture.from_json('{"nodes": ["input", "output"], "edges": [[0, 5]]}'),
         "node indices"),
        (lambda: Architecture.from_json('{"nodes": [1, 2], "edges": []}'), "op names"),
        (lambda: Architecture.from_json("[]"), "expected an object"),
    ],
)
def test_invalid_graphs_raise_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        make()
    assert isinstance(info.value, InvalidArchitectureError)


def test_disconnected_cells_only_on_request_and_all_equal() -> None:
    g1 = graph([INPUT, C3, OUTPUT], [(0, 1)])
    g2 = graph([INPUT, MP, C1, OUTPUT], [(1, 2), (2, 3)])
    a, b = (Architecture(g, allow_disconnected=True) for g in (g1, g2))
    assert not a.is_connected and a == b and a.ops == ()
    assert Architecture.from_json(a.to_json()) == a


def test_json_and_pickle_round_trip_keep_identity_and_meta() -> None:
    a = nb201_architecture("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|"
                           "nor_conv_1x1~1|skip_connect~2|")
    for b in (Architecture.from_json(a.to_json()), pickle.loads(pickle.dumps(a))):
        assert b == a and b.key == a.key and b.meta == a.meta
    assert json.loads(a.to_json())["meta"]["string"] == a.meta["string"]


# --- canonical hashing against networkx isomorphism ---------------------------------


def test_key_equality_is_labelled_isomorphism_of_pruned_graphs() -> None:
    """On many small random cells over two ops, hash equality ⇔ isomorphism."""
    rng = np.random.default_rng(0)
    graphs = []
    for _ in range(150):
        n = int(rng.integers(3, 7))
        ops = [INPUT, *rng.choice(["a", "b"], size=n - 2), OUTPUT]
        m = np.triu(rng.random((n, n)) < 0.45, k=1)
        m[0, n - 1] = m[0, n - 1] or not m.any()
        g = graph(list(ops), [(int(i), int(j)) for i, j in zip(*np.nonzero(m))])
        if nx.has_path(g, 0, n - 1):
            graphs.append(g)
    archs = [Architecture(g) for g in graphs]
    n_equal = 0
    for (ga, a), (gb, b) in itertools.combinations(zip(graphs, archs), 2):
        iso = same_network(ga, gb)
        assert (a.key == b.key) == iso
        n_equal += iso
    assert n_equal > 20  # the sample really contains equal pairs


def test_random_relabelling_keeps_key_and_features() -> None:
    rng = np.random.default_rng(1)
    space = CellSpace(["p", "q", "r"], n_nodes=7, max_edges=12)
    encoders = [space.encoder(), space.encoder(positions=True),
                space.encoder(positions=False, ngrams=True)]
    for arch in space.sample_many(25, rng):
        copies = [arch]
        for _ in range(3):
            nodes = list(arch.graph.nodes)
            names = [f"v{k}" for k in rng.permutation(len(nodes))]
            rename = dict(zip(nodes, names))
            g = nx.DiGraph()
            for v in rng.permutation(len(nodes)):  # shuffled insertion order
                g.add_node(rename[nodes[v]], op=arch.graph.nodes[nodes[v]]["op"])
            edges = list(arch.graph.edges)
            for e in rng.permutation(len(edges)):
                g.add_edge(rename[edges[e][0]], rename[edges[e][1]])
            copies.append(Architecture(g))
        assert_equivalent(copies, encoders)


def random_topological_relabel(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random node order, input first and output last, that keeps `m` upper triangular."""
    n = m.shape[0]
    g = nx.DiGraph(m)
    order: list[int] = [0]
    remaining = set(range(1, n))
    while remaining:
        ready = sorted(v for v in remaining if not set(g.predecessors(v)) & remaining)
        ready = [v for v in ready if v != n - 1] or ready  # the output goes last
        v = ready[int(rng.integers(len(ready)))]
        order.append(v)
        remaining.remove(v)
    return np.array(order)


def test_nb101_node_permutations_are_the_same_cell() -> None:
    rng = np.random.default_rng(2)
    space = NB101Space()
    encoders = [space.encoder(), space.encoder(positions=True),
                space.encoder(positions=False, ngrams=True)]
    n_moved = 0
    for arch in space.sample_many(30, rng):
        m, ops = space.to_matrix(arch)
        copies = [arch]
        for _ in range(3):
            perm = random_topological_relabel(m, rng)
            m2 = m[np.ix_(perm, perm)]
            assert not np.tril(m2).any()
            n_moved += not np.array_equal(m2, m)
            copies.append(nb101_architecture(m2, [ops[i] for i in perm]))
        assert_equivalent(copies, encoders)
    assert n_moved > 30


def test_nb101_dead_nodes_do_not_count() -> None:
    base = np.zeros((7, 7), dtype=int)
    base[0, 1] = base[1, 6] = 1
    ops = [INPUT, C3, C1, MP, C3, C1, OUTPUT]
    alive = nb101_architecture(base, ops)
    dead = base.copy()
    dead[0, 2] = dead[2, 3] = 1  # a branch that never reaches the output
    dead_ops = [INPUT, C3, MP, MP, C1, C3, OUTPUT]
    small = nb101_architecture([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, C3, OUTPUT])
    assert_equivalent([alive, nb101_architecture(dead, dead_ops), small],
                      [NB101Space().encoder(), NB101Space().encoder(positions=True)])


NB201_DEAD_PAIRS = [
    # Node 1 has no input: edges out of it are dead whatever their op.
    ("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
     "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|skip_connect~1|nor_conv_3x3~2|"),
    # Node 2 reaches the output only through a `none` edge.
    ("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
     "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"),
    # Nothing reaches the output: every such cell is the same constant network.
    ("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|",
     "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
    # Edge 2←1 is none: nodes 1 and 2 are interchangeable.
    ("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
     "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"),
]


@pytest.mark.parametrize(("s1", "s2"), NB201_DEAD_PAIRS)
def test_nb201_cells_equal_up_to_dead_edges(s1: str, s2: str) -> None:
    space = NB201Space()
    a, b = space.from_string(s1), space.from_string(s2)
    assert space.to_string(a) == s1 and space.to_string(b) == s2  # the strings stay apart
    assert space.canonical_string(a) == space.canonical_string(b)
    assert_equivalent([a, b], [space.encoder(), space.encoder(positions=False, ngrams=True)])


def test_nb201_equivalence_classes_match_networkx_on_a_sample() -> None:
    rng = np.random.default_rng(4)
    space = NB201Space()
    archs = [space.sample(rng) for _ in range(60)]
    for a, b in itertools.combinations(archs, 2):
        assert (a.key == b.key) == same_network(a.graph, b.graph)


def _assert_classes_agree(archs: list[Architecture]) -> None:
    """Equal keys ⇔ equal canonical ops ⇔ equal position features, over ``archs``."""
    space = NB201Space()
    by_key: dict[str, set[int]] = defaultdict(set)
    by_ops: dict[tuple[str, ...], set[int]] = defaultdict(set)
    for i, a in enumerate(archs):
        by_key[a.key].add(i)
        by_ops[nb201_canonical_ops(space.edge_ops(a))].add(i)
    key_classes = {frozenset(c) for c in by_key.values()}
    assert key_classes == {frozenset(c) for c in by_ops.values()}
    x = space.encoder().encode(archs)
    _, inverse = np.unique(x, axis=0, return_inverse=True)
    feature_classes: dict[int, set[int]] = defaultdict(set)
    for i, f in enumerate(inverse.ravel()):
        feature_classes[int(f)].add(i)
    assert {frozenset(c) for c in feature_classes.values()} == key_classes
    assert len(key_classes) < len(archs)  # there were equivalent cells to find


def test_nb201_classes_agree_on_a_dense_sub_space() -> None:
    """All 3^6 cells over {none, skip, conv3x3}: dead edges and swaps abound."""
    ops = ("none", "skip_connect", "nor_conv_3x3")
    _assert_classes_agree([nb201_architecture(c) for c in itertools.product(ops, repeat=6)])


@pytest.mark.slow
def test_nb201_classes_agree_on_the_whole_space() -> None:
    archs = list(NB201Space().enumerate())
    assert len(archs) == 5**6
    _assert_classes_agree(archs)


# --- round trips against the benchmark files ----------------------------------------


def test_all_nb201_strings_of_the_table_round_trip(data_dir: Path) -> None:
    with open(data_dir / "nb201" / "nb201_cifar10-valid.csv", newline="") as fh:
        strings = [row["arch str"] for row in csv.DictReader(fh)]
    assert len(strings) == 15_625 and len(set(strings)) == 15_625
    space = NB201Space()
    for s in strings:
        arch = space.from_string(s)
        assert space.to_string(arch) == s
        assert format_nb201(parse_nb201(s)) == s


def test_nb101_cells_of_the_table_round_trip(data_dir: Path) -> None:
    with open(data_dir / "nb101" / "nb101_500_cifar10.json") as fh:
        table = json.load(fh)["nasbench101"]["cifar10"]
    assert len(table) == 500
    space = NB101Space()
    seen: dict[str, set[tuple[float, float]]] = {}
    for text, entry in table.items():
        key = [int(t) for t in text.strip("()").split(",")]
        matrix, ops = decode_nb101_key(key)
        arch = nb101_architecture(matrix, ops)
        m2, ops2 = space.to_matrix(arch)
        np.testing.assert_array_equal(m2, matrix)
        assert ops2 == ops
        assert Architecture.from_json(arch.to_json()) == arch
        seen.setdefault(arch.key, set()).add((entry["params"], entry["flops"]))
    # The table stores raw (unpruned) matrices: several rows are one network. The
    # table's own params and FLOPs, counted on the built network, agree within each key
    # up to NB-101's channel split, which gives the remainder to the lower-numbered
    # vertices and so depends on the node order (< 2%).
    assert len(seen) < 500
    for costs in seen.values():
        params, flops = np.array(sorted(costs)).T
        assert params.max() / params.min() < 1.02 and flops.max() / flops.min() < 1.02


# --- errors of the parsers ----------------------------------------------------------

GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
MATRIX = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: parse_nb201(GOOD.replace("+", "", 1)), "3 '\\+'-separated"),
        (lambda: parse_nb201(GOOD.replace("skip_connect", "conv5x5")), "unknown op 'conv5x5'"),
        (lambda: parse_nb201(GOOD.replace("none~2", "none~1")), "should come from node 2"),
        (lambda: parse_nb201(GOOD.replace("~0|+|nor_conv_3x3~0|", "~0|+|")), "needs 2"),
        (lambda: parse_nb201(GOOD[1:]), "enclosed in '\\|'"),
        (lambda: parse_nb201(GOOD.replace("none~2", "none2")), "op~index"),
        (lambda: parse_nb201(42), "expected str"),  # type: ignore[arg-type]
        (lambda: format_nb201(["none"] * 5), "expected 6 edge ops"),
        (lambda: nb201_architecture(["none"] * 5 + ["conv"]), "unknown op 'conv'"),
        (lambda: nb101_architecture(np.zeros((3, 4)), [INPUT, C3, OUTPUT]), "square"),
        (lambda: nb101_architecture(np.zeros(9), [INPUT, C3, OUTPUT]), "square"),
        (lambda: nb101_architecture(np.triu(np.ones((8, 8)), 1), [INPUT, *[C3] * 6, OUTPUT]),
         "2 to 7 nodes"),
        (lambda: nb101_architecture(np.triu(np.ones((7, 7)), 1), [INPUT, *[C3] * 5, OUTPUT]),
         "budget of 9"),
        (lambda: nb101_architecture(MATRIX.T, [INPUT, C3, OUTPUT]), "upper triangular"),
        (lambda: nb101_architecture(MATRIX * 2, [INPUT, C3, OUTPUT]), "0 or 1"),
        (lambda: nb101_architecture(MATRIX, [INPUT, "conv5x5", OUTPUT]), "unknown op"),
        (lambda: nb101_architecture(MATRIX, [INPUT, C3]), "expected 3 ops"),
        (lambda: nb101_architecture(MATRIX, [C3, INPUT, OUTPUT]), "first op must be 'input'"),
        (lambda: nb101_architecture([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, C3, OUTPUT]),
         "no path"),
        (lambda: decode_nb101_key([0] * 55), "56 integers"),
        (lambda: decode_nb101_key([0] * 49 + [0, 2, 9, 2, 2, 2, 1]), "unknown op code 9"),
    ],
)
def test_parser_errors_are_value_errors_naming_the_problem(make, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        make()
    assert isinstance(info.value, InvalidArchitectureError)


# --- property tests of the two parsers (the long fuzz suite lives elsewhere) --------

_valid_nb201 = st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6).map(format_nb201)


@st.composite
def _mangled_nb201(draw: st.DrawFn) -> str:
    s = draw(_valid_nb201)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(s)))
        piece = draw(st.sampled_from(["", "|", "~", "+", "0", "1", "2", "3", "00", " ", "\n",
                                      "none", "x", "٠", "_"]))
        cut = draw(st.integers(0, 2))
        s = s[:i] + piece + s[i + cut:]
    return s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_valid_nb201, _mangled_nb201(), st.text(max_size=40)))
def test_nb201_parser_accepts_exactly_the_official_strings(text: str) -> None:
    try:
        ops = parse_nb201(text)
    except InvalidArchitectureError as exc:
        assert str(exc)
        return
    assert len(ops) == 6 and set(ops) <= set(NB201_OPS)
    # Anything accepted is an official string, up to surrounding whitespace.
    assert format_nb201(ops) == text.strip()
    assert NB201Space().to_string(nb201_architecture(text)) == text.strip()


def _nb101_expected_valid(m: np.ndarray, ops: list[str]) -> bool:
    """Independent statement of the NB-101 rules."""
    n = m.shape[0] if m.ndim == 2 else -1
    if m.ndim != 2 or m.shape[1] != n or not 2 <= n <= 7 or len(ops) != n:
        return False
    if not np.isin(m, (0, 1)).all() or np.tril(m).any():
        return False
    if ops[0] != INPUT or ops[-1] != OUTPUT or not set(ops[1:-1]) <= set(NB101_OPS):
        return False
    g = graph(ops, [(int(i), int(j)) for i, j in zip(*np.nonzero(m))])
    return nx.has_path(g, 0, n - 1) and live_subgraph(g).number_of_edges() <= 9


@st.composite
def _nb101_inputs(draw: st.DrawFn) -> tuple[np.ndarray, list[str]]:
    n = draw(st.integers(0, 8))
    cols = n if draw(st.integers(0, 9)) else draw(st.integers(0, 8))
    upper = draw(st.booleans())
    cells = st.sampled_from([0, 1]) if draw(st.integers(0, 7)) else st.integers(-1, 2)
    m = np.array(draw(st.lists(cells, min_size=n * cols, max_size=n * cols)), dtype=int)
    m = m.reshape(n, cols)
    if upper and n == cols:
        m = np.triu(m, 1)
    mid = st.sampled_from([*NB101_OPS, "conv5x5"]) if draw(st.booleans()) else st.sampled_from(
        NB101_OPS)
    k = max(n, 2) if draw(st.integers(0, 9)) else draw(st.integers(2, 9))
    ops = [draw(st.sampled_from([INPUT, C3])), *draw(st.lists(mid, min_size=k - 2,
                                                              max_size=k - 2)), OUTPUT]
    return m, ops


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_nb101_inputs())
def test_nb101_parser_accepts_exactly_the_valid_cells(inputs) -> None:
    m, ops = inputs
    expected = _nb101_expected_valid(m, ops)
    try:
        arch = nb101_architecture(m, ops)
    except InvalidArchitectureError as exc:
        assert not expected, f"rejected a valid cell: {exc}"
        assert str(exc)
        return
    assert expected, "accepted an invalid cell"
    m2, ops2 = NB101Space().to_matrix(arch)
    np.testing.assert_array_equal(m2, m)
    assert list(ops2) == ops
