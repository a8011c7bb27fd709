"""NAS-Bench-101 answered from a table: the full imported benchmark, or NASLib's sample.

Two tables can sit in ``<data_dir>/nb101/``, and the evaluator prefers the first:

- ``nb101_cifar10.npz``, written by `bo_nas.importers.import_nb101` from the official
  ``nasbench_only108.tfrecord`` (columns documented in `bo_nas.importers._nb101`): every
  cell's 108-epoch validation and test accuracy, training time and parameter count,
  averaged over its 3 training seeds. Complete, it answers all 423,624 networks and a
  campaign searches the whole `NB101Space`; a partial import (a cut-short file, a
  miniature in tests) must be declared a sample in ``nb101/samples.json`` (the importer
  does so) and is searched as a `SubsetSpace` of its cells.
- ``nb101_500_cifar10.json``, NASLib's 500-entry sample: a sample by design, enough to
  measure how well a surrogate ranks NB-101 cells and to run small campaigns that search
  only the sampled networks (`NB101Benchmark.search_space`). It has no test split.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bo_nas.encodings import Architecture, InvalidArchitectureError, decode_nb101_key
from bo_nas.encodings._nb101 import NB101_CODES
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

logger = logging.getLogger(__name__)

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

    def result(self, row: int) -> EvaluationResult:
        """The result of the network in ``row`` (no test split: ``test_accuracy`` None)."""
        return EvaluationResult(
            val_accuracy=float(self.val[row]),
            costs={"params": float(self.params[row]), "flops": float(self.flops[row])},
            info={"key": self.keys[row], "n_seeds": self.n_seeds[row]},
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


# --- the imported table ----------------------------------------------------------------

#: The table `bo_nas.importers.import_nb101` writes into ``<data_dir>/nb101/``.
IMPORTED_FILE = "nb101_cifar10.npz"
#: Its ``format`` entry; changes whenever the columns or their meaning do.
IMPORTED_FORMAT = "bo-nas nb101 table 1"
#: Its per-cell columns, one row per network: name -> (dtype, shape of one row). The
#: meaning of each is documented in `bo_nas.importers._nb101`.
IMPORTED_COLUMNS: dict[str, tuple[str, tuple[int, ...]]] = {
    "module_hash": ("S32", ()),
    "key": ("S32", ()),
    "n_nodes": ("u1", ()),
    "adjacency": ("u1", (7, 7)),
    "ops": ("i1", (7,)),
    "val_accuracy": ("f8", ()),
    "test_accuracy": ("f8", ()),
    "train_accuracy": ("f8", ()),
    "train_seconds": ("f8", ()),
    "params": ("f8", ()),
    "n_seeds": ("u1", ()),
}
#: Its scalar (0-d) entries: the format tag, the source file's name, the epoch budget
#: the numbers are for, and how many records were averaged.
IMPORTED_META = ("format", "source", "epochs", "records")
#: Op codes of the ``ops`` column (NASLib's, as in the sample's keys); -1 pads rows of
#: cells with fewer than 7 nodes.
IMPORTED_CODES: Mapping[int, str] = NB101_CODES
#: Rows whose key is rebuilt from their matrix at load. A table whose keys another
#: version of the canonical hash computed would miss every lookup without a word.
_KEY_CHECKS = 8
_PAD = -1


@dataclass(frozen=True)
class _ImportedTable:
    """The imported NB-101 table: aligned read-only arrays, one row per network.

    Attributes:
        keys: Each network's `Architecture.key`, length `n`.
        row_of: Row of each key.
        module_hash: NB-101's own hash of each network (``S32`` array).
        val, test: Validation and test accuracy (%), mean over seeds, shape `n`.
        params: Trainable parameters (millions), shape `n`.
        train_seconds: Training time (seconds), mean over seeds, shape `n`.
        n_seeds: Records averaged per network, shape `n`.
        n_nodes, adjacency, ops: Each network's matrix (`n x 7 x 7`, the top-left
            ``n_nodes`` block used) and op codes (`n x 7`, -1 padded).
        sample: Whether the table is a declared sample (a partial import).
        archs: The networks, for a sample (its `SubsetSpace`); ``None`` for a complete
            table, whose 423,624 graphs would take minutes to build and are the whole
            `NB101Space` anyway.
    """

    keys: tuple[str, ...]
    row_of: Mapping[str, int]
    module_hash: np.ndarray
    val: np.ndarray
    test: np.ndarray
    params: np.ndarray
    train_seconds: np.ndarray
    n_seeds: np.ndarray
    n_nodes: np.ndarray
    adjacency: np.ndarray
    ops: np.ndarray
    sample: bool
    archs: tuple[Architecture, ...] | None

    @property
    def results(self) -> TabularResults:
        """Every network's numbers, sharing this table's arrays."""
        return TabularResults(
            keys=self.keys,
            val_accuracy=self.val,
            costs={"params": self.params, "train_seconds": self.train_seconds},
            test_accuracy=self.test,
            architectures=self.archs,
        )

    def architecture(self, row: int) -> Architecture:
        """The network of ``row``, rebuilt from its matrix and ops."""
        n = int(self.n_nodes[row])
        ops = tuple(IMPORTED_CODES[int(c)] for c in self.ops[row, :n])
        return NB101Space().from_matrix(self.adjacency[row, :n, :n], ops)

    def result(self, row: int) -> EvaluationResult:
        """The result of the network in ``row``."""
        return EvaluationResult(
            val_accuracy=float(self.val[row]),
            test_accuracy=float(self.test[row]),
            costs={"params": float(self.params[row]),
                   "train_seconds": float(self.train_seconds[row])},
            info={"key": self.keys[row], "module_hash": self.module_hash[row].decode(),
                  "n_seeds": int(self.n_seeds[row])},
        )


def _imported_error(path: Path, what: str) -> BenchmarkTableError:
    return BenchmarkTableError(
        f"{path}: {what}; import the table again from nasbench_only108.tfrecord "
        "(`bo-nas data import`, with --force to replace this file)"
    )


def _read_columns(path: Path) -> dict[str, np.ndarray]:
    """The imported table's entries, checked for presence, dtype and shape."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [c for c in (*IMPORTED_META, *IMPORTED_COLUMNS) if c not in z.files]
            if missing:
                raise _imported_error(path, f"not an imported NB-101 table (no {missing})")
            fmt = z["format"]
            if fmt.shape != () or str(fmt) != IMPORTED_FORMAT:
                raise _imported_error(
                    path, f"table format {str(fmt)!r:.80}, expected {IMPORTED_FORMAT!r}")
            cols = {name: z[name] for name in IMPORTED_COLUMNS}
    except BenchmarkTableError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        # np.load raises ValueError for a file that is not an archive, BadZipFile or
        # zlib.error for a damaged one.
        raise _imported_error(path, f"not a readable .npz table ({exc})") from None
    n = cols["key"].shape[0] if cols["key"].ndim == 1 else -1
    if n < 1:
        raise _imported_error(path, "expected a non-empty 1-D 'key' column")
    for name, (dtype, shape) in IMPORTED_COLUMNS.items():
        a = cols[name]
        want = np.dtype(dtype)
        if a.shape != (n, *shape) or a.dtype.kind != want.kind or a.dtype.itemsize != want.itemsize:
            raise _imported_error(
                path, f"column {name!r} has dtype {a.dtype} and shape {a.shape}, expected "
                f"{want} and {(n, *shape)}")
        cols[name] = a.astype(want.newbyteorder("="), copy=False)
    return cols


def _check_rows(path: Path, cols: dict[str, np.ndarray]) -> None:
    """Refuse the first row holding a value no import writes (named by row and hash)."""
    n_nodes, adj, ops = cols["n_nodes"], cols["adjacency"], cols["ops"]
    idx = np.arange(7)
    inside = idx[None, :] < n_nodes[:, None]  # n x 7: node slots the cell uses
    block = inside[:, :, None] & inside[:, None, :]
    codes = np.array(sorted(IMPORTED_CODES))
    last = np.take_along_axis(ops, np.clip(n_nodes.astype(np.int64) - 1, 0, 6)[:, None], 1)[:, 0]
    checks: list[tuple[np.ndarray, str]] = [
        ((n_nodes < 2) | (n_nodes > 7), "'n_nodes' outside 2..7"),
        ((adj > 1).any(axis=(1, 2)), "'adjacency' entries other than 0 and 1"),
        ((adj.astype(bool) & ~block).any(axis=(1, 2)), "'adjacency' edges outside the cell"),
        (np.tril(adj).any(axis=(1, 2)), "'adjacency' not strictly upper triangular"),
        ((inside & ~np.isin(ops, codes)).any(axis=1) | (~inside & (ops != _PAD)).any(axis=1),
         "unknown op codes in 'ops'"),
        ((ops[:, 0] != 0) | (last != 1), "'ops' not from input (code 0) to output (code 1)"),
        (cols["n_seeds"] < 1, "'n_seeds' below 1"),
    ]
    for name in ("val_accuracy", "test_accuracy", "train_accuracy"):
        a = cols[name]
        checks.append((~((a >= 0) & (a <= 100)), f"{name!r} not a percentage in [0, 100]"))
    for name in ("train_seconds", "params"):
        a = cols[name]
        checks.append((~(np.isfinite(a) & (a >= 0)), f"{name!r} not a finite number >= 0"))
    for bad, what in checks:
        rows = np.flatnonzero(bad)
        if rows.size:
            r = int(rows[0])
            raise _imported_error(
                path, f"row {r} (module hash {cols['module_hash'][r].decode(errors='replace')}):"
                f" {what}")


def _read_imported(path: Path) -> _ImportedTable:
    cols = _read_columns(path)
    _check_rows(path, cols)
    try:
        keys = tuple(cols["key"].astype("U32").tolist())
    except UnicodeDecodeError:
        raise _imported_error(path, "'key' column is not ASCII text") from None
    row_of = dict(zip(keys, range(len(keys))))
    n = len(keys)
    if len(row_of) != n:
        seen: set[str] = set()
        dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _imported_error(path, f"network {dup} appears in more than one row")
    sample = check_coverage(path, n, NB101_DISTINCT, "NB-101 cell")
    arrays = {name: readonly(cols[name]) for name in IMPORTED_COLUMNS if name != "key"}
    table = _ImportedTable(
        keys=keys, row_of=row_of, module_hash=arrays["module_hash"],
        val=arrays["val_accuracy"], test=arrays["test_accuracy"], params=arrays["params"],
        train_seconds=arrays["train_seconds"], n_seeds=arrays["n_seeds"],
        n_nodes=arrays["n_nodes"], adjacency=arrays["adjacency"], ops=arrays["ops"],
        sample=sample, archs=None,
    )
    rows = range(n) if sample else np.unique(np.linspace(0, n - 1, _KEY_CHECKS).astype(int))
    archs = []
    for r in rows:
        r = int(r)
        try:
            arch = table.architecture(r)
        except InvalidArchitectureError as exc:
            raise _imported_error(path, f"row {r}: not an NB-101 cell ({exc})") from None
        if arch.key != keys[r]:
            raise _imported_error(
                path, f"row {r}: stored key {keys[r]} but the cell's key is {arch.key} (the "
                "table was written by a version of bo-nas with another canonical hash)")
        archs.append(arch)
    if sample:
        # A sample is searched as a SubsetSpace of its cells, which needs their graphs.
        table = dataclasses.replace(table, archs=tuple(archs))
    return table


#: Either table the evaluator may hold.
_AnyTable = _Table | _ImportedTable


class NB101Benchmark(TabularBenchmark[_AnyTable]):
    r"""NAS-Bench-101 results (CIFAR-10, 108 epochs) looked up in a table.

    **The imported table** (``<data_dir>/nb101/nb101_cifar10.npz``, written by
    `bo_nas.importers.import_nb101` from the official ``nasbench_only108.tfrecord``) is
    used whenever it is there. Each network's ``val_accuracy`` and ``test_accuracy`` are
    the means over its 3 training seeds; ``costs`` are ``params`` (trainable parameters,
    millions) and ``train_seconds`` (mean training time); ``info`` holds ``key``,
    ``module_hash`` (NB-101's own hash) and ``n_seeds``. Complete (423,624 networks), it
    answers every cell of `NB101Space`, `search_space` is the whole `NB101Space`, and
    ``all_results().architectures`` is ``None`` (the keys are in ``keys``; building every
    graph would take minutes). A partial import is a sample: it must be declared in
    ``nb101/samples.json`` (the importer does so), and `search_space` is a `SubsetSpace`
    of its cells, which ``architectures`` then lists.

    **NASLib's sample** (``<data_dir>/nb101/nb101_500_cifar10.json``) otherwise. It lists
    500 adjacency matrices; many are isomorphic copies of one network (unpruned or
    relabelled), each carrying the 108-epoch validation accuracy of one training seed.
    Entries are grouped by `Architecture.key` (the canonical hash of the pruned graph),
    giving 292 distinct networks. A network's ``val_accuracy`` is the mean of its
    *distinct* accuracies, one per seed seen, so a seed repeated over many copies does
    not weigh more than the others. ``params`` and ``flops`` (millions) are NASLib's;
    for 3 networks the copies disagree slightly (NASLib measured them on the unpruned
    matrices) and the mean of the distinct values is reported. There is no test split:
    ``test_accuracy`` is ``None``. `all_results` lists the networks in the order of
    their first entry in the file, with their `Architecture` in ``architectures``.

    Either way, cells are looked up by `Architecture.key`, so every isomorphic or
    unpruned copy of a network answers for it.

    Args:
        data_dir: Folder holding ``nb101/``; `$BO_NAS_DATA_DIR` when omitted.

    Raises:
        BenchmarkFileNotFoundError: for a missing data directory, or neither table.
        BenchmarkTableError: for a malformed file or entry.
    """

    kind = "nb101_table"

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self._root = resolve_data_dir(data_dir)
        self._data_dir_arg = None if data_dir is None else absolute_path(data_dir)
        imported = self._root / "nb101" / IMPORTED_FILE
        if imported.is_file():
            self._path = imported
        else:
            self._path = data_file(
                self._root, "nb101", _FILE,
                "NASLib's NB-101 sample {nasbench101: {cifar10: {KEY: ...}}}, or the full "
                f"table {IMPORTED_FILE} imported from the official nasbench_only108.tfrecord "
                "(`bo-nas data import`)")
        self._load()  # a bad file fails here, not at the first evaluation

    @property
    def imported(self) -> bool:
        """Whether the answers come from the imported table (else NASLib's sample)."""
        return self._path.name == IMPORTED_FILE

    def _read_table(self) -> _AnyTable:
        path = self._path
        files = [path, *(p for p in [samples_file(path.parent)] if p.is_file())]
        if self.imported:
            return cached("nb101-imported", files, lambda: _read_imported(path))
        return cached("nb101-table", files, lambda: _build_table(path))

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        """The table's result for a cell (any isomorphic copy of a network it holds).

        Raises:
            EvaluationError: when the table does not hold the cell's network (for the
                complete imported table: the cell is not an NB-101 cell).
        """
        if not isinstance(arch, Architecture):
            raise EvaluationError(f"expected an Architecture, got {type(arch).__name__}")
        t = self._load()
        row = t.row_of.get(arch.key)
        if row is None:
            if t.sample:
                raise EvaluationError(f"{arch!r} is not in the NB-101 sample {self._path}")
            raise EvaluationError(
                f"{arch!r} is not in the NB-101 table {self._path}: not a cell of NB101Space "
                "(at most 7 nodes and 9 edges once pruned, ops conv3x3, conv1x1, maxpool3x3)")
        return t.result(row)

    def to_config(self) -> dict[str, Any]:
        """Settings to rebuild this evaluator; ``data_dir`` (absolute) only when given
        explicitly."""
        return {"kind": self.kind, "data_dir": self._data_dir_arg}

    def search_space(self) -> SearchSpace:
        """The networks a campaign on this table searches: the whole `NB101Space` for the
        complete imported table; for a sample (NASLib's, or a partial import), a
        `SubsetSpace` of `NB101Space` holding only the cells it can answer."""
        t = self._load()
        if not t.sample:
            return NB101Space()
        assert t.archs is not None  # a sample keeps its graphs
        return SubsetSpace(NB101Space(), t.archs, label=f"the NB-101 sample in {self._path}")

    @property
    def optimum(self) -> TabularOptimum:
        """The best-validation network (first in table order among ties); its ``string``
        is the network's `Architecture.key` and ``index`` its row. ``test_accuracy`` is
        its test accuracy, NaN for NASLib's sample (which has no test split)."""
        t = self._load()
        row = int(np.argmax(t.val))
        test = float(t.test[row]) if isinstance(t, _ImportedTable) else float("nan")
        return TabularOptimum(t.keys[row], row, float(t.val[row]), test)

    def is_optimum(self, arch: Architecture) -> bool:
        """Whether ``arch`` is the network of `optimum`."""
        return isinstance(arch, Architecture) and arch.key == self.optimum.string

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NB101Benchmark:
        """Rebuild from `to_config` output."""
        if not isinstance(config, Mapping) or config.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"evaluator config: expected kind {cls.kind!r}, got {config!r}")
        return cls(config.get("data_dir"))

    def zero_cost(self) -> ScoreSource | None:
        """Jacobian covariance and SynFlow of NASLib's sample cells (the file has no
        NASWOT); cells outside the sample score NaN. ``None`` on the imported table: the
        only NB-101 zero-cost table covers 292 of its networks, and a prior known for
        0.07 % of the space would steer the search towards those few."""
        if self.imported:
            logger.info("no NB-101 zero-cost scores for the imported table; searching "
                        "without a prior")
            return None
        from bo_nas.zero_cost import nb101_table_scores

        return nb101_table_scores(self._root)

    def __repr__(self) -> str:
        return "NB101Benchmark()"
