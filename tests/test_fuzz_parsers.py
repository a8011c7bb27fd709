"""Property-based robustness of every parser: parse, or raise a ValueError that says why.

Each test feeds one parser 1,000 generated inputs, a mix of near-valid ones (a valid
value with one mutation, matrices of the right shape with random bits, configs with one
field replaced) that reach deep code, and arbitrary ones. The contract under test:

- the parser returns a value, and then the value round-trips (parse ∘ format = id) or
  satisfies the parser's documented invariants; or
- it raises a ``ValueError`` (bo-nas errors such as ``InvalidArchitectureError`` and
  ``BenchmarkTableError`` derive from it) whose message is not empty and names the
  input's kind; nothing else escapes (no KeyError, TypeError, RecursionError, ...).

Hypothesis runs derandomised (fixed examples for CI) and without a database.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_bad_tables import (
    ACC_COLUMNS,
    CELLS,
    FID_COLUMNS,
    HW_COLUMNS,
    NB101_CELLS,
    ZC_COLUMNS,
    acc_rows,
    fid_rows,
    hw_rows,
    nb101_key,
    nb101_table,
    string_of,
    trainval,
    write_data_dir,
    zc_rows,
)

from bo_nas._registry import evaluator_from_config, strategy_from_config
from bo_nas.encodings import (
    INPUT,
    NB101_OPS,
    NB201_OPS,
    OUTPUT,
    Architecture,
    OpTree,
    decode_nb101_key,
    format_nb201,
    nb101_architecture,
    nb201_architecture,
    parse_nb201,
)
from bo_nas.evaluators import (
    EvaluationError,
    EvaluationResult,
    NB101Benchmark,
    NB201Benchmark,
)
from bo_nas.evaluators._cost_model import fit_costs as _fit_costs
from bo_nas.evaluators._nb101_table import _read_nb101
from bo_nas.evaluators._nb201_readers import read_accuracy_csv as _read_accuracy_csv
from bo_nas.evaluators._nb201_readers import read_fidelity_csv as _read_fidelity_csv
from bo_nas.evaluators._nb201_readers import read_hw as _read_hw
from bo_nas.evaluators._nb201_readers import read_trainval_json as _read_trainval_json
from bo_nas.evaluators._tables import BenchmarkFileNotFoundError, clear_cache
from bo_nas.spaces import CellSpace, NB101Space, NB201Space, space_from_config

N = 1000
FUZZ = settings(
    max_examples=N,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def outcome(parse: Callable[[], Any], names: str) -> Any | None:
    """``parse()``'s value, or None when it raised a ValueError naming the problem.

    Args:
        parse: The call under test.
        names: Regex one of whose words the message must contain (the input's kind or
            field), so a bare "invalid literal" or an empty message fails the test.
    """
    try:
        value = parse()
    except ValueError as exc:
        event(f"refused: {type(exc).__name__}")
        msg = str(exc)
        assert msg.strip(), f"{type(exc).__name__} without a message"
        assert re.search(names, msg, re.IGNORECASE), f"{type(exc).__name__}: {msg}"
        return None
    event("parsed")
    return value


# --- shared strategies -------------------------------------------------------------------

scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(-3, 10)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
)
#: JSON-like values: what a stored config or a JSON file can hold.
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=4),
    max_leaves=6,
)
#: Values JSON cannot hold but a Python caller can pass.
python_values = (
    json_values | st.binary(max_size=12) | st.tuples(scalars, scalars)
    | st.sets(st.integers(), max_size=3) | st.just(object()) | st.just(np.arange(3))
    | st.integers(min_value=10**400, max_value=10**401) | st.just(nx.DiGraph())
)

#: What a stored (JSON) config or result can hold, plus integers too long for a float.
stored_values = json_values | st.integers(min_value=10**400, max_value=10**401)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` four times in five, else ``other``: keeps most inputs near-valid."""
    return st.integers(0, 4).flatmap(lambda k: other if k == 0 else valid)


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[str], alphabet: str) -> str:
    """A string from ``base`` with one character-level edit."""
    s = draw(base)
    i = draw(st.integers(0, len(s)))
    c = draw(st.sampled_from(alphabet) | st.characters())
    edit = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate",
                                 "swap", "none"]))
    if edit == "insert":
        return s[:i] + c + s[i:]
    if edit == "delete":
        return s[:i] + s[i + 1:]
    if edit == "replace":
        return s[:i] + c + s[i + 1:]
    if edit == "truncate":
        return s[:i]
    if edit == "duplicate":
        j = draw(st.integers(i, len(s)))
        return s[:j] + s[i:j] + s[j:]
    if edit == "swap" and len(s) > 1:
        j = draw(st.integers(0, len(s) - 1))
        chars = list(s)
        chars[min(i, len(s) - 1)], chars[j] = chars[j], chars[min(i, len(s) - 1)]
        return "".join(chars)
    return s


# --- NB-201 strings ----------------------------------------------------------------------

nb201_ops = st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6)
nb201_strings = nb201_ops.map(format_nb201)


@st.composite
def token_mutations(draw: st.DrawFn) -> str:
    """A valid string with one token replaced (bad op, bad index, empty, extra)."""
    s = draw(nb201_strings)
    parts = s.split("|")
    k = draw(st.sampled_from([i for i, p in enumerate(parts) if "~" in p]))
    op, _, idx = parts[k].partition("~")
    parts[k] = draw(st.sampled_from([
        f"{op}~{int(idx) + 1}", f"{op}~{idx}{idx}", f"{op}~-{idx}", f"{op}~{idx} ",
        f"{op.upper()}~{idx}", f"conv~{idx}", f"{op}", f"~{idx}", "", f"{op}~{idx}~{idx}",
        f"{op}~٠", f"{op}~{idx}\n", f"{op}~" + "9" * 5000, f"{op}~{idx}|{op}~{idx}",
    ]))
    return "|".join(parts)


nb201_texts = (
    nb201_strings
    | nb201_strings.map(lambda s: f"  {s}\n")
    | token_mutations()
    | mutated_text(nb201_strings, "|+~0123_ \n")
    | st.text(alphabet="|+~0123nonesktpcvu_ ", max_size=80)
    | st.text(max_size=80)
)


@FUZZ
@given(text=nb201_texts)
def test_fuzz_nb201_string(text: str) -> None:
    ops = outcome(lambda: parse_nb201(text), r"NB-201")
    if ops is None:
        return
    assert len(ops) == 6 and set(ops) <= set(NB201_OPS)
    assert format_nb201(ops) == text.strip()
    arch = nb201_architecture(text)
    assert arch == nb201_architecture(list(ops))
    assert NB201Space().to_string(arch) == text.strip()
    assert len(arch.key) == 32


@FUZZ
@given(value=python_values | st.lists(python_values, max_size=7)
       | nb201_ops.flatmap(lambda ops: st.integers(0, 5).flatmap(
           lambda k: python_values.map(lambda v: [*ops[:k], v, *ops[k + 1:]]))))
def test_fuzz_nb201_non_strings(value: Any) -> None:
    arch = outcome(lambda: nb201_architecture(value), r"NB-201")
    if arch is not None:  # a list (or other iterable) of 6 valid ops
        assert tuple(value) == NB201Space().edge_ops(arch)
    if not isinstance(value, str):
        assert outcome(lambda: parse_nb201(value), r"NB-201") is None


# --- NB-101 matrices, op lists and table keys --------------------------------------------

nb101_op_choices = st.sampled_from([*NB101_OPS, INPUT, OUTPUT, "conv3x3", "", "maxpool3x3"])


@st.composite
def nb101_cells(draw: st.DrawFn) -> tuple[Any, Any]:
    """Matrices of the right shape with random bits, and op lists near the valid ones."""
    n = draw(st.integers(1, 9))
    bits = np.array(draw(st.lists(st.integers(0, 1), min_size=n * n, max_size=n * n)),
                    dtype=int).reshape(n, n)
    if draw(st.integers(0, 3)):  # mostly strictly upper triangular, as valid cells are
        bits = np.triu(bits, k=1)
    ops = [INPUT, *draw(st.lists(st.sampled_from(NB101_OPS), min_size=max(n - 2, 0),
                                 max_size=max(n - 2, 0))), OUTPUT][-n:] if n > 1 else [INPUT]
    change = draw(st.integers(0, 9))
    matrix: Any = bits
    if change == 0 and ops:
        ops[draw(st.integers(0, len(ops) - 1))] = draw(nb101_op_choices | python_values)
    elif change == 1:
        ops = draw(st.sampled_from([ops[:-1], [*ops, OUTPUT], tuple(ops), "".join(ops), None]))
    elif change == 2:
        matrix = bits.tolist()
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        matrix[i][j] = draw(python_values)
    elif change == 3:
        matrix = draw(st.sampled_from([bits.astype(float), bits.astype(bool),
                                       bits.astype(str), bits.astype(complex),
                                       bits.astype(object), bits[:-1], bits.ravel(),
                                       [*bits.tolist()[:-1], [0]]]))
    elif change == 4:
        matrix = bits * draw(st.integers(-2, 3))
        if matrix.size:
            matrix = matrix.astype(float)
            matrix.flat[0] = draw(st.floats())
    return matrix, ops


@FUZZ
@given(cell=nb101_cells() | st.tuples(python_values, python_values))
def test_fuzz_nb101_matrix(cell: tuple[Any, Any]) -> None:
    matrix, ops = cell
    arch = outcome(lambda: nb101_architecture(matrix, ops), r"matrix|ops|edges|input|output|cell")
    space = NB101Space()
    again = outcome(lambda: space.from_matrix(matrix, ops), r"matrix|ops|edges|input|output|cell")
    assert (arch is None) == (again is None)
    if arch is None:
        return
    assert arch == again
    assert arch.pruned.number_of_edges() <= 9 and arch.graph.number_of_nodes() <= 7
    m, ops2 = space.to_matrix(arch)
    np.testing.assert_array_equal(m, np.asarray(matrix, dtype=int))
    assert ops2 == tuple(ops)
    assert space.contains(arch)
    assert Architecture.from_json(arch.to_json()) == arch


@st.composite
def nb101_keys(draw: st.DrawFn) -> Any:
    matrix, codes = draw(st.sampled_from(NB101_CELLS))
    key: list[Any] = [*(v for row in matrix for v in row), *codes]
    edit = draw(st.integers(0, 5))
    i = draw(st.integers(0, 55))
    if edit == 0:
        key[i] = draw(st.integers(-2, 6) | python_values)
    elif edit == 1:
        key = key[: draw(st.integers(0, 60))]
    elif edit == 2:
        key = [*key, draw(st.integers(0, 4))]
    elif edit == 3:
        return draw(st.sampled_from([tuple(key), np.array(key), str(tuple(key)), iter(key)]))
    return key


@FUZZ
@given(key=nb101_keys() | python_values | st.lists(st.integers(-1, 5), min_size=56,
                                                    max_size=56))
def test_fuzz_nb101_key(key: Any) -> None:
    decoded = outcome(lambda: decode_nb101_key(key), r"NB-101 key")
    if decoded is None:
        return
    matrix, ops = decoded
    assert matrix.shape == (7, 7) and set(np.unique(matrix)) <= {0, 1}
    assert len(ops) == 7
    outcome(lambda: nb101_architecture(matrix, ops), r"matrix|ops|edges|input|output")


# --- user-defined cell spaces ------------------------------------------------------------

op_names = st.text(alphabet="abcdeio_0ptu", min_size=0, max_size=6)


good_weights = st.sampled_from([0.25, 0.5, 1, 2.0])
weights = mostly(good_weights, st.floats(allow_nan=True, allow_infinity=True)
                 | st.integers(-2, 5) | st.just(True) | st.text(max_size=3)
                 | st.integers(min_value=10**400, max_value=10**401))
good_op_lists = st.lists(op_names.filter(bool), min_size=1, max_size=5, unique=True)


@st.composite
def op_trees(draw: st.DrawFn, ops: list[Any]) -> Any:
    """None, a valid tree over ``ops`` (maybe lacking one), or junk."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return None
    if kind <= 3 and all(isinstance(o, str) and o for o in ops) and len(set(ops)) == len(ops):
        names = list(ops)
        if kind == 3 and names:
            names.pop(draw(st.integers(0, len(names) - 1)))  # a tree that lacks an op
        split = draw(st.integers(0, len(names)))
        groups = {g: o for g, o in (("g1", names[:split]), ("g2", names[split:])) if o}
        return outcome(lambda: OpTree.from_groups(groups, group_weight=draw(weights),
                                                  leaf_weight=draw(weights)), "op tree")
    return draw(python_values)


@st.composite
def cell_space_args(draw: st.DrawFn) -> dict[str, Any]:
    ops: Any = draw(mostly(good_op_lists,
                           python_values | st.lists(op_names | python_values, max_size=4)
                           | good_op_lists.map(lambda o: [*o, o[0]])
                           | good_op_lists.map(lambda o: [*o, "input"])))
    return {
        "ops": ops,
        "n_nodes": draw(mostly(st.integers(2, 8), st.integers(-1, 40) | python_values)),
        "max_edges": draw(mostly(st.integers(1, 20), st.integers(-1, 60) | python_values)),
        "op_tree": draw(op_trees(ops if isinstance(ops, list) else [])),
        "name": draw(mostly(st.none() | st.text(max_size=6), python_values)),
    }


@FUZZ
@given(args=cell_space_args(), bits=st.randoms(use_true_random=False))
def test_fuzz_cell_space(args: dict[str, Any], bits: Any) -> None:
    space = outcome(lambda: CellSpace(**args),
                    r"ops|n_nodes|max_edges|op_tree|op tree|name")
    if space is None:
        return
    config = space.to_config()
    assert json.loads(json.dumps(config)) == config
    again = space_from_config(config)
    assert again.to_config() == config
    # A matrix of the right shape with random bits: parses or is refused with a reason.
    n = space.n_nodes
    m = np.triu(np.array([[bits.randint(0, 1) for _ in range(n)] for _ in range(n)]), k=1)
    ops = [INPUT, *(bits.choice(space.ops) for _ in range(n - 2)), OUTPUT]
    arch = outcome(lambda: space.from_matrix(m, ops), r"edges|budget|path|matrix")
    if arch is not None:
        assert arch.pruned.number_of_edges() <= space.max_edges
        assert again.contains(arch)


@FUZZ
@given(groups=mostly(st.dictionaries(op_names, good_op_lists, min_size=1, max_size=3),
                     st.dictionaries(op_names, st.lists(op_names, max_size=3), max_size=3)
                     | python_values),
       gw=weights, lw=weights)
def test_fuzz_op_tree_groups(groups: Any, gw: Any, lw: Any) -> None:
    tree = outcome(lambda: OpTree.from_groups(groups, group_weight=gw, leaf_weight=lw),
                   "op tree")
    if tree is None:
        return
    ops = [op for g in groups.values() for op in g]
    assert sorted(tree.leaves) == sorted(ops)
    for a in ops:
        assert tree.distance(a, a) == 0.0
        assert tree.depth(a) == pytest.approx(gw + lw)


@st.composite
def tree_graphs(draw: st.DrawFn) -> tuple[nx.DiGraph, Any]:
    """A random rooted tree (parent pointers) with one structural or weight mutation."""
    n = draw(st.integers(2, 9))
    names: list[Any] = ["root", *(f"n{i}" for i in range(1, n))]
    g = nx.DiGraph()
    for i in range(1, n):
        g.add_edge(names[draw(st.integers(0, i - 1))], names[i], weight=draw(good_weights))
    edit = draw(st.integers(0, 6))
    edges = list(g.edges)
    u, v = edges[draw(st.integers(0, len(edges) - 1))]
    if edit == 0:
        g.edges[u, v]["weight"] = draw(weights | python_values)
    elif edit == 1:
        del g.edges[u, v]["weight"]
    elif edit == 2:
        g.add_edge(v, u, weight=1.0)  # a cycle
    elif edit == 3:
        g.add_edge(draw(st.sampled_from(names)), draw(st.sampled_from(names)), weight=1.0)
    elif edit == 4:
        g.add_edge("root", draw(st.sampled_from([1, "1", ("n", 1), None.__class__])),
                   weight=1.0)
        g.add_edge("n1", draw(st.sampled_from([1, "1", 1.0])), weight=1.0)  # leaf names clash
    root = draw(st.sampled_from([None, None, "root", "n1", [1]]))
    return g, root


@FUZZ
@given(case=tree_graphs() | st.tuples(python_values, st.none()))
def test_fuzz_op_tree_graph(case: tuple[Any, Any]) -> None:
    graph, root = case
    tree = outcome(lambda: OpTree(graph, root), "op tree")
    if tree is None:
        return
    assert len(set(tree.leaves)) == len(tree.leaves)
    d = np.array([[tree.distance(a, b) for b in tree.leaves] for a in tree.leaves])
    np.testing.assert_allclose(d, d.T)
    assert np.all(d >= 0) and np.all(np.diag(d) == 0)
    # Tree metric: d(a, c) <= d(a, b) + d(b, c).
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-9)


# --- architectures as JSON ---------------------------------------------------------------

arch_ops = st.sampled_from(["conv", "pool", "skip", INPUT, OUTPUT, ""])


@st.composite
def arch_dicts(draw: st.DrawFn) -> Any:
    """A graph's JSON form with one field perturbed (or none)."""
    if draw(st.booleans()):
        d = nb201_architecture(draw(nb201_ops)).to_dict()
    else:
        n = draw(st.integers(2, 8))
        inner = draw(st.lists(st.sampled_from(["conv", "pool", "skip"]), min_size=n - 2,
                              max_size=n - 2))
        pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                              max_size=12))
        d = {"nodes": [INPUT, *inner, OUTPUT],
             "edges": [[u, v] for u, v in pairs if u < v]}
        if draw(st.booleans()):
            d["disconnected"] = True
    edit = draw(st.integers(0, 9))
    if edit == 0:
        d.pop(draw(st.sampled_from(["nodes", "edges"])))
    elif edit == 1 and d["nodes"]:
        d["nodes"][draw(st.integers(0, len(d["nodes"]) - 1))] = draw(arch_ops | python_values)
    elif edit == 2:
        d["edges"].append(draw(st.lists(st.integers(-2, 10) | python_values, max_size=3)))
    elif edit == 3 and d["edges"]:
        u, v = d["edges"][0]
        d["edges"].append([v, u])  # a cycle
    elif edit == 4:
        d[draw(st.sampled_from(["meta", "disconnected", "nodes", "edges"]))] = draw(python_values)
    elif edit == 5:
        d["nodes"].append(draw(arch_ops))
    return d


@FUZZ
@given(data=arch_dicts() | python_values)
def test_fuzz_architecture_from_dict(data: Any) -> None:
    arch = outcome(lambda: Architecture.from_dict(data),
                   r"architecture JSON|node|cycle|input|path")
    if arch is None:
        return
    again = Architecture.from_json(arch.to_json())
    assert again == arch and again.key == arch.key
    assert again.to_dict() == arch.to_dict()


@FUZZ
@given(text=arch_dicts().map(lambda d: json.dumps(d, default=repr))
       .flatmap(lambda s: st.just(s) | mutated_text(st.just(s), '[]{},:"0123')) | st.text()
       | st.binary() | st.just("[" * 50_000) | st.just("1" * 5000) | python_values)
def test_fuzz_architecture_from_json(text: Any) -> None:
    arch = outcome(lambda: Architecture.from_json(text),
                   r"architecture JSON|node|cycle|input|path")
    if arch is not None:
        assert Architecture.from_json(arch.to_json()) == arch


# --- evaluation results ------------------------------------------------------------------


@st.composite
def result_dicts(draw: st.DrawFn) -> Any:
    d: dict[str, Any] = {
        "val_accuracy": draw(st.floats(0, 100)),
        "test_accuracy": draw(st.none() | st.floats(0, 100)),
        "costs": draw(st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False),
                                      max_size=3)),
        "info": draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
    }
    edit = draw(st.integers(0, 4))
    if edit == 0:
        d.pop(draw(st.sampled_from(sorted(d))))
    elif edit == 1:
        d[draw(st.sampled_from(sorted(d)))] = draw(stored_values)
    elif edit == 2:
        field = draw(st.sampled_from(["costs", "info"]))
        d[field] = {**d[field], draw(stored_values.filter(lambda v: _hashable(v))):
                    draw(stored_values)}
    return d


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


@FUZZ
@given(data=result_dicts() | stored_values)
def test_fuzz_evaluation_result(data: Any) -> None:
    r = outcome(lambda: EvaluationResult.from_dict(data),
                r"result|val_accuracy|test_accuracy|costs|info")
    if r is None:
        return
    assert 0.0 <= r.val_accuracy <= 100.0
    assert r.test_accuracy is None or 0.0 <= r.test_accuracy <= 100.0
    stored = json.dumps(r.to_dict(), sort_keys=True, default=repr)
    again = EvaluationResult.from_dict(json.loads(stored))
    assert json.dumps(again.to_dict(), sort_keys=True, default=repr) == stored


# --- stored strategy and evaluator configs -----------------------------------------------


def _strategy_configs() -> list[dict[str, Any]]:
    from bo_nas._registry import _STRATEGIES, _load_builtins

    _load_builtins()
    configs = []
    for name, factory in sorted(_STRATEGIES.items()):
        config = factory({}).to_config()
        config["name"] = name
        configs.append(config)
    return configs


STRATEGY_CONFIGS = _strategy_configs()


@st.composite
def perturbed(draw: st.DrawFn, configs: list[dict[str, Any]]) -> Any:
    """One of ``configs`` with one (possibly nested) field dropped, replaced or added."""
    config = json.loads(json.dumps(draw(st.sampled_from(configs))))
    target = config
    nested = [k for k, v in config.items() if isinstance(v, dict)]
    if nested and draw(st.booleans()):
        target = config[draw(st.sampled_from(nested))]
    edit = draw(st.integers(0, 3))
    keys = sorted(target) or ["x"]
    if edit == 0:
        target.pop(draw(st.sampled_from(keys)), None)
    elif edit == 1:
        target[draw(st.sampled_from(keys))] = draw(stored_values)
    elif edit == 2:
        target[draw(st.text(max_size=6))] = draw(json_values)
    return config


@FUZZ
@given(config=perturbed(STRATEGY_CONFIGS) | stored_values)
def test_fuzz_strategy_config(config: Any) -> None:
    strategy = outcome(lambda: strategy_from_config(config), r"strategy|expected|must")
    if strategy is None:
        return
    stored = strategy.to_config()
    assert strategy_from_config(stored).to_config() == stored


@contextmanager
def data_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield write_data_dir(Path(tmp))


@pytest.fixture(scope="module")
def synthetic_root() -> Iterator[Path]:
    with data_root() as root:
        clear_cache()
        yield root


def test_fuzz_evaluator_config(synthetic_root: Path) -> None:
    root = str(synthetic_root)
    configs = [
        *(NB201Benchmark(d, root, f).to_config() for d, f in
          [("cifar10", 200), ("cifar10", 12), ("cifar100", 12), ("cifar10-valid", 200),
           ("ImageNet16-120", 200)]),
        NB101Benchmark(root).to_config(),
    ]
    from bo_nas._registry import _EVALUATORS, _load_builtins

    _load_builtins()
    if "training" in _EVALUATORS:  # the trainer's settings, when its module is present
        configs.append(evaluator_from_config({"kind": "training"}).to_config())

    @FUZZ
    @given(config=perturbed(configs).filter(lambda c: c.get("data_dir", "") is not None)
           | stored_values)
    def check(config: Any) -> None:
        try:
            evaluator = outcome(lambda: evaluator_from_config(config),
                                r"evaluator|dataset|fidelity|hardware|data_dir|expected")
        except BenchmarkFileNotFoundError as exc:
            # A config naming a folder that does not exist: not malformed, but the data is
            # missing; the error says which path.
            assert "benchmark" in str(exc)
            return
        if evaluator is None:
            return
        stored = evaluator.to_config()
        assert evaluator_from_config(stored).to_config() == stored

    check()


def test_fuzz_nb201_lookup(synthetic_root: Path) -> None:
    """Table lookups by string: a result, or an `EvaluationError` (a failed evaluation)."""
    bench = NB201Benchmark("cifar100", synthetic_root)

    @FUZZ
    @given(text=nb201_texts | python_values)
    def check(text: Any) -> None:
        try:
            r = bench.lookup(text)
        except EvaluationError as exc:
            event("refused")
            assert re.search(r"NB-201|not in", str(exc)), str(exc)
            assert text not in bench
            return
        event("parsed")
        assert text.strip() in bench and r.info["string"] == text.strip()

    check()


# --- search-space configs ----------------------------------------------------------------

SPACE_CONFIGS = [
    NB201Space().to_config(),
    NB101Space().to_config(),
    CellSpace(["conv3x3", "conv1x1", "pool"], 5, 7,
              OpTree.from_groups({"conv": ["conv3x3", "conv1x1"], "pool": ["pool"]}),
              name="mine").to_config(),
    CellSpace(["a", "b"], 4, 3).to_config(),
]


@st.composite
def tree_edits(draw: st.DrawFn) -> Any:
    config = json.loads(json.dumps(SPACE_CONFIGS[2]))
    edges = config["op_tree"]
    k = draw(st.integers(0, len(edges) - 1))
    edit = draw(st.integers(0, 4))
    if edit == 0:
        edges[k][draw(st.integers(0, 2))] = draw(stored_values | weights)
    elif edit == 1:
        edges[k] = draw(st.lists(json_values, max_size=4))
    elif edit == 2:
        edges.append([edges[k][1], edges[k][0], 1.0])  # a cycle
    elif edit == 3:
        edges.pop(k)
    else:
        edges.append(["root", draw(op_names), draw(weights)])
    return config


@FUZZ
@given(config=perturbed(SPACE_CONFIGS) | tree_edits() | stored_values)
def test_fuzz_space_config(config: Any) -> None:
    space = outcome(lambda: space_from_config(config),
                    r"space config|ops|n_nodes|max_edges|op_tree|op tree|name")
    if space is None:
        return
    stored = space.to_config()
    assert space_from_config(stored).to_config() == stored
    space.sample(0)


# --- data tables -------------------------------------------------------------------------


def csv_text(header: list[Any], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


cell_values = (
    st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 200)
    | st.sampled_from(["", "nan", "1e999", "5,5", "  7 ", "٣", "1_0", "0x10", "-1"])
    | st.text(max_size=6)
)


@st.composite
def tables(draw: st.DrawFn, header: list[str], rows: list[list[Any]]) -> str:
    """A CSV table from valid rows with a few cell, row or header edits."""
    header = list(header)
    picks = draw(st.lists(st.integers(0, len(rows) - 1), max_size=8, unique=True))
    rows = [list(rows[k]) for k in picks]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        edit = draw(st.integers(0, 5))
        if edit <= 2 and rows:
            r = draw(st.integers(0, len(rows) - 1))
            if not rows[r]:
                continue
            c = draw(st.integers(0, len(rows[r]) - 1))
            pick = (st.sampled_from(STRINGS_AND_NETS) if c < 2 else cell_values)
            rows[r][c] = draw(pick | mutated_text(st.just(str(rows[r][c])), "|+~,()0123 "))
        elif edit == 3:
            i = draw(st.integers(0, len(header) - 1))
            header[i] = draw(st.sampled_from(["", "extra", header[0], header[i].upper()]))
        elif edit == 4 and rows:
            row = rows[draw(st.integers(0, len(rows) - 1))]
            if row:
                row.pop()
        else:
            rows.append(list(rows[0]) if rows else [])
    text = csv_text(header, rows)
    if draw(st.integers(0, 9)) == 0:
        text = draw(mutated_text(st.just(text), ',"\n\r\x00|'))
    return text


STRINGS_AND_NETS = [string_of(c) for c in CELLS[:5]] + ["(1, 1, 1, 1, 1, 1)", "(0, 0)"]


_SCRATCH: list[Path] = []


def scratch_path(name: str) -> Path:
    """``name`` inside this module's scratch folder (removed at module teardown)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="bo-nas-fuzz-")))
    return _SCRATCH[0] / name


@pytest.fixture(scope="module", autouse=True)
def _remove_scratch() -> Iterator[None]:
    yield
    if _SCRATCH:
        shutil.rmtree(_SCRATCH.pop(), ignore_errors=True)
    clear_cache()


def rewrite(path: Path, content: bytes) -> None:
    """Make ``content`` the content of ``path``, reusing the file in place.

    Emptying or deleting a file frees its blocks, which costs milliseconds per file on a
    filesystem mounted with ``discard``: more than the parse under test. Writing over
    the old bytes and cutting the tail keeps the blocks.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    with open(path, "r+b") as fh:
        fh.write(content)
        fh.truncate()


@contextmanager
def table_file(content: str | bytes, name: str) -> Iterator[Path]:
    path = scratch_path(name)
    rewrite(path, content if isinstance(content, bytes) else surrogate_free(content))
    yield path


def table_outcome(read: Callable[[Path], Any], content: str | bytes, name: str) -> Any:
    """``read(path)`` of ``content`` in a file ``name``; refusals must name the file."""
    with table_file(content, name) as path:
        return outcome(lambda: read(path), re.escape(name))


def surrogate_free(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from st.text(): write bytes as they are
        return text.encode("utf-8", errors="surrogatepass")


ACC_ROWS = {d: acc_rows(d) for d in ("cifar100", "ImageNet16-120", "cifar10-valid")}
N_CLASSES = {"cifar100": 100, "ImageNet16-120": 120, "cifar10-valid": 10}


@FUZZ
@given(dataset=st.sampled_from(sorted(ACC_ROWS)), wrong=st.integers(0, 9), data=st.data())
def test_fuzz_accuracy_csv(dataset: str, wrong: int, data: st.DataObject) -> None:
    # One table in ten holds another dataset's numbers.
    rows = ACC_ROWS[sorted(ACC_ROWS)[wrong % 3] if wrong < 3 else dataset]
    text = data.draw(tables(ACC_COLUMNS, rows) | st.text(max_size=200) | st.binary())
    content = surrogate_free(text) if isinstance(text, str) else text
    table = table_outcome(lambda p: _read_accuracy_csv(p, dataset, N_CLASSES[dataset]),
                          content, "acc.csv")
    if table is None:
        return
    assert len(table["strings"]) == len(set(table["strings"])) == len(set(table["index"]))
    assert all(0 <= v <= 100 for v in table["val"] + table["test"])
    for s in table["strings"]:
        assert format_nb201(parse_nb201(s)) == s


@FUZZ
@given(text=tables(FID_COLUMNS, fid_rows()) | st.text(max_size=200) | st.binary())
def test_fuzz_fidelity_csv(text: str | bytes) -> None:
    content = surrogate_free(text) if isinstance(text, str) else text
    table = table_outcome(_read_fidelity_csv, content, "fid.csv")
    if table is not None:
        assert all(0 <= v <= 100 for row in table.values() for v in row.values())


@FUZZ
@given(text=tables(HW_COLUMNS, hw_rows()) | st.text(max_size=200) | st.binary())
def test_fuzz_hw_csv(text: str | bytes) -> None:
    content = surrogate_free(text) if isinstance(text, str) else text
    table = table_outcome(_read_hw, content, "hw.csv")
    if table is not None:
        for values in table.values():
            assert values.shape == (10,)
            assert np.all(np.isnan(values) | (values >= 0))


@FUZZ
@given(drop=st.lists(st.integers(0, len(CELLS) - 1), max_size=4),
       edits=st.lists(st.tuples(st.integers(0, len(CELLS) - 1),
                                st.sampled_from([0, 1, ZC_COLUMNS.index("params"),
                                                 ZC_COLUMNS.index("flops")]),
                                cell_values | st.sampled_from(STRINGS_AND_NETS)),
                      max_size=2))
def test_fuzz_zc_csv(drop: list[int], edits: list[tuple[int, int, Any]]) -> None:
    rows = zc_rows()
    for r, c, v in edits:
        rows[r][c] = v
    rows = [row for k, row in enumerate(rows) if k not in drop]
    content = surrogate_free(csv_text(ZC_COLUMNS, rows))
    coef = table_outcome(_fit_costs, content, "zc.csv")
    if coef is not None:
        assert set(coef) == {"params", "flops"}
        assert all(np.isfinite(c).all() and c.shape == (25,) for c in coef.values())


@st.composite
def trainval_texts(draw: st.DrawFn) -> str:
    entries: dict[str, Any] = trainval(draw(st.lists(st.sampled_from(CELLS), max_size=6)))
    for _ in range(draw(st.integers(0, 2))):
        edit = draw(st.integers(0, 3))
        keys = sorted(entries)
        if edit == 0 and keys:
            k = draw(st.sampled_from(keys))
            entries[k] = {**(entries[k] if isinstance(entries[k], dict) else {}),
                          draw(st.sampled_from(["val_acc_200", "test_acc_200", "rank"])):
                          draw(stored_values)}
        elif edit == 1 and keys:
            entries[draw(st.sampled_from(keys))] = draw(json_values)
        elif edit == 2:
            entries[draw(nb201_texts)] = draw(json_values)
        elif keys:
            entries[" " + draw(st.sampled_from(keys))] = {"val_acc_200": 1, "test_acc_200": 1}
    text = json.dumps(entries)
    if draw(st.integers(0, 5)) == 0:
        text = draw(mutated_text(st.just(text), '{}[]:,"0123'))
    return text


@FUZZ
@given(text=trainval_texts() | json_values.map(json.dumps) | st.text(max_size=100)
       | st.just("[" * 50_000) | st.just('{"a": ' + "1" * 5000 + "}"))
def test_fuzz_trainval_json(text: str) -> None:
    table = table_outcome(_read_trainval_json, surrogate_free(text), "trainval.json")
    if table is not None:
        assert all(format_nb201(parse_nb201(s)) == s for s in table)
        assert all(0 <= v <= 100 for pair in table.values() for v in pair)


@st.composite
def nb101_texts(draw: st.DrawFn) -> str:
    data: Any = nb101_table()
    cells = data["nasbench101"]["cifar10"]
    for _ in range(draw(st.integers(0, 2))):
        edit = draw(st.integers(0, 4))
        key = draw(st.sampled_from(sorted(cells)))
        if edit == 0:
            cells[key] = {**(cells[key] if isinstance(cells[key], dict) else {}),
                          draw(st.sampled_from(["val_accuracy", "params", "flops"])):
                          draw(stored_values)}
        elif edit == 1:
            cells[draw(mutated_text(st.just(key), "(), 0123456789"))] = cells[key]
        elif edit == 2:
            cells[key] = draw(json_values)
        elif edit == 3:
            matrix, codes = draw(st.sampled_from(NB101_CELLS))
            flat = [v for row in matrix for v in row]
            i = draw(st.integers(0, 48))
            flat[i] = 1 - flat[i]  # flip one bit: a cycle, dead node, or another cell
            cells[nb101_key([flat[r * 7:(r + 1) * 7] for r in range(7)], codes)] = cells[key]
        else:
            data = draw(st.sampled_from([{"nasbench101": {"cifar100": cells}}, [cells],
                                         {"nasbench101": cells}]))
    text = json.dumps(data)
    if draw(st.integers(0, 5)) == 0:
        text = draw(mutated_text(st.just(text), '{}[]:,"0123()'))
    return text


@FUZZ
@given(text=nb101_texts() | json_values.map(json.dumps) | st.text(max_size=100))
def test_fuzz_nb101_json(text: str) -> None:
    table = table_outcome(_read_nb101, surrogate_free(text), "nb101.json")
    if table is not None:
        for key, entry in table.items():
            assert entry.arch.key == key and 0 <= entry.val <= 100
            assert math.isfinite(entry.params) and math.isfinite(entry.flops)


def test_fuzz_evaluator_on_fuzzed_table() -> None:
    """Fuzzed tables in a data directory laid out like the real one, read by evaluators."""
    root = write_data_dir(scratch_path("data"))
    files = {
        "nb201_cifar100.csv": (ACC_COLUMNS, acc_rows("cifar100")),
        "nb201_hw_cifar100.csv": (HW_COLUMNS, hw_rows()),
        "nb201_test_12ep_200ep.csv": (FID_COLUMNS, fid_rows()),
    }
    originals = {name: (root / "nb201" / name).read_bytes() for name in files}
    stamp = itertools.count(1)

    def put(path: Path, content: bytes) -> None:
        rewrite(path, content)
        # A new modification time per example, so the table cache reads this file again
        # (and keeps the others) even where timestamps are coarse.
        t = next(stamp) * 1_000_000_000
        os.utime(path, ns=(t, t))

    @FUZZ
    @given(which=st.sampled_from(sorted(files)), data=st.data())
    def check(which: str, data: st.DataObject) -> None:
        header, rows = files[which]
        path = root / "nb201" / which
        put(path, surrogate_free(data.draw(tables(header, rows))))
        try:
            bench = outcome(lambda: NB201Benchmark("cifar100", root, fidelity=12),
                            re.escape(which))
            if bench is not None:
                r = bench.lookup(bench.all_results().strings[0])
                assert 0 <= r.val_accuracy <= 100
        finally:
            put(path, originals[which])

    check()
