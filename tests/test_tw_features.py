"""TW feature maps against exact optimal transport (POT) as the oracle.

Every block's L1 distance must equal an OT cost computed independently: ``ot.emd2`` with
the tree's shortest-path metric (from scipy, not from the code under test) for the
tree blocks, ``ot.wasserstein_1d`` for the degree measures over depth positions.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np
import ot
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from bo_nas.encodings import INPUT, OUTPUT, Architecture, OpTree, TWEncoder, parse_nb201
from bo_nas.encodings._tw_features import ngram_vocabulary
from bo_nas.spaces import CellSpace, NB101Space, NB201Space

TOL = 1e-9


def random_tree(rng: np.random.Generator, n_nodes: int) -> nx.DiGraph:
    """Random arborescence on ``t0 … t{n-1}`` (root t0) with weights in [0.05, 3]."""
    g = nx.DiGraph()
    for i in range(1, n_nodes):
        parent = int(rng.integers(i))
        g.add_edge(f"t{parent}", f"t{i}", weight=float(rng.uniform(0.05, 3.0)))
    return g


def path_metric(tree: nx.DiGraph, order: list) -> np.ndarray:
    """All-pairs weighted path lengths of the undirected tree, by scipy's Dijkstra."""
    index = {v: i for i, v in enumerate(order)}
    rows, cols, w = [], [], []
    for u, v, wt in tree.edges(data="weight"):
        rows += [index[u], index[v]]
        cols += [index[v], index[u]]
        w += [wt, wt]
    adj = csr_matrix((w, (rows, cols)), shape=(len(order), len(order)))
    return shortest_path(adj, directed=False)


def random_measure(rng: np.random.Generator, n: int) -> np.ndarray:
    """A probability vector, often sparse, sometimes a single atom."""
    kind = rng.integers(3)
    if kind == 0:
        m = np.zeros(n)
        m[rng.integers(n)] = 1.0
        return m
    m = rng.dirichlet(np.full(n, 0.5))
    if kind == 1:
        m[rng.random(n) < 0.5] = 0.0
        if m.sum() == 0:
            m[rng.integers(n)] = 1.0
    return m / m.sum()


@pytest.mark.parametrize("seed", range(8))
def test_tree_embedding_l1_equals_emd2_on_random_trees(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    g = random_tree(rng, int(rng.integers(3, 25)))
    tree = OpTree(g)
    order = list(tree.nodes)
    metric = path_metric(g, order)
    for _ in range(30):  # 8 trees x 30 pairs = 240 measure pairs on all nodes
        a, b = random_measure(rng, len(order)), random_measure(rng, len(order))
        tw = np.abs(tree.embed(a) - tree.embed(b)).sum()
        assert tw == pytest.approx(ot.emd2(a, b, metric), abs=TOL)
    # Leaf-supported measures (op histograms) through `leaf_embedding`.
    leaf_rows = [order.index(leaf) for leaf in tree.leaves]
    for _ in range(10):
        a, b = random_measure(rng, len(leaf_rows)), random_measure(rng, len(leaf_rows))
        tw = np.abs(a @ tree.leaf_embedding - b @ tree.leaf_embedding).sum()
        exact = ot.emd2(a, b, metric[np.ix_(leaf_rows, leaf_rows)])
        assert tw == pytest.approx(exact, abs=TOL)


def _live(arch: Architecture) -> nx.DiGraph:
    """Independent pruning: nodes reachable from the input that reach the output."""
    g = arch.graph
    live = (nx.descendants(g, arch.input_node) | {arch.input_node}) & (
        nx.ancestors(g, arch.output_node) | {arch.output_node}
    )
    return g.subgraph(live)


def _degree_measures(arch: Architecture, n_pos: int) -> tuple[np.ndarray, np.ndarray]:
    g = _live(arch)
    depth: dict = {}
    for v in nx.topological_sort(g):
        depth[v] = max((depth[u] + 1 for u in g.predecessors(v)), default=0)
    inm, outm = np.zeros(n_pos), np.zeros(n_pos)
    for v in g:
        inm[depth[v]] += g.in_degree(v)
        outm[depth[v]] += g.out_degree(v)
    if g.number_of_edges() == 0:
        inm[0] = outm[0] = 1.0
    return inm / inm.sum(), outm / outm.sum()


def _blocks(enc: TWEncoder, x: np.ndarray) -> dict[str, np.ndarray]:
    cuts = np.cumsum(enc.block_sizes)[:-1]
    return dict(zip(enc.block_names, np.split(x, cuts, axis=-1)))


def _histogram(arch: Architecture, tree: OpTree) -> np.ndarray:
    """Op histogram over all tree nodes; a cell without ops is a unit mass at the root."""
    counts = Counter(d["op"] for _, d in _live(arch).nodes(data=True))
    h = np.array([counts[v] for v in tree.nodes], dtype=float)
    if h.sum() == 0:
        h[list(tree.nodes).index(tree.root)] = 1.0
    return h / h.sum()


SPACES = {
    "nb101": NB101Space(),
    "cell": CellSpace(
        ["c3", "c5", "dw", "mp", "id"],
        n_nodes=6,
        max_edges=8,
        op_tree=OpTree.from_groups(
            {"conv": ["c3", "c5", "dw"], "pool": ["mp"], "id": ["id"]},
            group_weight=0.8, leaf_weight=0.3,
        ),
    ),
}


@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_op_histogram_and_degree_blocks_equal_exact_ot(space_name: str) -> None:
    space = SPACES[space_name]
    rng = np.random.default_rng(7)
    archs = space.sample_many(40, rng)
    enc = space.encoder(positions=False)
    assert enc.block_names == ("ops", "in_degree", "out_degree")
    feats = _blocks(enc, enc.encode(archs))
    metric = path_metric(space.op_tree.tree, list(space.op_tree.nodes))
    positions = np.arange(enc.max_depth, dtype=float)
    for i, j in rng.integers(len(archs), size=(40, 2)):
        a, b = archs[i], archs[j]
        ops_tw = np.abs(feats["ops"][i] - feats["ops"][j]).sum()
        exact = ot.emd2(_histogram(a, space.op_tree), _histogram(b, space.op_tree), metric)
        assert ops_tw == pytest.approx(exact, abs=TOL)
        (ia, oa), (ib, ob) = _degree_measures(a, enc.max_depth), _degree_measures(b, enc.max_depth)
        for name, u, v in (("in_degree", ia, ib), ("out_degree", oa, ob)):
            w1 = ot.wasserstein_1d(positions, positions, u, v, p=1)
            assert np.abs(feats[name][i] - feats[name][j]).sum() == pytest.approx(w1, abs=TOL)


def test_nb201_position_block_equals_emd2_on_the_product_tree() -> None:
    """Positions: TW on root → position p → (p, op-tree node), `none` mass on p itself."""
    space = NB201Space()
    enc = space.encoder()
    assert enc.block_names == ("positions", "in_degree", "out_degree")
    op_tree = space.op_tree
    g = nx.DiGraph()
    for p in range(6):
        # The root → position weight never matters: each position always holds 1/6.
        g.add_edge("root", ("pos", p), weight=1.0 + p)
        for u, v, w in op_tree.tree.edges(data="weight"):
            pu = ("pos", p) if u == op_tree.root else (p, u)
            g.add_edge(pu, (p, v), weight=w)
    order = list(g.nodes)
    metric = path_metric(g, order)
    index = {v: i for i, v in enumerate(order)}

    def measure(arch: Architecture) -> np.ndarray:
        m = np.zeros(len(order))
        for p, op in enumerate(parse_nb201(space.canonical_string(arch))):
            m[index[("pos", p) if op == "none" else (p, op)]] += 1 / 6
        return m

    rng = np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(60)]
    feats = _blocks(enc, enc.encode(archs))["positions"]
    for i in range(0, 60, 2):
        tw = np.abs(feats[i] - feats[i + 1]).sum()
        assert tw == pytest.approx(ot.emd2(measure(archs[i]), measure(archs[i + 1]), metric),
                                   abs=TOL)


def test_ngram_block_equals_emd2_on_its_tree() -> None:
    """2-grams: TW on root → first op (weight 1) → (first, second) pair (weight 1/2)."""
    space = SPACES["cell"]
    enc = space.encoder(positions=False, ngrams=True)
    assert enc.block_names == ("ops", "ngrams", "in_degree", "out_degree")
    vocab = ngram_vocabulary(space.op_tree)
    assert vocab[0] == INPUT and vocab[-1] == OUTPUT
    g = nx.DiGraph()
    for a in vocab:
        g.add_edge("root", a, weight=1.0)
        for b in vocab:
            g.add_edge(a, (a, b), weight=0.5)
    order = list(g.nodes)
    metric = path_metric(g, order)
    index = {v: i for i, v in enumerate(order)}

    def measure(arch: Architecture) -> np.ndarray:
        live = _live(arch)
        m = np.zeros(len(order))
        for u, v in live.edges:
            m[index[(live.nodes[u]["op"], live.nodes[v]["op"])]] += 1 / live.number_of_edges()
        return m

    rng = np.random.default_rng(11)
    archs = space.sample_many(30, rng)
    feats = _blocks(enc, enc.encode(archs))["ngrams"]
    for i in range(0, 30, 2):
        tw = np.abs(feats[i] - feats[i + 1]).sum()
        assert tw == pytest.approx(ot.emd2(measure(archs[i]), measure(archs[i + 1]), metric),
                                   abs=TOL)


def test_layout_dtype_and_empty_input() -> None:
    for enc in (NB201Space().encoder(), NB201Space().encoder(positions=False, ngrams=True),
                NB101Space().encoder(), SPACES["cell"].encoder(positions=True)):
        assert sum(enc.block_sizes) == enc.dim
        assert len(enc.block_sizes) == len(enc.block_names)
        assert enc.encode([]).shape == (0, enc.dim)
    enc = NB201Space().encoder()
    x = enc.encode([NB201Space().sample(0), NB201Space().sample(1)])
    assert x.shape == (2, enc.dim) and x.dtype == np.float64
    # 6 positions x 7 non-root nodes of the default tree; depths 0..4.
    assert enc.block_sizes == (6 * 7, 4, 4)


def test_disconnected_nb201_cell_encodes_to_root_and_depth_zero() -> None:
    space = NB201Space()
    dead = space.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    x = _blocks(space.encoder(), space.encoder().encode([dead])[0])
    assert not x["positions"].any()
    assert (x["in_degree"] == 1).all() and (x["out_degree"] == 1).all()


def test_feature_errors_are_value_errors_naming_the_problem() -> None:
    arch = Architecture.from_edges(["input", "conv7x7", "output"], [(0, 1), (1, 2)])
    with pytest.raises(ValueError, match="conv7x7"):
        NB101Space().encoder().encode([arch])
    with pytest.raises(ValueError, match="conv7x7"):
        SPACES["cell"].encoder(positions=True).encode([arch])
    chain = Architecture.from_edges(
        ["input", *["c3"] * 6, "output"], [(i, i + 1) for i in range(7)]
    )
    with pytest.raises(ValueError, match="max_depth"):
        SPACES["cell"].encoder().encode([chain])
    with pytest.raises(ValueError, match="slots"):
        SPACES["cell"].encoder(positions=True).encode([chain])
    with pytest.raises(ValueError, match="max_depth"):
        TWEncoder(SPACES["cell"].op_tree, max_depth=1)
