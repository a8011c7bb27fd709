"""Baseline strategies, the path encoding and WL features.

Encodings are checked against hand-counted examples; strategies run real campaigns on
the NB-201 tables (skipped without ``$BO_NAS_DATA_DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bo_nas._history import History
from bo_nas._registry import strategy_from_config
from bo_nas.campaign import Campaign
from bo_nas.encodings import (
    Architecture,
    PathEncoder,
    WLFeaturizer,
    count_paths,
    nb101_architecture,
    op_paths,
)
from bo_nas.evaluators._tables import DATA_DIR_ENV
from bo_nas.kernels import WLKernel
from bo_nas.spaces import NB201Space
from bo_nas.strategies import (
    BananasStrategy,
    LocalSearch,
    NasBowlStrategy,
    PoolConfig,
    RandomSearch,
    RegularizedEvolution,
    Strategy,
    builtin_strategies,
)
from bo_nas.strategies._bananas import path_encoder_for
from bo_nas.strategies._pool import NeighbourCache, candidate_pool

needs_data = pytest.mark.skipif(
    not os.environ.get(DATA_DIR_ENV), reason=f"${DATA_DIR_ENV} is not set"
)

SMALL_POOL = {"top_k": 3, "n_random": 30, "two_step": 3, "whole_space": False}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # The models here are tiny: on a busy 2-core runner a second intra-op thread only
    # spins and slows every step several-fold. Restored after the module.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cell(ops: list[str], edges: list[tuple[int, int]]) -> Architecture:
    return Architecture.from_edges(ops, edges)


# --- path encoding ----------------------------------------------------------------------


def test_path_encoding_of_a_hand_built_cell() -> None:
    # input(0) → a(1) → b(2) → output(3), plus input → b and input → output:
    # paths (a, b), (b,), () — three paths, each a distinct sequence.
    arch = cell(["input", "a", "b", "output"], [(0, 1), (1, 2), (2, 3), (0, 2), (0, 3)])
    assert sorted(op_paths(arch)) == [(), ("a", "b"), ("b",)]
    assert count_paths(arch) == 3
    enc = PathEncoder(("a", "b"), max_length=2)
    assert enc.dim == 1 + 2 + 4
    # Column = offset of the length + base-2 digits: () → 0, (b,) → 1 + 1, (a, b) → 3 + 1.
    expected = np.zeros(7)
    expected[[0, 2, 4]] = 1.0
    np.testing.assert_array_equal(enc.encode_one(arch), expected)


def test_path_encoding_counts_repeated_sequences_and_truncates() -> None:
    # Diamond: input → a → output twice through two 'a' nodes: one sequence, two paths.
    arch = cell(["input", "a", "a", "output"], [(0, 1), (0, 2), (1, 3), (2, 3)])
    assert count_paths(arch) == 2
    onehot = PathEncoder(("a",), max_length=1).encode_one(arch)
    counts = PathEncoder(("a",), max_length=1, counts=True).encode_one(arch)
    assert onehot.tolist() == [0.0, 1.0] and counts.tolist() == [0.0, 2.0]
    # A 2-op path is dropped when max_length is 1.
    chain = cell(["input", "a", "a", "output"], [(0, 1), (1, 2), (2, 3)])
    assert PathEncoder(("a",), max_length=1).encode_one(chain).sum() == 0


def test_path_encoding_of_nb101_cell_and_dead_nodes() -> None:
    # 0 → 1 → 2 → 6, 0 → 3 → 6, 0 → 6; node 4 is fed but feeds nothing (dead), 5 unused.
    m = np.zeros((7, 7), dtype=int)
    for i, j in [(0, 1), (1, 2), (2, 6), (0, 3), (3, 6), (0, 6), (1, 4)]:
        m[i, j] = 1
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3",
           "conv3x3-bn-relu", "maxpool3x3", "output"]
    arch = nb101_architecture(m, ops)
    assert sorted(op_paths(arch)) == [
        (), ("conv3x3-bn-relu", "conv1x1-bn-relu"), ("maxpool3x3",)
    ]
    enc = PathEncoder(("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"), max_length=5)
    assert enc.dim == 364  # BANANAS' NB-101 path encoding: sum of 3**i, i = 0..5
    assert enc.encode_one(arch).sum() == 3


def test_path_encoding_equal_for_isomorphic_nb201_cells() -> None:
    space = NB201Space()
    enc = path_encoder_for(space)
    assert enc.dim == 1 + 4 + 16 + 64
    # With edge 2←1 'none', nodes 1 and 2 are interchangeable: swap their edges.
    a = space.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|"
                          "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    b = space.from_string("|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|"
                          "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert a.key == b.key
    np.testing.assert_array_equal(enc.encode_one(a), enc.encode_one(b))
    # A full cell has 4 input → output paths: direct, via 1, via 2, via 1 and 2.
    full = space.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                             "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert count_paths(full) == 4
    # Paths (skip), (conv3, conv3) twice, (conv3, conv3, conv3): three sequences.
    assert enc.encode_one(full).sum() == 3
    # Relabelled nodes of a generic cell encode the same.
    x = cell(["input", "p", "q", "output"], [(0, 1), (1, 2), (2, 3), (0, 3)])
    y = cell(["output", "q", "input", "p"], [(2, 3), (3, 1), (1, 0), (2, 0)])
    e2 = PathEncoder(("p", "q"), max_length=2)
    np.testing.assert_array_equal(e2.encode_one(x), e2.encode_one(y))


def test_path_encoder_rejects_unknown_ops_and_huge_layouts() -> None:
    arch = cell(["input", "z", "output"], [(0, 1), (1, 2)])
    with pytest.raises(ValueError, match="not among"):
        PathEncoder(("a",), max_length=2).encode_one(arch)
    with pytest.raises(ValueError, match="max_length"):
        PathEncoder(tuple("abcdefghij"), max_length=8)


# --- WL features ------------------------------------------------------------------------


def wl_graphs() -> list[Architecture]:
    g1 = cell(["input", "conv", "output"], [(0, 1), (1, 2)])
    g2 = cell(["input", "pool", "output"], [(0, 1), (1, 2)])
    g3 = cell(["input", "conv", "pool", "output"], [(0, 1), (1, 2), (2, 3)])
    return [g1, g2, g3]


def test_wl_kernel_matches_hand_computed_counts() -> None:
    # h = 1, in-neighbours. Iteration 0: op labels. Iteration 1 labels (label(preds)):
    #   g1: input(), conv(input), output(conv)
    #   g2: input(), pool(input), output(pool)
    #   g3: input(), conv(input), pool(conv), output(pool)
    # Inner products (it. 0 + it. 1): <g1,g1> = 3 + 3, <g1,g2> = 2 + 1,
    # <g1,g3> = 3 + 2, <g2,g3> = 3 + 2 (output(pool) is shared), <g3,g3> = 4 + 4.
    graphs = wl_graphs()
    wl = WLFeaturizer(h=1, direction="in")
    X = wl.fit_transform(graphs)
    expected = np.array([[6, 3, 5], [3, 6, 5], [5, 5, 8]], dtype=float)
    np.testing.assert_array_equal(X @ X.T, expected)
    # Dictionary: 4 op labels + 6 distinct iteration-1 labels.
    assert len(wl.vocabulary) == 10
    # h = 0 is the op histogram; labels of a graph not fitted on are dropped.
    wl0 = WLFeaturizer(h=0).fit(graphs[:1])
    assert wl0.transform(graphs[1:2]).sum() == 2  # input and output only


def test_wl_features_are_invariant_to_node_names_and_sorted_multisets() -> None:
    # Two preds of 'output': the multiset {conv, pool} must not depend on node order.
    a = cell(["input", "conv", "pool", "output"], [(0, 1), (0, 2), (1, 3), (2, 3)])
    b = cell(["input", "pool", "conv", "output"], [(0, 1), (0, 2), (1, 3), (2, 3)])
    wl = WLFeaturizer(h=3, direction="both")
    X = wl.fit_transform([a, b])
    np.testing.assert_array_equal(X[0], X[1])


def test_wl_kernel_is_normalised_linear() -> None:
    X = torch.as_tensor(WLFeaturizer(h=2).fit_transform(wl_graphs()))
    K = WLKernel()(X).to_dense()
    norms = X.norm(dim=-1)
    torch.testing.assert_close(K, (X @ X.T) / torch.outer(norms, norms))
    torch.testing.assert_close(WLKernel()(X, diag=True), torch.ones(3, dtype=X.dtype))


# --- strategies on NB-201 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def bench():
    from bo_nas.evaluators import NB201Benchmark

    if not os.environ.get(DATA_DIR_ENV):
        pytest.skip(f"${DATA_DIR_ENV} is not set")
    return NB201Benchmark("cifar100")


def small_strategies() -> dict[str, Strategy]:
    return {
        "random": RandomSearch(),
        "evolution": RegularizedEvolution(population_size=10, sample_size=3),
        "local-search": LocalSearch(n_init=5),
        "bananas": BananasStrategy(
            n_init=6, pool=SMALL_POOL, ensemble={"epochs": 30, "n_models": 3, "width": 16}
        ),
        "nasbowl": NasBowlStrategy(n_init=6, h_values=(0, 2), pool=SMALL_POOL),
    }


BUDGET = {"random": 30, "evolution": 30, "local-search": 30, "bananas": 9, "nasbowl": 9}


def run(strategy: Strategy, bench, budget: int, seed: int, batch: int = 1) -> History:
    with Campaign(NB201Space(), bench, strategy, seed=seed) as c:
        return c.run(budget, batch_size=batch)


@needs_data
@pytest.mark.parametrize("name", list(BUDGET))
def test_campaign_is_distinct_and_deterministic(name: str, bench) -> None:
    budget = BUDGET[name]
    h1 = run(small_strategies()[name], bench, budget, seed=3)
    h2 = run(small_strategies()[name], bench, budget, seed=3)
    keys = [t.arch.key for t in h1]
    assert len(h1.complete) == budget
    assert len(set(keys)) == budget
    assert keys == [t.arch.key for t in h2]
    # The config names the strategy and rebuilds it.
    cfg = small_strategies()[name].to_config()
    assert cfg["name"] == name
    assert strategy_from_config(cfg).to_config() == cfg


@needs_data
@pytest.mark.parametrize("name", list(BUDGET))
def test_batch_proposals_are_distinct_and_unseen(name: str, bench) -> None:
    strategy = small_strategies()[name]
    with Campaign(NB201Space(), bench, RandomSearch(), seed=1) as c:
        c.run(10)
        history = c.history
    strategy.setup(NB201Space())
    batch = strategy.propose(history, 6, np.random.default_rng(0))
    keys = [a.key for a in batch]
    assert len(batch) == 6 and len(set(keys)) == 6
    assert not set(keys) & history.keys


@needs_data
def test_local_search_resumes_to_the_same_proposals(bench, tmp_path: Path) -> None:
    # Its state (run start, centre, neighbour order) must survive a restart of the process.
    path = tmp_path / "ls.sqlite"
    with Campaign(NB201Space(), bench, LocalSearch(n_init=5), seed=7, store=path) as c:
        c.run(25)
    with Campaign.resume(path, evaluator=bench) as c:
        resumed = [t.arch.key for t in c.run(60)]
    straight = [t.arch.key for t in run(LocalSearch(n_init=5), bench, 60, seed=7)]
    assert resumed == straight


@needs_data
def test_evolution_population_is_the_youngest_complete_trials(bench) -> None:
    evo = RegularizedEvolution(population_size=10, sample_size=3)
    history = run(evo, bench, 25, seed=0)
    assert [t.number for t in evo.population(history)] == list(range(15, 25))


@needs_data
def test_local_search_and_evolution_beat_random_search(bench) -> None:
    # Mean best validation accuracy over 4 seeds at 100 queries; on CIFAR-100 random
    # search sits ~1 point below both (measured margin far above seed noise).
    def mean_best(make) -> float:
        return float(np.mean([run(make(), bench, 100, seed=s).best().value for s in range(4)]))

    rand = mean_best(RandomSearch)
    assert mean_best(lambda: LocalSearch()) > rand
    assert mean_best(lambda: RegularizedEvolution()) > rand


@needs_data
def test_cached_pool_equals_candidate_pool(bench) -> None:
    space = NB201Space()
    history = run(RandomSearch(), bench, 40, seed=2)
    config = PoolConfig(top_k=4, n_random=20, two_step=5)
    a = candidate_pool(space, history, np.random.default_rng(9), config)
    b = candidate_pool(space, history, np.random.default_rng(9), config,
                       NeighbourCache(space))
    assert [x.key for x in a] == [x.key for x in b]


def test_strategy_settings_are_validated() -> None:
    bad = [
        lambda: RegularizedEvolution(population_size=5, sample_size=6),
        lambda: RegularizedEvolution(mutation_steps=0),
        lambda: LocalSearch(n_init=0),
        lambda: BananasStrategy(ensemble={"n_models": 0}),
        lambda: NasBowlStrategy(h_values=(-1,)),
        lambda: NasBowlStrategy(direction="sideways"),  # type: ignore[arg-type]
    ]
    for make in bad:
        with pytest.raises(ValueError):
            make()
    assert set(BUDGET) <= set(builtin_strategies())
