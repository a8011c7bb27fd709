"""The datasets of NAS-Bench-201, and one dataset's table assembled from its files.

Files (in ``<data_dir>/nb201/``, see the data README):

- ``nb201_cifar10_trainval.json`` (dataset ``cifar10``), with
  ``nb201_cifar10-valid.csv`` for the official index;
- ``nb201_cifar10-valid.csv``, ``nb201_cifar100.csv``, and ``nb201_ImageNet16-120.csv``
  (the user's own, in the columns of the other two);
- ``nb201_test_12ep_200ep.csv`` for ``fidelity=12``;
- ``nb201_curves_<dataset>.csv`` (written by ``bo-nas data import``, not shipped):
  per-epoch validation accuracies of the 200-epoch schedule, for `load_curves`;
- ``nb201_hw_<dataset>.csv`` for latencies and energies (HW-NAS-Bench);
- params and FLOPs from ``nb201_zc_proxies_cifar10.csv`` (the shipped data: a linear
  cost model fitted on its CIFAR-10 rows, see `_cost_model`) when it is there, else from
  ``nb201_costs.csv`` (written by ``bo-nas data import`` from the official file: each
  cell's own numbers for each dataset, as the official ``get_cost_info`` gives them).
  The zero-cost table wins when both are there, so results on the shipped data do not
  change when an import is added beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._cost_model import costs_for, fit_costs, op_codes
from ._nb201_readers import (
    NB201_CSV_COLUMNS,
    NB201_FIDELITY_COLUMNS,
    NB201_HW_COLUMNS,
    NB201_N_CELLS,
    ZC_COLUMNS,
    load_accuracy_csv,
    ops_of_string,
    read_fidelity_csv,
    read_hw,
    read_trainval_json,
)
from ._table import TabularResults, readonly
from ._tables import (
    BenchmarkTableError,
    cached,
    check_coverage,
    data_file,
    nb201_key,
    parse_nb201_cell,
    parse_number,
    read_csv,
    samples_file,
)

logger = logging.getLogger(__name__)

ZC_FILE = "nb201_zc_proxies_cifar10.csv"
FIDELITY_FILE = "nb201_test_12ep_200ep.csv"
_CIFAR10_JSON = "nb201_cifar10_trainval.json"
_INDEX_CSV = "nb201_cifar10-valid.csv"
#: Params, FLOPs and latency per cell and dataset, from the official file (`read_costs`).
COSTS_FILE = "nb201_costs.csv"
#: The datasets of `COSTS_FILE`, in the official order.
COSTS_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
#: Its numbers per dataset: params (M), FLOPs (M), latency (s; empty where unknown).
COSTS_METRICS: tuple[str, ...] = ("params", "flops", "latency")
#: Columns of `COSTS_FILE`: ``arch_str``, then ``<dataset>_<metric>``.
COSTS_COLUMNS: tuple[str, ...] = ("arch_str", *(
    f"{d}_{m}" for d in COSTS_DATASETS for m in COSTS_METRICS))


@dataclass(frozen=True)
class Dataset:
    """Where one dataset's numbers are.

    Attributes:
        file: Its accuracy table.
        n_classes: Its classes (chance level, classifier size).
        hw_file: Its HW-NAS-Bench table.
        hw_shipped: Whether the data directory ships `hw_file`.
        fidelity_column: Its 12-epoch column of ``nb201_test_12ep_200ep.csv``, if any.
    """

    file: str
    n_classes: int
    hw_file: str
    hw_shipped: bool
    fidelity_column: str | None


DATASETS: Mapping[str, Dataset] = {
    "cifar10": Dataset(_CIFAR10_JSON, 10, "nb201_hw_cifar10.csv", True, "cifar10_test_12ep"),
    "cifar10-valid": Dataset(_INDEX_CSV, 10, "nb201_hw_cifar10.csv", True, None),
    "cifar100": Dataset("nb201_cifar100.csv", 100, "nb201_hw_cifar100.csv", True,
                        "cifar100_test_12ep"),
    "ImageNet16-120": Dataset("nb201_ImageNet16-120.csv", 120,
                              "nb201_hw_ImageNet16-120.csv", False, None),
}
NB201_DATASETS: tuple[str, ...] = tuple(DATASETS)
NB201_FIDELITIES: tuple[int, ...] = (12, 200)
#: Epochs of the per-epoch curves (`bo_nas.importers._writers.CURVE_EPOCHS`).
CURVE_EPOCHS = 200
#: The dataset whose curves give each dataset's objective per epoch: ``cifar10``
#: selects on the cifar10-valid validation accuracy, so it reads that dataset's curves.
CURVE_DATASET: Mapping[str, str] = {
    "cifar10": "cifar10-valid",
    "cifar10-valid": "cifar10-valid",
    "cifar100": "cifar100",
    "ImageNet16-120": "ImageNet16-120",
}


def curves_file(dataset: str) -> str:
    """Name of the per-epoch table that holds ``dataset``'s objective per epoch."""
    # The name `bo_nas.importers._writers.curve_file` writes; spelled out here because
    # the importers import this module.
    return f"nb201_curves_{CURVE_DATASET[dataset]}.csv"


@dataclass(frozen=True)
class Curves:
    """Per-epoch numbers of the 200-epoch schedule, one row per cell, all read-only.

    Attributes:
        row_of: Row of each official string.
        val: Validation accuracy (%) after each epoch, shape `n x CURVE_EPOCHS`
            (column ``e - 1`` is epoch ``e``).
        seconds: Seconds spent training each epoch, same shape, NaN where untimed.
        source: The file, for messages.
    """

    row_of: Mapping[str, int]
    val: np.ndarray
    seconds: np.ndarray
    source: str


def _read_curves(path: Path) -> Curves:
    # Imported here: the importers import this module, so a module-level import would
    # be circular.
    from bo_nas.importers._writers import read_curves

    rows = read_curves(path)
    if not rows:
        raise BenchmarkTableError(f"{path}: no rows, expected one row per NB-201 cell")
    strings = list(rows)
    return Curves(
        row_of={s: i for i, s in enumerate(strings)},
        val=readonly(np.array([rows[s][1] for s in strings], dtype=float)),
        seconds=readonly(np.array([rows[s][2] for s in strings], dtype=float)),
        source=str(path),
    )


def load_curves(path: Path) -> Curves:
    """The per-epoch table at ``path``, read once per process and version of the file.

    Raises:
        BenchmarkTableError: for other columns, a bad or repeated row, or no rows.
    """
    return cached("nb201-curves", [path], lambda: _read_curves(path))


@dataclass(frozen=True)
class Table:
    """One dataset's table in official index order, aligned arrays, all read-only.

    Attributes:
        strings: The cells' official strings, length `n`.
        row_of: Row of each official string.
        index: Official index of each cell, shape `n`.
        val: The objective, shape `n`.
        test: The 200-epoch test accuracy, shape `n`.
        params: Params (millions), shape `n`.
        flops: FLOPs (millions), shape `n`.
        hw_names: The HW-NAS-Bench metrics read, empty when none were.
        hw: Those metrics, shape `n x len(hw_names)`, NaN where missing.
        source: The accuracy file, for messages.
        sample: Whether the table is a declared sample (it lacks some cells).
    """

    strings: tuple[str, ...]
    row_of: Mapping[str, int]
    index: np.ndarray
    val: np.ndarray
    test: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    hw_names: tuple[str, ...]
    hw: np.ndarray
    source: str
    sample: bool = False

    @property
    def results(self) -> TabularResults:
        """Every cell's numbers, sharing this table's arrays."""
        return TabularResults(
            keys=self.strings,
            val_accuracy=self.val,
            costs={"params": self.params, "flops": self.flops,
                   **{n: self.hw[:, j] for j, n in enumerate(self.hw_names)}},
            test_accuracy=self.test,
            index=self.index,
        )


def read_costs(path: Path) -> dict[str, np.ndarray]:
    """The rows of `COSTS_FILE`.

    Returns:
        ``{official string: costs}``, ``costs`` of shape `len(COSTS_DATASETS) x 3`:
        per dataset, params (M), FLOPs (M) and latency (s; NaN where the cell is empty).

    Raises:
        BenchmarkTableError: for other columns, no rows, a repeated cell, params or
            FLOPs missing or negative, a latency that is not positive.
    """
    out: dict[str, np.ndarray] = {}
    line_of: dict[str, int] = {}
    for line, row in read_csv(path, COSTS_COLUMNS):
        where = f"line {line}"
        s = nb201_key(parse_nb201_cell(path, where, "arch_str", row["arch_str"]))
        if s in line_of:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate architecture {s!r} (first on line {line_of[s]})"
            )
        values = np.empty((len(COSTS_DATASETS), len(COSTS_METRICS)))
        for i, d in enumerate(COSTS_DATASETS):
            for j, m in enumerate(COSTS_METRICS):
                column = f"{d}_{m}"
                text = row[column]
                if m == "latency" and text == "":
                    values[i, j] = np.nan  # the official file has no latency here
                    continue
                x = parse_number(path, where, column, text)
                # The official API reports None (written empty), never 0 or less, for an
                # unmeasured latency; params and FLOPs are counts.
                if (x <= 0) if m == "latency" else (x < 0):
                    bound = "positive (empty when unknown)" if m == "latency" else ">= 0"
                    raise BenchmarkTableError(
                        f"{path}, {where}: {column!r} must be {bound}, got {x!r}")
                values[i, j] = x
        line_of[s] = line
        out[s] = values
    if not out:
        raise BenchmarkTableError(f"{path}: no rows, expected one row per NB-201 cell")
    return out


def _cost_file(root: Path) -> Path:
    """The file params and FLOPs come from: the zero-cost table when it is there (the
    shipped data, whose results must not change), else `COSTS_FILE` when that is there,
    else the zero-cost table again (so that the error names what is missing)."""
    nb = root / "nb201"
    if not (nb / ZC_FILE).is_file() and (nb / COSTS_FILE).is_file():
        return nb / COSTS_FILE
    return nb / ZC_FILE


def _costs(root: Path, dataset: str, strings: list[str], source: str
           ) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs (millions) of the cells ``strings`` on ``dataset``'s network."""
    spec = DATASETS[dataset]
    path = _cost_file(root)
    if path.name == COSTS_FILE:
        rows = cached("nb201-costs-csv", [path], lambda: read_costs(path))
        absent = [s for s in strings if s not in rows]
        if absent:
            raise BenchmarkTableError(
                f"{path}: no row for architecture {absent[0]!r} ({len(rows):,} rows; "
                f"expected one for each of the {len(strings):,} cells of {source}); "
                "import the official file again to write both together"
            )
        k = COSTS_DATASETS.index(dataset)
        both = np.array([rows[s][k, :2] for s in strings]).reshape(len(strings), 2)
        return both[:, 0].copy(), both[:, 1].copy()
    zc_path = data_file(root, "nb201", ZC_FILE, "params and FLOPs of NB-201 cells on "
                        f"CIFAR-10 (columns {list(ZC_COLUMNS)}), or in its place "
                        f"{COSTS_FILE}, which `bo-nas data import` writes from the "
                        "official NAS-Bench-201 / NATS-Bench file")
    coef = cached("nb201-costs", [zc_path], lambda: fit_costs(zc_path))
    codes = op_codes(ops_of_string(s) for s in strings)
    return costs_for(coef, codes, spec.n_classes, dataset)


def _build_table(root: Path, dataset: str, fidelity: int, hardware: bool | None) -> Table:
    spec = DATASETS[dataset]
    nb = "nb201"
    if dataset == "cifar10":
        index_path = data_file(root, nb, _INDEX_CSV, "the NB-201 cifar10-valid CSV "
                               f"(columns {list(NB201_CSV_COLUMNS)}) for the official index")
        json_path = data_file(root, nb, _CIFAR10_JSON,
                              "{arch_str: {val_acc_200, test_acc_200, rank}} for cifar10")
        ref = load_accuracy_csv(index_path, "cifar10-valid", 10)
        index_of = dict(zip(ref["strings"], ref["index"]))
        entries = cached("nb201-json", [json_path], lambda: read_trainval_json(json_path))
        missing = [s for s in entries if s not in index_of]
        if missing:
            raise BenchmarkTableError(
                f"{json_path}, entry {missing[0]!r}: not in {index_path}, so it has no "
                "official index"
            )
        coverage = [(index_path, len(ref["strings"])), (json_path, len(entries))]
        strings = sorted(entries, key=index_of.__getitem__)
        index = [index_of[s] for s in strings]
        val = [entries[s][0] for s in strings]
        test = [entries[s][1] for s in strings]
        source = str(json_path)
    else:
        path = data_file(root, nb, spec.file, f"the NB-201 {dataset} table with the columns "
                         f"{list(NB201_CSV_COLUMNS)}")
        table = load_accuracy_csv(path, dataset, spec.n_classes)
        strings, index, val, test = (table[k] for k in ("strings", "index", "val", "test"))
        coverage = [(path, len(strings))]
        source = str(path)
    val_arr = np.asarray(val, dtype=float)
    if fidelity == 12:
        column = str(spec.fidelity_column)  # not None: checked by the evaluator
        fpath = data_file(root, nb, FIDELITY_FILE, "12- and 200-epoch test accuracies "
                          f"(columns {list(NB201_FIDELITY_COLUMNS)})")
        fid = cached("nb201-fidelity", [fpath], lambda: read_fidelity_csv(fpath))
        absent = [s for s in strings if s not in fid]
        if absent:
            raise BenchmarkTableError(
                f"{fpath}: no row for architecture {absent[0]!r} ({len(fid):,} rows; "
                f"expected one for each of the {len(strings):,} cells of {source})"
            )
        val_arr = np.array([fid[s][column] for s in strings])
    params, flops = _costs(root, dataset, strings, source)
    hw_names: tuple[str, ...] = ()
    hw = np.zeros((len(strings), 0))
    hw_path = root / nb / spec.hw_file
    # A directory made by `bo-nas data import` (no zero-cost table, nb201_costs.csv in
    # its place) has no HW tables, which the official files lack: there hardware=None
    # reads them when present, as for ImageNet16-120, instead of requiring them.
    hw_expected = spec.hw_shipped and _cost_file(root).name != COSTS_FILE
    if hardware or (hardware is None and (hw_expected or hw_path.is_file())):
        hw_path = data_file(root, nb, spec.hw_file, "HW-NAS-Bench metrics with columns "
                            f"{list(NB201_HW_COLUMNS)}")
        rows = cached("nb201-hw", [hw_path], lambda: read_hw(hw_path))
        hw_names = NB201_HW_COLUMNS[1:]
        absent = [s for s in strings if s not in rows]
        if absent:
            raise BenchmarkTableError(
                f"{hw_path}: no row for architecture {absent[0]!r} ({len(rows):,} rows; "
                f"expected one for each of the {len(strings):,} cells of {source}); the "
                "file looks cut short"
            )
        hw = np.array([rows[s] for s in strings]).reshape(len(strings), -1)
    elif hardware is None:
        logger.info("no %s: %s results carry no device latencies", hw_path, dataset)
    # Last, so that a bad row or column is reported as such rather than as a count.
    sample = False
    for file, n in coverage:
        sample = check_coverage(file, n, NB201_N_CELLS, "NB-201 cell") or sample
    return Table(
        strings=tuple(strings),
        row_of={s: i for i, s in enumerate(strings)},
        index=readonly(np.asarray(index, dtype=np.int64)),
        val=readonly(val_arr),
        test=readonly(np.asarray(test, dtype=float)),
        params=readonly(params),
        flops=readonly(flops),
        hw_names=hw_names,
        hw=readonly(hw),
        source=source,
        sample=sample,
    )


def _table_files(root: Path, dataset: str, fidelity: int) -> list[Path]:
    nb = root / "nb201"
    # The costs file that _build_table reads (the zero-cost table or nb201_costs.csv).
    files = [nb / DATASETS[dataset].file, _cost_file(root)]
    if dataset == "cifar10":
        files.append(nb / _INDEX_CSV)
    if fidelity == 12:
        files.append(nb / FIDELITY_FILE)
    return files


def load_table(root: Path, dataset: str, fidelity: int, hardware: bool | None) -> Table:
    """One dataset's table, read once per process and version of its files.

    Args:
        root: The resolved data directory.
        dataset: One of `NB201_DATASETS`.
        fidelity: One of `NB201_FIDELITIES`, available for ``dataset``.
        hardware: As `NB201Benchmark`'s argument.

    Raises:
        BenchmarkFileNotFoundError: for a missing file.
        BenchmarkTableError: for a file with other columns or a bad row.
    """
    # File signatures in the key: a rewritten file is read again. Missing files are left
    # to _build_table, which names them.
    files = [p for p in _table_files(root, dataset, fidelity) if p.is_file()]
    hw = root / "nb201" / DATASETS[dataset].hw_file
    if hw.is_file():
        files.append(hw)
    declared = samples_file(root / "nb201")
    if declared.is_file():
        files.append(declared)
    return cached("nb201-table", files, lambda: _build_table(root, dataset, fidelity, hardware),
                  str(root), dataset, fidelity, hardware)
