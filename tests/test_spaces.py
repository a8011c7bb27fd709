"""Search spaces: sampling, moves, determinism, validation and configs.

Neighbourhoods are checked against an independent enumeration of one-move changes.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from bo_nas.encodings import (
    INPUT,
    NB101_OPS,
    NB201_OPS,
    OUTPUT,
    Architecture,
    InvalidArchitectureError,
    OpTree,
    format_nb201,
)
from bo_nas.spaces import CellSpace, NB101Space, NB201Space, SearchSpace, space_from_config

USER_TREE = OpTree.from_groups(
    {"conv": ["conv3x3", "conv5x5", "sep3x3"], "pool": ["maxpool"], "id": ["identity"]}
)


def user_space() -> CellSpace:
    return CellSpace(
        ["conv3x3", "conv5x5", "sep3x3", "maxpool", "identity"],
        n_nodes=6, max_edges=7, op_tree=USER_TREE, name="mine",
    )


SPACES = {"nb201": NB201Space, "nb101": NB101Space, "user": user_space}


@pytest.fixture(params=sorted(SPACES))
def space(request) -> SearchSpace:
    return SPACES[request.param]()


def description(space: SearchSpace, arch: Architecture) -> tuple:
    """The space's own coordinates: NB-201 edge ops, or matrix entries then node ops."""
    if isinstance(space, NB201Space):
        return space.edge_ops(arch)
    m, ops = space.to_matrix(arch)
    return (*m[np.triu_indices(m.shape[0], 1)].tolist(), *ops)


def n_changes(space: SearchSpace, a: Architecture, b: Architecture) -> int:
    da, db = description(space, a), description(space, b)
    assert len(da) == len(db)
    return sum(x != y for x, y in zip(da, db))


def test_samples_are_valid_in_space_and_deterministic(space: SearchSpace) -> None:
    a = [space.sample(np.random.default_rng(5)) for _ in range(2)]
    assert a[0].key == a[1].key and description(space, a[0]) == description(space, a[1])
    gen1, gen2 = np.random.default_rng(9), np.random.default_rng(9)
    s1 = [space.sample(gen1) for _ in range(30)]
    s2 = [space.sample(gen2) for _ in range(30)]
    assert [description(space, x) for x in s1] == [description(space, x) for x in s2]
    assert len({x.key for x in s1}) > 10  # it does vary
    for arch in s1:
        assert space.validate(arch) is arch and space.contains(arch)


def test_sample_many_is_distinct_excludes_and_reproduces(space: SearchSpace) -> None:
    exclude = space.sample_many(10, 1)
    archs = space.sample_many(40, np.random.default_rng(2), exclude=exclude)
    assert len(archs) == 40
    keys = [a.key for a in archs]
    assert len(set(keys)) == 40
    assert not set(keys) & {a.key for a in exclude}
    again = space.sample_many(40, np.random.default_rng(2), exclude=exclude)
    assert [a.key for a in again] == keys


def test_mutate_changes_exactly_one_thing(space: SearchSpace) -> None:
    rng = np.random.default_rng(3)
    for arch in space.sample_many(12, rng):
        child = space.mutate(arch, rng)
        assert space.contains(child)
        assert child.key != arch.key
        assert n_changes(space, arch, child) == 1
        two = space.mutate(arch, rng, steps=2)
        assert space.contains(two) and n_changes(space, arch, two) <= 2
    arch = space.sample(0)
    assert space.mutate(arch, 7).key == space.mutate(arch, 7).key
    assert space.mutate(arch, 7, steps=0) is arch


def test_neighbours_are_distinct_valid_and_exclude_the_arch(space: SearchSpace) -> None:
    for arch in space.sample_many(10, np.random.default_rng(4)):
        nbrs = space.neighbours(arch)
        keys = [b.key for b in nbrs]
        assert nbrs and len(set(keys)) == len(keys) and arch.key not in keys
        for b in nbrs:
            assert space.contains(b) and n_changes(space, arch, b) == 1
        assert [b.key for b in space.neighbours(arch)] == keys  # deterministic


def test_nb201_neighbours_equal_all_single_edge_changes() -> None:
    space = NB201Space()
    for arch in space.sample_many(20, np.random.default_rng(6)):
        ops = space.edge_ops(arch)
        expected = set()
        for k, op in itertools.product(range(6), NB201_OPS):
            if op != ops[k]:
                expected.add(space.from_string(format_nb201([*ops[:k], op, *ops[k + 1:]])).key)
        expected.discard(arch.key)
        assert {b.key for b in space.neighbours(arch)} == expected
        assert len(space.neighbours(arch)) <= 24


def _valid_cell(m: np.ndarray, ops: list[str], max_edges: int) -> Architecture | None:
    """Independent validity: a path input → output and at most `max_edges` live edges."""
    g = nx.DiGraph()
    g.add_nodes_from((i, {"op": op}) for i, op in enumerate(ops))
    g.add_edges_from(zip(*np.nonzero(m)))
    n = len(ops)
    if not nx.has_path(g, 0, n - 1):
        return None
    live = (nx.descendants(g, 0) | {0}) & (nx.ancestors(g, n - 1) | {n - 1})
    if g.subgraph(live).number_of_edges() > max_edges:
        return None
    return Architecture(g)


@pytest.mark.parametrize("name", ["nb101", "user"])
def test_cell_neighbours_equal_all_valid_single_changes(name: str) -> None:
    space = SPACES[name]()
    for arch in space.sample_many(8, np.random.default_rng(8)):
        m, ops = space.to_matrix(arch)
        n = len(ops)
        expected = set()
        for i, j in itertools.combinations(range(n), 2):
            m2 = m.copy()
            m2[i, j] = 1 - m2[i, j]
            b = _valid_cell(m2, list(ops), space.max_edges)
            expected |= {b.key} if b else set()
        for k, op in itertools.product(range(1, n - 1), space.ops):
            b = _valid_cell(m, [*ops[:k], op, *ops[k + 1:]], space.max_edges)
            expected |= {b.key} if b and op != ops[k] else set()
        expected.discard(arch.key)
        assert {b.key for b in space.neighbours(arch)} == expected


def test_nb201_strings_and_enumeration() -> None:
    space = NB201Space()
    s = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    a = space.from_string(s)
    assert space.to_string(a) == s and a.meta["string"] == s
    first = list(itertools.islice(space.enumerate(), 50))
    assert space.to_string(first[0]) == format_nb201(["none"] * 6)
    assert len({space.to_string(x) for x in first}) == 50
    assert space.n_cells == 15_625


def test_user_cell_space_uses_its_ops_node_count_and_tree() -> None:
    space = user_space()
    assert space.op_tree is USER_TREE and space.n_nodes == 6 and space.max_edges == 7
    for arch in space.sample_many(30, np.random.default_rng(0)):
        m, ops = space.to_matrix(arch)
        assert m.shape == (6, 6) and set(ops[1:-1]) <= set(space.ops)
        assert arch.pruned.number_of_edges() <= 7
    enc = space.encoder()
    assert enc.tree is USER_TREE and enc.block_sizes[0] == USER_TREE.dim
    # One op change costs its tree distance over the number of ops: near ops stay near.
    m = np.zeros((6, 6), dtype=int)
    m[0, 1] = m[1, 2] = m[2, 3] = m[3, 4] = m[4, 5] = 1

    def cell(op: str) -> Architecture:
        return space.from_matrix(m, [INPUT, "conv3x3", op, "conv3x3", "maxpool", OUTPUT])

    x = enc.encode([cell("conv3x3"), cell("conv5x5"), cell("maxpool")])
    d_near, d_far = np.abs(x[0] - x[1]).sum(), np.abs(x[0] - x[2]).sum()
    assert d_near == pytest.approx(USER_TREE.distance("conv3x3", "conv5x5") / 4)
    assert d_far == pytest.approx(USER_TREE.distance("conv3x3", "maxpool") / 4)
    assert d_near < d_far


def test_default_tree_is_flat_and_positions_encoder_has_slots() -> None:
    space = CellSpace(["a", "b"], n_nodes=4, max_edges=5)
    assert space.op_tree.distance("a", "b") == pytest.approx(2.0)
    enc = space.encoder(positions=True)
    assert enc.block_names[0] == "positions" and enc.block_sizes[0] == 2 * space.op_tree.dim


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ops": []}, "ops"),
        ({"ops": "abc"}, "ops"),
        ({"ops": ["a", "a"]}, "duplicate"),
        ({"ops": ["a", "input"]}, "reserved"),
        ({"ops": ["a", ""]}, "non-empty"),
        ({"n_nodes": 1}, "n_nodes"),
        ({"n_nodes": 3.0}, "n_nodes"),
        ({"n_nodes": 40}, "at most 32"),
        ({"max_edges": 0}, "max_edges"),
        ({"op_tree": OpTree.from_groups({"g": ["a"]})}, "lacks leaves"),
    ],
)
def test_cell_space_arguments_are_checked(kwargs: dict, match: str) -> None:
    args = {"ops": ["a", "b"], "n_nodes": 4, "max_edges": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        CellSpace(args["ops"], args["n_nodes"], args["max_edges"], args.get("op_tree"))


def test_validate_rejects_cells_of_other_spaces() -> None:
    nb101, user, nb201 = NB101Space(), user_space(), NB201Space()
    chain7 = nb101.from_matrix(np.eye(7, k=1, dtype=int), [INPUT, *[NB101_OPS[0]] * 5, OUTPUT])
    with pytest.raises(ValueError, match="2 to 6 nodes"):
        user.validate(chain7)
    with pytest.raises(ValueError, match="unknown op"):
        nb101.validate(user.sample(0))
    with pytest.raises(ValueError, match="not an NB-201 cell"):
        nb201.validate(chain7)
    assert not nb201.contains(chain7) and not user.contains(chain7)
    with pytest.raises(InvalidArchitectureError, match="budget of 7"):
        user.from_matrix(np.triu(np.ones((6, 6), dtype=int), 1),
                         [INPUT, *["conv3x3"] * 4, OUTPUT])
    renamed = nx.relabel_nodes(chain7.graph, {v: f"n{v}" for v in chain7.graph})
    with pytest.raises(ValueError, match=r"0\.\.n-1"):
        nb101.validate(Architecture(renamed))


def test_configs_round_trip(space: SearchSpace) -> None:
    again = space_from_config(space.to_config())
    assert type(again) is type(space) and again.to_config() == space.to_config()
    arch = space.sample(11)
    assert again.contains(arch)
    np.testing.assert_array_equal(again.encoder().encode([arch]), space.encoder().encode([arch]))


@pytest.mark.parametrize(
    "config", [{}, {"name": "nope"}, {"name": "cell", "ops": ["a"]}, "nb201"]
)
def test_bad_configs_raise_value_error(config) -> None:
    with pytest.raises(ValueError):
        space_from_config(config)


def test_bad_seed_raises_value_error() -> None:
    with pytest.raises(ValueError, match="rng"):
        NB201Space().sample("seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative"):
        NB201Space().sample(-1)


def test_nb201_disconnected_cells_are_those_with_no_input_output_path() -> None:
    # Oracle: a path in the cell's own DAG, where a `none` edge carries no arc.
    space = NB201Space()
    cells = list(space.enumerate())
    got = [space.disconnected(a) for a in cells]
    want = [not nx.has_path(a.graph, 0, 7) for a in cells]
    assert got == want
    assert 0 < sum(got) < len(cells)
    assert space.disconnected(space.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    # Connected only through the intermediate nodes still counts as connected.
    assert not space.disconnected(
        space.from_string("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    )


def test_other_spaces_and_wrappers_answer_disconnected() -> None:
    from bo_nas.spaces import SubsetSpace

    nb101 = NB101Space()
    assert not any(nb101.disconnected(a) for a in nb101.sample_many(20, 0))
    base = NB201Space()
    dead = base.from_string("|none~0|+|avg_pool_3x3~0|none~1|+|none~0|none~1|none~2|")
    live = base.from_string("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    subset = SubsetSpace(base, [dead, live])
    assert subset.disconnected(dead) and not subset.disconnected(live)
