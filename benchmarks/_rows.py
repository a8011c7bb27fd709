"""Which rows of the NAS-Bench-201 table count: every string, or one per distinct network.

NAS-Bench-201 trained each of its 15,625 cell strings on its own, but cells equal up to
dead edges (and the order of two interchangeable nodes) are one network: they share an
`Architecture.key`, and a campaign evaluates each such class once (8,765 classes). The
table holds one row per string, so a network with several strings has several results,
apart by training noise (and HW-NAS-Bench's measurement noise on the latencies). The
front of the complete table is then partly made of lucky duplicates that no search of
distinct networks can aim at: on CIFAR-10 × edge-GPU latency they hold 4.5 % of its
hypervolume, and CIFAR-10's best cell under the median latency is one of two strings of
a network whose other string scores 0.6 points lower.

``rows="distinct"`` answers every cell with its class representative's row (the
canonical cell: dead edges pruned, the smaller node order), so every method sees one
result per network and the truth is computed over the 8,765 representatives.
``rows="all"`` is the table as published.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from bo_nas.encodings import (
    Architecture,
    format_nb201,
    nb201_architecture,
    nb201_canonical_ops,
    parse_nb201,
)
from bo_nas.encodings._nb201 import nb201_ops_of
from bo_nas.evaluators import EvaluationResult, NB201Benchmark

Rows = Literal["distinct", "all"]
ROWS: tuple[Rows, ...] = ("distinct", "all")


class DistinctNB201(NB201Benchmark):
    """An NB-201 table answering each cell with its canonical cell's row."""

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        ops = nb201_canonical_ops(nb201_ops_of(arch))
        return super().evaluate(nb201_architecture(ops))


def benchmark(dataset: str, rows: Rows) -> NB201Benchmark:
    """The evaluator of ``dataset`` under ``rows``."""
    if rows not in ROWS:
        raise ValueError(f"rows: expected one of {ROWS}, got {rows!r}")
    return DistinctNB201(dataset) if rows == "distinct" else NB201Benchmark(dataset)


@functools.cache
def truth(dataset: str, rows: Rows, metric: str) -> np.ndarray:
    """``metric`` (``val_accuracy``, ``test_accuracy`` or a cost) of every row that
    counts: the whole table, or the 8,765 class representatives (read-only)."""
    r = NB201Benchmark(dataset).all_results()
    values = {"val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy, **r.costs}
    out = np.asarray(values[metric], dtype=float)
    if rows == "distinct":
        out = out[_representatives(dataset)]
    out = out.copy()
    out.setflags(write=False)
    return out


@functools.cache
def _representatives(dataset: str) -> np.ndarray:
    """Rows of ``dataset``'s table holding the canonical cells, one per class."""
    strings = NB201Benchmark(dataset).all_results().strings
    row = {s: i for i, s in enumerate(strings)}
    reps = {format_nb201(nb201_canonical_ops(parse_nb201(s))) for s in strings}
    return np.sort([row[s] for s in reps])
