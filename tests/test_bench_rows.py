"""The benchmarks' NB-201 row protocols: one result per distinct network, or every row."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks._rows import DistinctNB201, _representatives, benchmark, truth
from bo_nas.encodings import nb201_architecture, nb201_canonical_ops, parse_nb201
from bo_nas.encodings._nb201 import nb201_ops_of
from bo_nas.evaluators import NB201Benchmark
from bo_nas.objectives import hypervolume
from bo_nas.spaces import NB201Space

_ENV = os.environ.get("BO_NAS_DATA_DIR", "")
pytestmark = pytest.mark.skipif(
    not _ENV or not (Path(_ENV) / "nb201" / "nb201_hw_cifar10.csv").is_file(),
    reason="$BO_NAS_DATA_DIR does not name a data directory with the NB-201 tables",
)


def test_one_representative_per_network() -> None:
    strings = NB201Benchmark("cifar10").all_results().strings
    reps = [strings[i] for i in _representatives("cifar10")]
    canonical = {nb201_canonical_ops(parse_nb201(s)) for s in strings}
    assert len(reps) == len(canonical) == len(set(reps))
    for s in reps:
        assert nb201_canonical_ops(parse_nb201(s)) == parse_nb201(s)
    # The graph hash is the oracle of "one network" (hashing all 15,625 cells takes
    # tens of seconds, so a sample): a string and its representative are one network,
    # and different representatives are different networks.
    rep_set = set(reps)
    rng = np.random.default_rng(0)
    sample = [strings[int(i)] for i in rng.choice(len(strings), 300, replace=False)]
    keys: dict[str, str] = {}
    for s in sample:
        rep = nb201_architecture(nb201_canonical_ops(nb201_ops_of(nb201_architecture(s))))
        assert rep.meta["string"] in rep_set
        assert nb201_architecture(s).key == rep.key
        assert keys.setdefault(rep.key, rep.meta["string"]) == rep.meta["string"]


def test_isomorphic_cells_share_one_result() -> None:
    plain, distinct = NB201Benchmark("cifar10"), DistinctNB201("cifar10")
    # Edge 1 <- 0 is dead when node 1 feeds nothing: a second string of one network.
    live = "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    dead = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    a, b = nb201_architecture(live), nb201_architecture(dead)
    assert a.key == b.key
    assert plain.evaluate(a).val_accuracy != plain.evaluate(b).val_accuracy
    ra, rb = distinct.evaluate(a), distinct.evaluate(b)
    assert ra.val_accuracy == rb.val_accuracy == plain.evaluate(a).val_accuracy
    assert ra.costs == rb.costs
    assert isinstance(benchmark("cifar10", "distinct"), DistinctNB201)
    assert type(benchmark("cifar10", "all")) is NB201Benchmark
    with pytest.raises(ValueError, match="rows"):
        benchmark("cifar10", "some")  # type: ignore[arg-type]


def test_distinct_truth_is_what_evaluating_every_network_gives() -> None:
    """Oracle: evaluating one cell of every network through `DistinctNB201` reaches
    exactly the distinct front; the complete table's front is no smaller."""
    bench, space = DistinctNB201("cifar100"), NB201Space()
    seen: dict[str, object] = {}
    for cell in space.enumerate():
        # Equal exactly when the graph hashes are (cheaper than 15,625 hashes).
        seen.setdefault(space.canonical_string(cell), cell)
    results = [bench.evaluate(c) for c in seen.values()]  # type: ignore[arg-type]
    Y = np.array([[r.val_accuracy, -r.costs["params"]] for r in results])
    T = np.column_stack([truth("cifar100", "distinct", "val_accuracy"),
                         -truth("cifar100", "distinct", "params")])
    ref = np.array([float(np.median(T[:, 0])), -float(T[:, 1].max())])
    assert hypervolume(Y, ref) == pytest.approx(hypervolume(T, ref), rel=1e-12)
    A = np.column_stack([truth("cifar100", "all", "val_accuracy"),
                         -truth("cifar100", "all", "params")])
    assert hypervolume(A, ref) >= hypervolume(T, ref)
    assert len(truth("cifar100", "all", "params")) == 15625
