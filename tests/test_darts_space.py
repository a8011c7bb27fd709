"""The DARTS space: genotype text and compact form, validation, canonical keys, moves, and
TW features against exact optimal transport (``ot.emd2`` / ``ot.wasserstein_1d``)."""

from __future__ import annotations

import itertools
import pickle

import networkx as nx
import numpy as np
import ot
import pytest
import torch
from _darts_cells import DARTS_V2

from bo_nas import DARTSSpace, InvalidArchitectureError, TreeWassersteinKernel
from bo_nas.encodings import DARTS_OPS, Architecture, DARTSGenotype, darts_architecture
from bo_nas.spaces import NB201Space, space_from_config

TOL = 1e-9



@pytest.fixture(scope="module")
def space() -> DARTSSpace:
    return DARTSSpace()


def _relabel(cell: tuple, perm: tuple[int, ...], swaps: tuple[bool, ...]) -> tuple | None:
    """``cell`` with intermediate node ``perm[k]`` renamed ``2 + k`` and some nodes' edge
    pairs swapped, or None if the renaming is not topological."""
    new = {0: 0, 1: 1, **{old: 2 + k for k, old in enumerate(perm)}}
    edges: list = []
    for old, swap in zip(perm, swaps):
        pair = [cell[2 * (old - 2)], cell[2 * (old - 2) + 1]]
        if any(new[src] >= new[old] for _, src in pair):
            return None
        pair = [(op, new[src]) for op, src in pair]
        edges += pair[::-1] if swap else pair
    return tuple(edges)


# --- text and compact forms -------------------------------------------------------------


def test_darts_v2_text_round_trips(space: DARTSSpace) -> None:
    arch = space.from_string(DARTS_V2)
    assert space.to_string(arch) == DARTS_V2
    g = space.genotype(arch)
    assert g.normal[7] == ("dil_conv_3x3", 2) and g.reduce[2] == ("skip_connect", 2)
    # DARTS' own genotypes.py writes the concats as range(2, 6).
    ranged = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")
    assert space.from_string(ranged) == arch


def test_compact_form_is_nb301s(space: DARTSSpace) -> None:
    arch = space.from_string(DARTS_V2)
    normal, reduce = space.to_compact(arch)
    # (input, op index) with NB-301's order: max, avg, skip, sep3, sep5, dil3, dil5.
    assert normal[0] == (0, 3) and normal[7] == (2, 5)
    assert reduce[0] == (0, 0) and reduce[2] == (2, 2)
    assert space.from_compact((normal, reduce)) == arch
    by_name = ([(s, DARTS_OPS[o]) for s, o in normal], [[s, o] for s, o in reduce])
    assert space.from_compact(by_name) == arch


def test_json_pickle_and_config_round_trips(space: DARTSSpace) -> None:
    for seed in range(5):
        a = space.sample(seed)
        b = Architecture.from_json(a.to_json())
        assert b == a and space.to_string(b) == space.to_string(a)
        assert pickle.loads(pickle.dumps(a)) == a
    assert isinstance(space_from_config(space.to_config()), DARTSSpace)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "reads itself"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 7)"), "later node"),
        (DARTS_V2.replace("('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                          "('sep_conv_3x3', 0), ('sep_conv_3x3', 0)", 1), "twice"),
        (DARTS_V2.replace("dil_conv_3x3", "conv_7x7"), "unknown op"),
        (DARTS_V2.replace("dil_conv_3x3", "none"), "unknown op"),
        (DARTS_V2.replace(", ('dil_conv_3x3', 2)]", "]"), "expected 8"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]"), "concat"),
        (DARTS_V2.replace("Genotype(", "Genome("), "Genotype"),
        ("Genotype(normal=__import__('os').getcwd(), reduce=[])", "literal"),
        (DARTS_V2[:-5], "not a Genotype"),
        (DARTS_V2.replace("reduce_concat", "extra"), "unknown field"),
        ("Genotype(normal=[])", "missing field 'reduce'"),
    ],
)
def test_bad_genotypes_are_refused_by_name(space: DARTSSpace, text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        space.from_string(text)


def test_bad_compact_forms_are_refused() -> None:
    with pytest.raises(InvalidArchitectureError, match="op index 9"):
        DARTSGenotype.from_compact(([(0, 9)] * 8, [(0, 0)] * 8))
    with pytest.raises(InvalidArchitectureError, match="expected"):
        DARTSGenotype.from_compact("not a genotype")


def test_validate_refuses_other_graphs(space: DARTSSpace) -> None:
    nb201 = NB201Space().sample(0)
    with pytest.raises(InvalidArchitectureError):
        space.validate(nb201)
    arch = space.from_string(DARTS_V2)
    g = nx.DiGraph(arch.graph)
    g.add_node("extra", op="sep_conv_3x3")
    g.add_edge(("normal", 0), "extra")
    g.add_edge("extra", "out")
    with pytest.raises(InvalidArchitectureError, match="extra nodes"):
        space.validate(Architecture(g))
    assert space.contains(arch) and not space.contains(nb201)
    # And the other way round: mixed node names are an invalid cell, not a TypeError.
    with pytest.raises(InvalidArchitectureError, match="not an NB-201 cell"):
        NB201Space().validate(arch)


# --- canonical keys ---------------------------------------------------------------------


def test_equal_networks_have_equal_keys_and_features(space: DARTSSpace) -> None:
    """Every topological renumbering of the intermediate nodes and every swap of a node's
    two edges is the same network: same key, same canonical genotype, same features."""
    encoders = [space.encoder(), space.encoder(positions=True)]
    for seed in range(6):
        g = space.genotype(space.sample(seed))
        ref = darts_architecture(g)
        feats = [e.encode_one(ref) for e in encoders]
        variants = 0
        for perm in itertools.permutations(range(2, 6)):
            for swaps in itertools.product([False, True], repeat=4):
                normal = _relabel(g.normal, perm, swaps)
                if normal is None:
                    continue
                other = darts_architecture(DARTSGenotype(normal=normal, reduce=g.reduce))
                variants += 1
                assert other == ref
                assert space.genotype(other).canonical() == g.canonical()
                for enc, f in zip(encoders, feats):
                    np.testing.assert_allclose(enc.encode_one(other), f, atol=TOL)
        assert variants >= 16


def test_different_networks_have_different_keys(space: DARTSSpace) -> None:
    archs = space.sample_many(300, 0)
    assert len({a.key for a in archs}) == 300
    a = space.from_string(DARTS_V2)
    # The same cells with normal and reduction swapped are a different network.
    g = space.genotype(a)
    assert darts_architecture(DARTSGenotype(normal=g.reduce, reduce=g.normal)) != a
    # Swapping a node's two edges is not a new network.
    swapped = DARTSGenotype(normal=(g.normal[1], g.normal[0], *g.normal[2:]), reduce=g.reduce)
    assert darts_architecture(swapped) == a
    # Nodes 2 and 3 of DARTS-V2's normal cell are identical, so reading either is equal...
    symmetric = DARTSGenotype(normal=(*g.normal[:7], ("dil_conv_3x3", 3)), reduce=g.reduce)
    assert darts_architecture(symmetric) == a
    # ...but reading node 4 is not, nor is another op.
    for edge in (("dil_conv_3x3", 4), ("dil_conv_5x5", 2)):
        other = DARTSGenotype(normal=(*g.normal[:7], edge), reduce=g.reduce)
        assert darts_architecture(other) != a


# --- sampling and moves -----------------------------------------------------------------


def test_sample_is_seeded_and_covers_every_input_pair(space: DARTSSpace) -> None:
    assert space.sample(3) == space.sample(3)
    pairs: dict[int, set] = {i: set() for i in range(2, 6)}
    for a in space.sample_many(400, 1):
        g = space.genotype(a)
        for cell in (g.normal, g.reduce):
            for step in range(4):
                pairs[step + 2].add(frozenset((cell[2 * step][1], cell[2 * step + 1][1])))
    assert {i: len(p) for i, p in pairs.items()} == {2: 1, 3: 3, 4: 6, 5: 10}


def test_neighbours_are_one_move_away_and_distinct(space: DARTSSpace) -> None:
    a = space.from_string(DARTS_V2)
    g = space.genotype(a)
    nbrs = space.neighbours(a)
    assert len({b.key for b in nbrs}) == len(nbrs) and a not in nbrs
    for b in nbrs:
        h = space.genotype(b)
        # One edge differs in one cell (the genotypes are built edge for edge).
        diff = [(x, y) for c1, c2 in ((g.normal, h.normal), (g.reduce, h.reduce))
                for x, y in zip(c1, c2) if x != y]
        assert len(diff) == 1
    # Op changes: 2 cells x 8 edges x 6 other ops; rewires: 2 x (0+2+4+6); minus moves
    # that give an equal network (DARTS-V2 has symmetric nodes, so some coincide).
    assert 100 <= len(nbrs) <= 2 * 8 * 6 + 2 * 12
    generic = space.sample(11)
    assert len(space.neighbours(generic)) == 120


def test_mutate_moves_and_is_seeded(space: DARTSSpace) -> None:
    a = space.sample(0)
    nbr_keys = {b.key for b in space.neighbours(a)}
    for seed in range(20):
        b = space.mutate(a, seed)
        assert b.key in nbr_keys
        assert space.mutate(a, seed) == b
    assert space.mutate(a, 0, steps=3) != a


# --- TW features against exact OT ---------------------------------------------------------


def _tree_metric(space: DARTSSpace) -> np.ndarray:
    t = space.op_tree.tree.to_undirected()
    d = dict(nx.all_pairs_dijkstra_path_length(t, weight="weight"))
    return np.array([[d[a][b] for b in DARTS_OPS] for a in DARTS_OPS])


def _histogram(cell: tuple) -> np.ndarray:
    h = np.zeros(len(DARTS_OPS))
    for op, _ in cell:
        h[DARTS_OPS.index(op)] += 1 / 8
    return h


def _degree_measures(cell: tuple) -> tuple[np.ndarray, np.ndarray]:
    depth = [0, 0]
    for step in range(4):
        depth.append(1 + max(depth[cell[2 * step][1]], depth[cell[2 * step + 1][1]]))
    inm, outm = np.zeros(5), np.zeros(5)
    for k, (_, src) in enumerate(cell):
        inm[depth[2 + k // 2]] += 1 / 8
        outm[depth[src]] += 1 / 8
    return inm, outm


def _blocks(enc: object, x: np.ndarray) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, size in zip(enc.block_names, enc.block_sizes):  # type: ignore[attr-defined]
        out[name] = x[start:start + size]
        start += size
    return out


def test_histogram_and_degree_blocks_equal_exact_ot(space: DARTSSpace) -> None:
    enc = space.encoder()
    assert enc.block_names == (
        "normal_ops", "normal_in_degree", "normal_out_degree",
        "reduce_ops", "reduce_in_degree", "reduce_out_degree",
    )
    metric = _tree_metric(space)
    positions = np.arange(5, dtype=float)
    archs = space.sample_many(30, 4)
    rng = np.random.default_rng(1000)
    for i, j in rng.integers(len(archs), size=(40, 2)):
        a, b = archs[i], archs[j]
        fa, fb = _blocks(enc, enc.encode_one(a)), _blocks(enc, enc.encode_one(b))
        ga, gb = space.genotype(a), space.genotype(b)
        for kind in ("normal", "reduce"):
            ca, cb = ga.cell(kind), gb.cell(kind)
            exact = ot.emd2(_histogram(ca), _histogram(cb), metric)
            tw = np.abs(fa[f"{kind}_ops"] - fb[f"{kind}_ops"]).sum()
            assert tw == pytest.approx(exact, abs=TOL)
            (ia, oa), (ib, ob) = _degree_measures(ca), _degree_measures(cb)
            for name, u, v in (("in_degree", ia, ib), ("out_degree", oa, ob)):
                w1 = ot.wasserstein_1d(positions, positions, u, v, p=1)
                got = np.abs(fa[f"{kind}_{name}"] - fb[f"{kind}_{name}"]).sum()
                assert got == pytest.approx(w1, abs=TOL)


def test_position_blocks_equal_slotwise_transport(space: DARTSSpace) -> None:
    enc = space.encoder(positions=True)
    metric = _tree_metric(space)
    archs = space.sample_many(20, 5)
    for a, b in itertools.combinations(archs[:12], 2):
        fa, fb = _blocks(enc, enc.encode_one(a)), _blocks(enc, enc.encode_one(b))
        for kind in ("normal", "reduce"):
            ca = space.genotype(a).canonical().cell(kind)
            cb = space.genotype(b).canonical().cell(kind)
            ops_cost = sum(metric[DARTS_OPS.index(x), DARTS_OPS.index(y)]
                           for (x, _), (y, _) in zip(ca, cb)) / 8
            got = np.abs(fa[f"{kind}_positions"] - fb[f"{kind}_positions"]).sum()
            assert got == pytest.approx(ops_cost, abs=TOL)
            wiring = sum(abs(s - t) for (_, s), (_, t) in zip(ca, cb)) / 8
            got = np.abs(fa[f"{kind}_inputs"] - fb[f"{kind}_inputs"]).sum()
            assert got == pytest.approx(wiring, abs=TOL)
    assert enc.slots is not None and len(enc.slots(archs[0])) == enc.n_slots == 16


def test_default_tree_distances(space: DARTSSpace) -> None:
    t = space.op_tree
    assert t.distance("sep_conv_3x3", "sep_conv_5x5") == pytest.approx(0.5)
    assert t.distance("sep_conv_3x3", "dil_conv_3x3") == pytest.approx(1.5)
    assert t.distance("max_pool_3x3", "avg_pool_3x3") == pytest.approx(1.0)
    assert t.distance("sep_conv_3x3", "max_pool_3x3") == pytest.approx(3.25)
    assert t.distance("skip_connect", "max_pool_3x3") == pytest.approx(3.0)
    with pytest.raises(ValueError, match="2-gram"):
        space.encoder(ngrams=True)


def test_features_drive_a_botorch_gp(space: DARTSSpace) -> None:
    """The README's library snippet with the DARTS space: plain tensors into SingleTaskGP."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.kernels import ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    enc = space.encoder()
    archs = space.sample_many(40, 7)
    X = torch.tensor(enc.encode(archs))
    # A smooth function of the features: the GP must fit it better than the mean does.
    w = torch.linspace(-1, 1, X.shape[1], dtype=torch.float64)
    y = (X @ w).unsqueeze(-1)
    gp = SingleTaskGP(X[:30], y[:30],
                      covar_module=ScaleKernel(TreeWassersteinKernel(enc.block_sizes)))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    pred = gp.posterior(X[30:]).mean
    rmse = (pred - y[30:]).pow(2).mean().sqrt()
    assert rmse < 0.5 * (y[30:] - y[:30].mean()).pow(2).mean().sqrt()
