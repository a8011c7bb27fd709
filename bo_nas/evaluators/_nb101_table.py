"""A 500-cell sample of NAS-Bench-101, answered from NASLib's table.

A sample by design (the space has 423,624 networks): enough to measure how well a
surrogate ranks NB-101 cells, and to run small campaigns that search only the sampled
networks (`NB101Benchmark.search_space`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bo_nas.encodings import Architecture, InvalidArchitectureError, decode_nb101_key
from bo_nas.spaces import NB101Space, SearchSpace, SubsetSpace
from bo_nas.spaces._subset import NB101_DISTINCT

from ._base import EvaluationError, EvaluationResult
from ._table import TabularBenchmark, TabularOptimum, TabularResults, readonly
from ._tables import (
    BenchmarkTableError,
    absolute_path,
    cached,
    check_coverage,
    data_file,
    parse_accuracy,
    parse_number,
    read_json,
    resolve_data_dir,
    samples_file,
)

if TYPE_CHECKING:
    from bo_nas.zero_cost import ScoreSource

_FILE = "nb101_500_cifar10.json"
#: Entries of NASLib's file: a sample by design, of 292 distinct networks.
_SAMPLE_ENTRIES = 500


@dataclass(frozen=True)
class _Entry:
    arch: Architecture
    val: float
    params: float
    flops: float
    n_seeds: int
    n_entries: int


def parse_nb101_key(path: Path, key: str) -> tuple[int, ...]:
    t = key.strip()
    try:
        if not (t.startswith("(") and t.endswith(")")):
            raise ValueError
        return tuple(int(c) for c in t[1:-1].split(","))
    except ValueError:
        raise BenchmarkTableError(
            f"{path}, entry {key!r}: expected a tuple of 56 integers (7x7 matrix, 7 op codes)"
        ) from None


def _read_nb101(path: Path) -> dict[str, _Entry]:
    data = read_json(path)
    try:
        table = data["nasbench101"]["cifar10"]
        if not isinstance(table, dict) or not table:
            raise TypeError
    except (KeyError, TypeError):
        raise BenchmarkTableError(
            f"{path}: expected {{'nasbench101': {{'cifar10': {{KEY: {{val_accuracy, ...}}}}}}}} "
            "with at least one cell"
        ) from None
    space = NB101Space()
    groups: dict[str, list[tuple[Architecture, float, float, float]]] = {}
    for key, entry in table.items():
        where = f"entry {key!r}"
        try:
            arch = space.from_matrix(*decode_nb101_key(parse_nb101_key(path, key)))
        except InvalidArchitectureError as exc:
            raise BenchmarkTableError(f"{path}, {where}: not an NB-101 cell ({exc})") from None
        if not isinstance(entry, dict):
            raise BenchmarkTableError(f"{path}, {where}: expected an object, got {entry!r}")
        missing = [c for c in ("val_accuracy", "params", "flops") if c not in entry]
        if missing:
            raise BenchmarkTableError(f"{path}, {where}: missing fields {missing}")
        groups.setdefault(arch.key, []).append((
            arch,
            parse_accuracy(path, where, "val_accuracy", entry["val_accuracy"]),
            parse_number(path, where, "params", entry["params"]),
            parse_number(path, where, "flops", entry["flops"]),
        ))
    out: dict[str, _Entry] = {}
    for key, rows in groups.items():
        seeds = sorted({round(r[1], 9) for r in rows})
        sizes = sorted({(r[2], r[3]) for r in rows})
        out[key] = _Entry(
            arch=rows[0][0],
            val=float(np.mean(seeds)),
            params=float(np.mean([s[0] for s in sizes])),
            flops=float(np.mean([s[1] for s in sizes])),
            n_seeds=len(seeds),
            n_entries=len(rows),
        )
    return out


@dataclass(frozen=True)
class _Table:
    """The sample's distinct networks in file order, aligned arrays, all read-only.

    Attributes:
        keys: Each network's `Architecture.key`, length `n`.
        row_of: Row of each key.
        archs: The networks, length `n`.
        val: Their ``val_accuracy``, shape `n`.
        params: Their params (millions), shape `n`.
        flops: Their FLOPs (millions), shape `n`.
        n_seeds: How many distinct seeds each network's accuracy averages, length `n`.
    """

    keys: tuple[str, ...]
    row_of: Mapping[str, int]
    archs: tuple[Architecture, ...]
    val: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    n_seeds: tuple[int, ...]
    sample: bool = True

    @property
    def results(self) -> TabularResults:
        """Every network's numbers, sharing this table's arrays."""
        return TabularResults(
            keys=self.keys,
            val_accuracy=self.val,
            costs={"params": self.params, "flops": self.flops},
            architectures=self.archs,
        )


def _build_table(path: Path) -> _Table:
    entries = list(_read_nb101(path).values())
    check_coverage(path, sum(e.n_entries for e in entries), NB101_DISTINCT, "NB-101 cell",
                   sample=_SAMPLE_ENTRIES)
    return _Table(
        keys=tuple(e.arch.key for e in entries),
        row_of={e.arch.key: i for i, e in enumerate(entries)},
        archs=tuple(e.arch for e in entries),
        val=readonly(np.array([e.val for e in entries])),
        params=readonly(np.array([e.params for e in entries])),
        flops=readonly(np.array([e.flops for e in entries])),
        n_seeds=tuple(e.n_seeds for e in entries),
    )


class NB101Benchmark(TabularBenchmark[_Table]):
    r"""NAS-Bench-101 results for the cells of a 500-entry CIFAR-10 sample.

    The file (``<data_dir>/nb101/nb101_500_cifar10.json``, from NASLib) lists 500
    adjacency matrices; many are isomorphic copies of one network (unpruned or
    relabelled), each carrying the 108-epoch validation accuracy of one training seed.
    Entries are grouped by `Architecture.key` (the canonical hash of the pruned graph),
    giving 292 distinct networks. A network's ``val_accuracy`` is the mean of its
    *distinct* accuracies, one per seed seen, so a seed repeated over many copies does
    not weigh more than the others. ``params`` and ``flops`` (millions) are NASLib's;
    for 3 networks the copies disagree slightly (NASLib measured them on the unpruned
    matrices) and the mean of the distinct values is reported. There is no test split:
    ``test_accuracy`` is ``None``. `all_results` lists the networks in the order of
    their first entry in the file, with their `Architecture` in ``architectures``.

    Args:
        data_dir: Folder holding ``nb101/``; `$BO_NAS_DATA_DIR` when omitted.

    Raises:
        BenchmarkFileNotFoundError: for a missing data directory or file.
        BenchmarkTableError: for a malformed file or entry.
    """

    kind = "nb101_table"

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self._root = resolve_data_dir(data_dir)
        self._data_dir_arg = None if data_dir is None else absolute_path(data_dir)
        self._path = data_file(self._root, "nb101", _FILE,
                               "NASLib's NB-101 sample {nasbench101: {cifar10: {KEY: ...}}}")
        self._load()  # a bad file fails here, not at the first evaluation

    def _read_table(self) -> _Table:
        path = self._path
        files = [path, *(p for p in [samples_file(path.parent)] if p.is_file())]
        return cached("nb101-table", files, lambda: _build_table(path))

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        """The sample's result for a cell (any isomorphic copy of a sampled network).

        Raises:
            EvaluationError: when the cell is not one of the sampled networks.
        """
        if not isinstance(arch, Architecture):
            raise EvaluationError(f"expected an Architecture, got {type(arch).__name__}")
        t = self._load()
        row = t.row_of.get(arch.key)
        if row is None:
            raise EvaluationError(f"{arch!r} is not in the NB-101 sample {self._path}")
        return EvaluationResult(
            val_accuracy=float(t.val[row]),
            costs={"params": float(t.params[row]), "flops": float(t.flops[row])},
            info={"key": arch.key, "n_seeds": t.n_seeds[row]},
        )

    def to_config(self) -> dict[str, Any]:
        """Settings to rebuild this evaluator; ``data_dir`` (absolute) only when given
        explicitly."""
        return {"kind": self.kind, "data_dir": self._data_dir_arg}

    def search_space(self) -> SearchSpace:
        """The networks of the sample, as a `SubsetSpace` of `NB101Space`: a campaign on
        this table proposes only cells it can answer."""
        return SubsetSpace(NB101Space(), self._load().archs,
                           label=f"the NB-101 sample in {self._path}")

    @property
    def optimum(self) -> TabularOptimum:
        """The sample's best-validation network (first in file order among ties); its
        ``string`` is the network's `Architecture.key`, ``index`` its row, and
        ``test_accuracy`` NaN (the sample has no test split)."""
        t = self._load()
        row = int(np.argmax(t.val))
        return TabularOptimum(t.keys[row], row, float(t.val[row]), float("nan"))

    def is_optimum(self, arch: Architecture) -> bool:
        """Whether ``arch`` is the network of `optimum`."""
        return isinstance(arch, Architecture) and arch.key == self.optimum.string

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NB101Benchmark:
        """Rebuild from `to_config` output."""
        if not isinstance(config, Mapping) or config.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"evaluator config: expected kind {cls.kind!r}, got {config!r}")
        return cls(config.get("data_dir"))

    def zero_cost(self) -> ScoreSource:
        """Jacobian covariance and SynFlow of the sample's cells (the file has no NASWOT);
        cells outside the sample score NaN."""
        from bo_nas.zero_cost import nb101_table_scores

        return nb101_table_scores(self._root)

    def __repr__(self) -> str:
        return "NB101Benchmark()"
