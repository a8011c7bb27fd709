"""Importing the official NAS-Bench-201 / NATS-Bench files (``bo_nas.importers``).

Each test writes miniature files of the official structure here (a dozen cells,
``ArchResults``/``ResultsCount`` states as ``nas_201_api`` and ``nats_bench`` store
them: both ``torch.save`` formats of the ``.pth``, v1_0 and v1_1 contents, a NATS-Bench
topology folder and its tar), imports them, and checks the tables three ways: against
averages computed here from the generated runs, against the official APIs
(``nas_201_api.NASBench201API``, ``nats_bench.create``) reading the same miniature, and
through the evaluators (`NB201Benchmark`) that read the tables. Broken files (cut short,
bad bz2, wrong structure, a global that would run code) must be refused with an error
naming the file.
"""

from __future__ import annotations

import bz2
import csv
import itertools
import json
import math
import pickle
import random
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from bo_nas.cli import EXIT_CANNOT_WRITE, EXIT_MISSING_DATA, EXIT_OK, EXIT_USAGE, main
from bo_nas.evaluators import NB201Benchmark
from bo_nas.evaluators._tables import BenchmarkFileNotFoundError, clear_cache
from bo_nas.importers import (
    SourceFileError,
    TableExistsError,
    detect_format,
    import_benchmark,
    import_nb201,
)
from bo_nas.importers._writers import read_curves

nas_201_api = pytest.importorskip("nas_201_api")
nats_bench = pytest.importorskip("nats_bench")

# --- the official structure, written from the API sources (no bo_nas code) -------------

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
#: The evaluation sets each dataset's runs hold (as in NAS-Bench-201 v1_1).
EVAL_SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
             "cifar100": ("ori-test", "x-valid", "x-test"),
             "ImageNet16-120": ("ori-test", "x-valid", "x-test")}
ALL_CELLS = list(itertools.product(OPS, repeat=6))


def string_of(ops: tuple[str, ...]) -> str:
    it = iter(ops)
    return "+".join("|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in (1, 2, 3))


META = [string_of(c) for c in ALL_CELLS]
#: Official-style indices of the miniature's cells (the all-none cell, a dead one, the
#: all-conv one, and others), in no particular order.
INDEXES = [0, 7, 3124, 15624, 9930, 6111, 1459, 42, 777, 12000, 5, 8888]


def is_dead(ops: tuple[str, ...]) -> bool:
    edges = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    reach = {0}
    for (i, j), op in zip(edges, ops):
        if op != "none" and j in reach:
            reach.add(i)
    return 3 not in reach


def accuracy(rng: random.Random, ops: tuple[str, ...], dataset: str, base: float) -> float:
    """Chance level (a little noise) for a cell with no input-output path, else made up."""
    chance = 100.0 / CLASSES[dataset]
    if is_dead(ops):
        return chance * rng.uniform(0.97, 1.03)
    return min(99.9, max(0.5, base + rng.uniform(-3, 3) + 2 * sum(map(OPS.index, ops)) / 6))


def net_costs(ops: tuple[str, ...], dataset: str) -> tuple[float, float]:
    """Made-up params and FLOPs (M) of a cell's network: like the official ones, the same
    for every seed and schedule, different per dataset (the classifier; ImageNet16-120's
    16x16 inputs), and not those of the linear model `write_zc_table` gives."""
    conv = {"nor_conv_1x1": 0.0046, "nor_conv_3x3": 0.0384, "avg_pool_3x3": 0.0001}
    body = sum(conv.get(o, 0.0) for o in ops)
    head = (64 * CLASSES[dataset] + CLASSES[dataset]) / 1e6
    params = 0.073 + 2.7 * body + body**2 + head
    flops = (15.6 + 390 * body) / (4 if dataset == "ImageNet16-120" else 1) + head
    return params, flops


def results_count(rng: random.Random, ops: tuple[str, ...], dataset: str, seed: int,
                  epochs: int) -> dict[str, Any]:
    """A ``ResultsCount`` state (``nas_201_api.api_utils.ResultsCount.__dict__``)."""
    final = {"cifar10-valid": 85.0, "cifar10": 88.0, "cifar100": 60.0,
             "ImageNet16-120": 35.0}[dataset]
    s = string_of(ops)
    params, flop = net_costs(ops, dataset)
    state: dict[str, Any] = {
        "name": dataset, "net_state_dict": None,
        "train_acc1es": {e: accuracy(rng, ops, dataset, final * (e + 1) / epochs + 5)
                         for e in range(epochs)},
        "train_acc5es": {e: rng.uniform(50, 100) for e in range(epochs)},
        "train_losses": {e: rng.uniform(0, 2) for e in range(epochs)},
        "train_times": {e: rng.uniform(5, 9) for e in range(epochs)},
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": s,
                        "class_num": CLASSES[dataset]},
        "params": params, "flop": flop, "seed": seed, "epochs": epochs,
        "latency": [rng.uniform(0.01, 0.02)],
        "eval_names": list(EVAL_SETS[dataset]), "eval_acc1es": {}, "eval_times": {},
        "eval_losses": {},
    }
    for name in EVAL_SETS[dataset]:
        for e in range(epochs):
            key = f"{name}@{e}"  # one key object for the three dicts, as update_eval does
            state["eval_acc1es"][key] = accuracy(rng, ops, dataset, final * (e + 1) / epochs)
            state["eval_losses"][key] = rng.uniform(0, 2)
            state["eval_times"][key] = rng.uniform(0.5, 1.5)
    return state


def arch_results(rng: random.Random, index: int, seeds: dict[str, list[int]], epochs: int
                 ) -> dict[str, Any]:
    """An ``ArchResults`` state (``state_dict()``)."""
    ops = ALL_CELLS[index]
    state: dict[str, Any] = {"arch_index": index, "arch_str": string_of(ops),
                             "all_results": {}, "dataset_seed": {}, "clear_net_done": True}
    for dataset, ss in seeds.items():
        state["dataset_seed"][dataset] = sorted(ss)
        for seed in sorted(ss):
            state["all_results"][(dataset, seed)] = results_count(rng, ops, dataset, seed,
                                                                  epochs)
    return state


def full_seeds(k: int) -> dict[str, list[int]]:
    """200-epoch seeds: some cells trained once, some twice, some three times."""
    seeds = [[777], [777, 888], [777, 888, 999]][k % 3]
    return {d: seeds for d in CLASSES}


def nb201_dict(version: str, indexes: list[int] = INDEXES) -> dict[str, Any]:
    """The dict of a miniature ``NAS-Bench-201-v1_<version>.pth``: v1_1 has 12-epoch
    runs on every dataset, v1_0 on cifar10-valid only."""
    rng = random.Random(version)
    less = ({"cifar10-valid": [111, 777], "cifar10": [111], "cifar100": [111],
             "ImageNet16-120": [111]} if version == "1" else {"cifar10-valid": [111]})
    arch2infos = {i: {"less": arch_results(rng, i, less, 12),
                      "full": arch_results(rng, i, full_seeds(k), 200)}
                  for k, i in enumerate(indexes)}
    return {"meta_archs": list(META), "arch2infos": arch2infos,
            "evaluated_indexes": sorted(indexes), "total_archs": len(META)}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def expected(info: dict[str, Any], dataset: str, hp: str, metric: str,
             epoch: int | None = None) -> float:
    """A seed average computed from the generated runs (``metric``: a set name, 'train'
    or 'time')."""
    state = info["full" if hp == "200" else "less"]
    runs = [state["all_results"][(dataset, s)] for s in state["dataset_seed"][dataset]]
    last = runs[0]["epochs"] - 1 if epoch is None else epoch
    if metric == "train":
        return mean([r["train_acc1es"][last] for r in runs])
    if metric == "time":
        return mean([r["train_times"][last] for r in runs])
    return mean([r["eval_acc1es"][f"{metric}@{last}"] for r in runs])


def save_pth(obj: Any, path: Path, legacy: bool) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def write_nats(root: Path, data: dict[str, Any]) -> Path:
    """A ``NATS-tss-v1_0-3ffb9-simple`` folder of ``data``'s cells, saved by the official
    ``nats_bench.pickle_save`` ({hp: ArchResults state} per cell)."""
    folder = root / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir(parents=True)
    nats_bench.pickle_save({"meta_archs": data["meta_archs"], "total_archs": len(META)},
                           str(folder / "meta.pickle"))
    for i, info in data["arch2infos"].items():
        nats_bench.pickle_save({"12": info["less"], "200": info["full"]},
                               str(folder / f"{i:06d}.pickle"))
    return folder


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {r.get("arch str", r.get("arch_str")): r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def v11() -> dict[str, Any]:
    return nb201_dict("1")


@pytest.fixture(scope="module")
def v10() -> dict[str, Any]:
    return nb201_dict("0")


@pytest.fixture(autouse=True)
def _fresh_tables() -> None:
    clear_cache()  # tables rewritten within one timestamp tick must be read again


# --- the tables: our averages and the official API's -----------------------------------


def check_tables(nb: Path, data: dict[str, Any], api: Any, short: bool) -> None:
    """The tables in ``nb`` hold ``data``'s seed averages, equal (to the bit) to what
    ``api.get_more_info(..., is_random=False)`` gives."""
    infos = data["arch2infos"]
    c10v, c100, img = (rows(nb / f) for f in ("nb201_cifar10-valid.csv", "nb201_cifar100.csv",
                                              "nb201_ImageNet16-120.csv"))
    trainval = json.loads((nb / "nb201_cifar10_trainval.json").read_text())
    assert len(c10v) == len(c100) == len(img) == len(trainval) == len(infos)
    assert list(trainval) == [META[i] for i in sorted(infos)]  # official index order
    for i, info in infos.items():
        s = META[i]
        for table, dataset, valid_set, test_set in (
            (c10v, "cifar10-valid", "x-valid", "ori-test"),
            (c100, "cifar100", "x-valid", "x-test"),
            (img, "ImageNet16-120", "x-valid", "x-test"),
        ):
            row = table[s]
            assert (int(row["file id"]), row["cfg name"], row["C"], row["N"]) == (
                i, "infer.tiny", "16", "5")
            got = [float(row[c]) for c in ("train accuracy", "validation accuracy",
                                           "test accuracy")]
            assert got == [expected(info, dataset, "200", m)
                           for m in ("train", valid_set, test_set)]
            ref = api.get_more_info(i, dataset, hp="200", is_random=False)
            assert got == [ref["train-accuracy"], ref["valid-accuracy"], ref["test-accuracy"]]
        entry = trainval[s]
        ref10 = api.get_more_info(i, "cifar10", hp="200", is_random=False)
        assert entry["test_acc_200"] == ref10["test-accuracy"] == expected(
            info, "cifar10", "200", "ori-test")
        assert entry["val_acc_200"] == float(c10v[s]["validation accuracy"])
    # rank: by the cifar10 test accuracy, 1 = best
    by_rank = sorted(trainval.values(), key=lambda e: e["rank"])
    assert [e["rank"] for e in by_rank] == list(range(1, len(infos) + 1))
    assert all(a["test_acc_200"] >= b["test_acc_200"] for a, b in itertools.pairwise(by_rank))
    fid = nb / "nb201_test_12ep_200ep.csv"
    assert fid.is_file() == short
    if short:
        f = rows(fid)
        for i, info in infos.items():
            row = f[META[i]]
            for dataset, test_set in (("cifar10", "ori-test"), ("cifar100", "x-test")):
                ref12 = api.get_more_info(i, dataset, hp="12", is_random=False)
                assert float(row[f"{dataset}_test_12ep"]) == ref12["test-accuracy"] == \
                    expected(info, dataset, "12", test_set)
                assert float(row[f"{dataset}_test_200ep"]) == api.get_more_info(
                    i, dataset, hp="200", is_random=False)["test-accuracy"]


def check_curves(nb: Path, data: dict[str, Any], api: Any, epochs: tuple[int, ...]) -> None:
    """Per-epoch validation accuracy and training time against the API at ``epochs``."""
    for dataset in ("cifar10-valid", "cifar100", "ImageNet16-120"):
        curves = read_curves(nb / f"nb201_curves_{dataset}.csv")
        assert len(curves) == len(data["arch2infos"])
        for i, info in data["arch2infos"].items():
            index, val, sec = curves[META[i]]
            assert index == i and val.shape == sec.shape == (200,)
            assert list(val) == [expected(info, dataset, "200", "x-valid", e)
                                 for e in range(200)]
            assert list(sec) == [expected(info, dataset, "200", "time", e) for e in range(200)]
            results = api.arch2infos_dict[i]["200"]  # the API's own ArchResults
            for e in epochs:
                assert val[e] == api.get_more_info(i, dataset, iepoch=e, hp="200",
                                                   is_random=False)["valid-accuracy"]
                assert sec[e] == results.get_metrics(dataset, "train", iepoch=e,
                                                     is_random=False)["cur_time"]


COST_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")


def check_costs(nb: Path, data: dict[str, Any], api: Any, pristine: bool = True) -> None:
    """``nb201_costs.csv`` holds, per cell and dataset, what ``api.get_cost_info`` gives
    for the 200-epoch runs, to the bit. For ``pristine`` data (every run of a cell and
    dataset with the same costs, as generated), also the generated costs, and, to
    rounding, the default schedule's (``hp="12"``) where the file has 12-epoch runs."""
    table = rows(nb / "nb201_costs.csv")
    infos = data["arch2infos"]
    assert list(table) == [META[i] for i in sorted(infos)]  # official index order
    for i, info in infos.items():
        row = table[META[i]]
        assert len(row) == 1 + 3 * len(COST_DATASETS)
        for d in COST_DATASETS:
            ref = api.get_cost_info(i, d, hp="200")
            got = (float(row[f"{d}_params"]), float(row[f"{d}_flops"]))
            assert got == (ref["params"], ref["flops"]), (i, d)
            latency = row[f"{d}_latency"]
            assert (float(latency) if latency else None) == ref["latency"], (i, d)
            if pristine:
                assert got == pytest.approx(net_costs(ALL_CELLS[i], d), rel=1e-12, abs=0)
                if d in info["less"]["dataset_seed"]:
                    # The API's default schedule: the same networks, but a mean over
                    # other seeds (often one), which may differ in the last bit.
                    ref12 = api.get_cost_info(i, d)
                    assert got == pytest.approx((ref12["params"], ref12["flops"]),
                                                rel=1e-15, abs=0), (i, d)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-format", "zip-format"])
def test_v1_1_pth_matches_hand_averages_and_official_api(
    tmp_path: Path, v11: dict[str, Any], legacy: bool
) -> None:
    pth = save_pth(v11, tmp_path / "NAS-Bench-201-v1_1-096897.pth", legacy)
    assert detect_format(pth) == "nb201-pth"
    written = import_nb201(pth, tmp_path / "data", progress=False)
    nb = tmp_path / "data" / "nb201"
    assert [p.name for p in written] == [
        "nb201_cifar10-valid.csv", "nb201_cifar100.csv", "nb201_ImageNet16-120.csv",
        "nb201_cifar10_trainval.json", "nb201_costs.csv", "nb201_test_12ep_200ep.csv",
        "nb201_curves_cifar10-valid.csv", "nb201_curves_cifar100.csv",
        "nb201_curves_ImageNet16-120.csv", "samples.json"]
    assert not [p for p in nb.iterdir() if p.name.startswith(".")]  # no temporary left
    # The official API reads the very file we imported (torch.load, weights_only).
    api = nas_201_api.NASBench201API(str(pth), verbose=False)
    check_tables(nb, v11, api, short=True)
    check_curves(nb, v11, api, epochs=(0, 11, 100, 199))
    check_costs(nb, v11, api)
    declared = json.loads((nb / "samples.json").read_text())
    assert declared == {p.name: len(INDEXES) for p in written[:-1]}


def test_v1_0_pth_has_no_12_epoch_table(tmp_path: Path, v10: dict[str, Any],
                                        caplog: pytest.LogCaptureFixture) -> None:
    pth = save_pth(v10, tmp_path / "NAS-Bench-201-v1_0-e61699.pth", legacy=True)
    with caplog.at_level("WARNING", logger="bo_nas.importers"):
        import_nb201(pth, tmp_path, progress=False)
    assert "12-epoch" in caplog.text and "v1_0" in caplog.text
    api = nas_201_api.NASBench201API(v10, verbose=False)
    check_tables(tmp_path / "nb201", v10, api, short=False)
    check_costs(tmp_path / "nb201", v10, api)


def test_nats_folder_and_tar_match_official_api_both_modes(
    tmp_path: Path, v11: dict[str, Any]
) -> None:
    folder = write_nats(tmp_path / "src", v11)
    assert detect_format(folder) == "nats-tss"
    import_nb201(folder, tmp_path / "a", progress=False)
    fast = nats_bench.create(str(folder), "tss", fast_mode=True, verbose=False)
    check_tables(tmp_path / "a" / "nb201", v11, fast, short=True)
    check_curves(tmp_path / "a" / "nb201", v11, fast, epochs=(0, 199))
    check_costs(tmp_path / "a" / "nb201", v11, fast)
    # fast_mode=False loads everything from one dict: the same numbers.
    whole = {"meta_archs": v11["meta_archs"], "evaluated_indexes": v11["evaluated_indexes"],
             "arch2infos": {i: {"12": x["less"], "200": x["full"]}
                            for i, x in v11["arch2infos"].items()}}
    slow = nats_bench.create(whole, "tss", fast_mode=False, verbose=False)
    check_tables(tmp_path / "a" / "nb201", v11, slow, short=True)
    check_costs(tmp_path / "a" / "nb201", v11, slow)
    # The tar of the folder gives the same files, byte for byte.
    tar = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
    with tarfile.open(tar, "w") as t:
        t.add(folder, arcname=folder.name)
    assert detect_format(tar) == "nats-tss"
    for p in import_benchmark(tar, tmp_path / "b", progress=False):
        assert p.read_bytes() == (tmp_path / "a" / "nb201" / p.name).read_bytes()
    # And so does a .pth of the same cells.
    pth = save_pth(v11, tmp_path / "v11.pth", legacy=True)
    for p in import_nb201(pth, tmp_path / "c", progress=False):
        assert p.read_bytes() == (tmp_path / "a" / "nb201" / p.name).read_bytes()


def test_nats_in_worker_processes_gives_the_same_tables(tmp_path: Path) -> None:
    data = nb201_dict("1", INDEXES[:4])
    folder = write_nats(tmp_path / "src", data)
    one = import_nb201(folder, tmp_path / "one", progress=False, workers=1)
    two = import_nb201(folder, tmp_path / "two", progress=False, workers=2)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


def test_costs_follow_each_official_api_when_seeds_disagree(tmp_path: Path) -> None:
    data = nb201_dict("1", INDEXES[:3])
    i = INDEXES[2]  # trained with seeds 777, 888 and 999
    runs = data["arch2infos"][i]["full"]["all_results"]
    assert data["arch2infos"][i]["full"]["dataset_seed"]["cifar100"] == [777, 888, 999]
    runs[("cifar100", 777)]["params"] += 0.01  # differs in the fifth decimal
    runs[("cifar100", 999)]["flop"] += 1e-7  # differs only below it
    for seed in (777, 888, 999):
        runs[("ImageNet16-120", seed)]["latency"] = None  # never measured
    runs[("cifar10", 888)]["latency"] = None  # measured on the other seeds only
    # nas_201_api (the .pth) averages every seed; nats_bench (the archive) takes seed
    # 888's params when the seeds disagree, and averages the FLOPs that agree to 5 places.
    import_nb201(save_pth(data, tmp_path / "v.pth", legacy=True), tmp_path / "pth",
                 progress=False)
    check_costs(tmp_path / "pth" / "nb201", data, nas_201_api.NASBench201API(data, verbose=False),
                pristine=False)
    folder = write_nats(tmp_path / "src", data)
    import_nb201(folder, tmp_path / "nats", progress=False)
    check_costs(tmp_path / "nats" / "nb201", data,
                nats_bench.create(str(folder), "tss", fast_mode=True, verbose=False),
                pristine=False)
    pth_row = rows(tmp_path / "pth" / "nb201" / "nb201_costs.csv")[META[i]]
    nats_row = rows(tmp_path / "nats" / "nb201" / "nb201_costs.csv")[META[i]]
    made_up = net_costs(ALL_CELLS[i], "cifar100")[0]
    assert float(nats_row["cifar100_params"]) == made_up  # seed 888's, unchanged
    assert float(pth_row["cifar100_params"]) == pytest.approx(made_up + 0.01 / 3, abs=1e-12)
    assert pth_row["cifar100_flops"] == nats_row["cifar100_flops"]
    assert pth_row["ImageNet16-120_latency"] == nats_row["ImageNet16-120_latency"] == ""
    assert float(pth_row["cifar10_latency"]) == mean(
        [runs[("cifar10", s)]["latency"][0] for s in (777, 999)])
    # Without seed 888 the NATS-Bench API has no value to take, and neither has the import.
    del runs[("cifar100", 888)]
    data["arch2infos"][i]["full"]["dataset_seed"]["cifar100"] = [777, 999]
    other = write_nats(tmp_path / "src2", data)
    with pytest.raises(ValueError):
        nats_bench.create(str(other), "tss", fast_mode=True, verbose=False).get_cost_info(
            i, "cifar100", hp="200")
    refused(other, tmp_path / "o", f"architecture {i}", "params differ", "888")


# --- the evaluators read the written tables ----------------------------------------------


def write_zc_table(nb: Path) -> None:
    """A zero-cost table whose params/FLOPs are exactly linear in per-edge ops (the
    evaluators rebuild every cell's costs from it): the all-none cell and each single-op
    cell determine the 25 coefficients."""
    cells = [("none",) * 6] + [tuple(o if k == e else "none" for k in range(6))
                               for e in range(6) for o in OPS[1:]]
    net_edges = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
    edges = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    code = {"skip_connect": 0, "none": 1, "nor_conv_3x3": 2, "nor_conv_1x1": 3,
            "avg_pool_3x3": 4}
    cost = {"none": 0.0, "skip_connect": 0.0, "nor_conv_1x1": 0.004, "nor_conv_3x3": 0.036,
            "avg_pool_3x3": 0.0}
    columns = ["net", "net_str", "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov",
               "l2_norm", "nwot", "params", "plain", "snip", "synflow", "zen"]
    with open(nb / "nb201_zc_proxies_cifar10.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for c in cells:
            by_edge = dict(zip(edges, c))
            row = dict.fromkeys(columns, 0.5)
            row.update(net=str(tuple(code[by_edge[e]] for e in net_edges)), net_str=string_of(c),
                       params=round(0.1 + sum(cost[o] for o in c), 6),
                       flops=round(10.0 + 100 * sum(cost[o] for o in c), 6))
            w.writerow([row[k] for k in columns])


def test_evaluators_look_up_imported_sample_tables(tmp_path: Path, v11: dict[str, Any]) -> None:
    import_nb201(save_pth(v11, tmp_path / "v11.pth", legacy=True), tmp_path, progress=False)
    write_zc_table(tmp_path / "nb201")
    api = nas_201_api.NASBench201API(v11, verbose=False)
    for dataset in ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120"):
        bench = NB201Benchmark(dataset, tmp_path, hardware=False)
        assert bench.sample and len(bench) == len(INDEXES)
        # Campaigns on it search the sample only (cells equal up to dead edges are one).
        assert "sample" in repr(bench.search_space())
        for i in INDEXES:
            r = bench.lookup(META[i])
            assert r.info == {"index": i, "string": META[i]}
            ref = api.get_more_info(i, dataset, hp="200", is_random=False)
            valid = api.get_more_info(i, "cifar10-valid", hp="200", is_random=False)[
                "valid-accuracy"] if dataset == "cifar10" else ref["valid-accuracy"]
            assert (r.val_accuracy, r.test_accuracy) == (valid, ref["test-accuracy"])
        best = max(INDEXES, key=lambda i: bench.lookup(META[i]).val_accuracy)
        assert bench.optimum.index == best
    for dataset in ("cifar10", "cifar100"):
        bench = NB201Benchmark(dataset, tmp_path, fidelity=12, hardware=False)
        for i in INDEXES:
            r = bench.lookup(META[i])
            assert r.val_accuracy == api.get_more_info(i, dataset, hp="12",
                                                       is_random=False)["test-accuracy"]
            assert r.test_accuracy == api.get_more_info(i, dataset, hp="200",
                                                        is_random=False)["test-accuracy"]


def test_a_campaign_runs_on_the_imported_tables_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bo_nas import Campaign, GPStrategy
    from bo_nas.campaign import TrialState
    from bo_nas.strategies import RandomSearch

    # More cells than GPStrategy's random start (n_init), so that it fits a model too.
    data = nb201_dict("1", [*INDEXES, *range(2000, 15625, 1111)])
    root = tmp_path / "data"
    import_nb201(save_pth(data, tmp_path / "v11.pth", legacy=True), root, progress=False)
    assert not any(p.name.startswith(("nb201_zc", "nb201_hw")) for p in (root / "nb201").iterdir())
    api = nas_201_api.NASBench201API(data, verbose=False)
    budget = GPStrategy().settings.n_init + 3
    for dataset in ("cifar10", "ImageNet16-120"):
        bench = NB201Benchmark(dataset, data_dir=root)  # hardware=None: HW tables optional
        space = bench.search_space()
        assert len(space) > budget
        caplog.clear()
        with caplog.at_level("WARNING", logger="bo_nas"):
            assert bench.zero_cost() is None  # no proxy table: the GP runs without a prior
        assert "no zero-cost scores" in caplog.text and "nb201_zc_proxies" in caplog.text
        for strategy in (RandomSearch(), GPStrategy()):
            with Campaign(space, bench, strategy, seed=3) as c:
                c.run(budget)
                history = list(c.history)
            assert len(history) == budget
            for t in history:
                assert t.state is TrialState.COMPLETE and t.result is not None
                i = t.result.info["index"]
                ref = api.get_cost_info(i, dataset, hp="200")
                assert t.result.costs == {"params": ref["params"], "flops": ref["flops"]}
                assert t.result.test_accuracy == api.get_more_info(
                    i, dataset, hp="200", is_random=False)["test-accuracy"]


def test_the_zero_cost_table_keeps_its_cost_model_and_the_costs_file_is_tracked(
    tmp_path: Path, v11: dict[str, Any]
) -> None:
    from bo_nas.evaluators._nb201_datasets import _table_files
    from bo_nas.evaluators._tables import BenchmarkTableError

    import_nb201(save_pth(v11, tmp_path / "v11.pth", legacy=True), tmp_path, progress=False)
    nb = tmp_path / "nb201"
    costs, zc = nb / "nb201_costs.csv", nb / "nb201_zc_proxies_cifar10.csv"
    api = nas_201_api.NASBench201API(v11, verbose=False)
    assert costs in _table_files(tmp_path, "cifar100", 200)
    assert zc not in _table_files(tmp_path, "cifar100", 200)
    imported = NB201Benchmark("cifar100", tmp_path)
    for i in INDEXES:
        ref = api.get_cost_info(i, "cifar100", hp="200")
        assert imported.lookup(META[i]).costs == {"params": ref["params"], "flops": ref["flops"]}
    # With the zero-cost table beside it, its cost model gives the costs, as before there
    # was a costs file: the same numbers as without the file, not the file's.
    write_zc_table(nb)
    assert zc in _table_files(tmp_path, "cifar100", 200)
    assert costs not in _table_files(tmp_path, "cifar100", 200)
    with pytest.raises(BenchmarkFileNotFoundError, match=r"nb201_hw_cifar100\.csv"):
        NB201Benchmark("cifar100", tmp_path)  # the shipped layout requires its HW table
    both = NB201Benchmark("cifar100", tmp_path, hardware=False)
    costs.rename(tmp_path / "aside.csv")
    before = NB201Benchmark("cifar100", tmp_path, hardware=False)
    for i in INDEXES:
        got = both.lookup(META[i]).costs
        assert got == before.lookup(META[i]).costs
        assert got != imported.lookup(META[i]).costs
    # Neither file: the error names both.
    zc.unlink()
    with pytest.raises(BenchmarkFileNotFoundError,
                       match=r"nb201_zc_proxies_cifar10\.csv.*nb201_costs\.csv"):
        NB201Benchmark("cifar100", tmp_path, hardware=False)
    # A rewritten costs file is read again (it is in the table's cache key) ...
    text = (tmp_path / "aside.csv").read_text()
    lines = text.splitlines(keepends=True)
    first = lines[1].split(",")
    first[1 + 3 * COST_DATASETS.index("cifar100")] = "123.25"
    costs.write_text("".join([lines[0], ",".join(first), *lines[2:]]))
    assert NB201Benchmark("cifar100", tmp_path).lookup(first[0]).costs["params"] == 123.25
    # ... and a cell it lacks, or a bad value, is refused naming it.
    costs.write_text("".join([lines[0], *lines[2:]]))
    with pytest.raises(BenchmarkTableError, match=rf"nb201_costs\.csv: no row for "
                       rf"architecture '{re.escape(first[0])}' \({len(INDEXES) - 1} rows"):
        NB201Benchmark("cifar100", tmp_path)
    first[2] = "-1.0"
    costs.write_text("".join([lines[0], ",".join(first), *lines[2:]]))
    with pytest.raises(BenchmarkTableError, match=r"nb201_costs\.csv, line 2: "
                       r"'cifar10-valid_flops' must be >= 0"):
        NB201Benchmark("cifar100", tmp_path)


def test_a_full_import_is_no_sample_and_clears_its_declaration(
    tmp_path: Path, v11: dict[str, Any]
) -> None:
    nb = tmp_path / "nb201"
    nb.mkdir()
    declared = {"nb201_cifar100.csv": 12, "someone_elses.csv": 3}
    (nb / "samples.json").write_text(json.dumps(declared))
    # All 15,625 cells with one cheap run each would take minutes to pickle; instead a
    # sample import updates the declarations, and the full case is checked on them.
    import_nb201(save_pth(v11, tmp_path / "a.pth", legacy=True), tmp_path, progress=False)
    after = json.loads((nb / "samples.json").read_text())
    assert after["someone_elses.csv"] == 3 and after["nb201_cifar100.csv"] == len(INDEXES)
    from bo_nas.importers._writers import write_tables

    write_tables(nb, {"nb201_cifar100.csv": "x\n"}, 15625, force=True)
    assert "nb201_cifar100.csv" not in json.loads((nb / "samples.json").read_text())


# --- refusing what must be refused ------------------------------------------------------


def refused(source: Path, out: Path, *what: str) -> str:
    with pytest.raises(SourceFileError) as info:
        import_nb201(source, out, progress=False)
    msg = str(info.value)
    assert str(source) in msg, msg
    for w in what:
        assert w in msg, msg
    assert not (out / "nb201").exists() or not any((out / "nb201").iterdir())
    return msg


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-format", "zip-format"])
def test_a_pth_cut_in_half_is_refused(tmp_path: Path, legacy: bool) -> None:
    pth = save_pth(nb201_dict("1", INDEXES[:3]), tmp_path / "v.pth", legacy)
    raw = pth.read_bytes()
    pth.write_bytes(raw[: len(raw) // 2])
    refused(pth, tmp_path / "out", "cut short")
    pth.write_bytes(b"")
    refused(pth, tmp_path / "out", "empty")


def test_a_corrupt_zip_member_fails_its_crc(tmp_path: Path) -> None:
    pth = save_pth(nb201_dict("1", INDEXES[:2]), tmp_path / "v.pth", legacy=False)
    with zipfile.ZipFile(pth) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("data.pkl"))
    raw = bytearray(pth.read_bytes())
    at = info.header_offset + 30 + len(info.filename.encode()) + 5000
    raw[at] ^= 0xFF
    pth.write_bytes(bytes(raw))
    refused(pth, tmp_path / "out", "CRC")


def test_nats_bad_bz2_truncated_tar_missing_meta(tmp_path: Path) -> None:
    data = nb201_dict("1", INDEXES[:3])
    folder = write_nats(tmp_path / "src", data)
    member = folder / f"{INDEXES[1]:06d}.pickle.pbz2"
    good = member.read_bytes()
    member.write_bytes(good[: len(good) // 2])
    msg = refused(folder, tmp_path / "out", "bz2")
    assert member.name in msg
    member.write_bytes(b"not bz2 at all")
    refused(folder, tmp_path / "out", member.name, "bz2")
    member.write_bytes(good)
    tar = tmp_path / "n.tar"
    with tarfile.open(tar, "w") as t:
        t.add(folder, arcname=folder.name)
    raw = tar.read_bytes()
    tar.write_bytes(raw[: len(raw) * 2 // 3])
    refused(tar, tmp_path / "out", "cut short")
    (folder / "meta.pickle.pbz2").unlink()
    refused(folder, tmp_path / "out", "meta.pickle.pbz2")


def test_wrong_structures_are_named(tmp_path: Path) -> None:
    def pth(obj: Any) -> Path:
        return save_pth(obj, tmp_path / "bad.pth", legacy=True)

    data = nb201_dict("1", INDEXES[:3])
    refused(pth({"meta_archs": META}), tmp_path / "o", "arch2infos")
    refused(pth([1, 2, 3]), tmp_path / "o", "expected the NAS-Bench-201 dict")
    no_c100 = nb201_dict("1", INDEXES[:3])
    del no_c100["arch2infos"][INDEXES[2]]["full"]["dataset_seed"]["cifar100"]
    refused(pth(no_c100), tmp_path / "o", f"architecture {INDEXES[2]}", "cifar100")
    bad_acc = nb201_dict("1", INDEXES[:3])
    run = bad_acc["arch2infos"][INDEXES[1]]["full"]["all_results"][("cifar100", 777)]
    run["eval_acc1es"]["x-test@199"] = 150.0
    refused(pth(bad_acc), tmp_path / "o", f"architecture {INDEXES[1]}", "x-test@199", "150")
    short_run = nb201_dict("1", INDEXES[:3])
    short_run["arch2infos"][INDEXES[0]]["full"]["all_results"][("cifar10", 777)]["epochs"] = 90
    refused(pth(short_run), tmp_path / "o", "90 epochs, expected 200")
    wrong_meta = dict(data, meta_archs=list(reversed(META)))
    refused(pth(wrong_meta), tmp_path / "o", "meta_archs")
    some_12 = nb201_dict("1", INDEXES[:3])
    del some_12["arch2infos"][INDEXES[0]]["less"]["dataset_seed"]["cifar100"]
    refused(pth(some_12), tmp_path / "o", f"architecture {INDEXES[0]}", "12-epoch")
    refused(pth(dict(data, arch2infos={**data["arch2infos"], 3: {"less": 1}})),
            tmp_path / "o", "arch2infos[3]", "'full'")
    refused(pth({"meta_archs": META, "arch2infos": {0: {"full": torch.zeros(2)}},
                 "evaluated_indexes": [0]}), tmp_path / "o", "tensor")


class _Payload:
    """Pickles as a call to ``os.system``: what a malicious file would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    data = nb201_dict("1", INDEXES[:2])
    data["arch2infos"][INDEXES[0]]["full"]["clear_net_done"] = _Payload(marker)
    legacy = tmp_path / "evil.pth"
    with open(legacy, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    msg = refused(legacy, tmp_path / "o", "system", "not allowed")
    assert not marker.exists(), msg
    folder = write_nats(tmp_path / "src", nb201_dict("1", INDEXES[:2]))
    with bz2.open(folder / f"{INDEXES[1]:06d}.pickle.pbz2", "wb") as fh:
        pickle.dump({"200": _Payload(marker)}, fh, protocol=4)
    refused(folder, tmp_path / "o2", "system", "not allowed")
    assert not marker.exists()


def test_existing_tables_are_kept_unless_forced(tmp_path: Path) -> None:
    pth = save_pth(nb201_dict("1", INDEXES[:3]), tmp_path / "v.pth", legacy=True)
    nb = tmp_path / "nb201"
    nb.mkdir()
    (nb / "nb201_cifar100.csv").write_text("mine\n")
    with pytest.raises(TableExistsError, match=r"nb201_cifar100\.csv.*--force"):
        import_nb201(pth, tmp_path, progress=False)
    assert (nb / "nb201_cifar100.csv").read_text() == "mine\n"
    assert sorted(p.name for p in nb.iterdir()) == ["nb201_cifar100.csv"]
    import_nb201(pth, tmp_path, progress=False, force=True)
    assert (nb / "nb201_cifar100.csv").read_text().startswith("file id,arch str")


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFileNotFoundError, match=r"nope\.pth"):
        import_nb201(tmp_path / "nope.pth", tmp_path)
    with pytest.raises(SourceFileError, match="cannot tell"):
        (tmp_path / "x.txt").write_text("hello")
        import_benchmark(tmp_path / "x.txt", tmp_path)


# --- the command line -------------------------------------------------------------------


def test_cli_data_import_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    data = nb201_dict("1", INDEXES[:5])
    pth = save_pth(data, tmp_path / "NAS-Bench-201-v1_1-096897.pth", legacy=True)
    out = tmp_path / "data"
    assert main(["data", "import", str(pth), "--out", str(out)]) == EXIT_OK
    printed = capsys.readouterr()
    listed = printed.out.split()
    assert len(listed) == 10 and all(Path(p).is_file() for p in listed)
    assert "5 of the 15,625" in printed.err and "samples.json" in printed.err
    write_zc_table(out / "nb201")
    bench = NB201Benchmark("cifar100", out, hardware=False)
    api = nas_201_api.NASBench201API(data, verbose=False)
    i = INDEXES[3]
    assert bench.lookup(META[i]).test_accuracy == api.get_more_info(
        i, "cifar100", hp="200", is_random=False)["test-accuracy"]
    # again: refused, the tables are kept; --force replaces them
    assert main(["data", "import", str(pth), "--out", str(out), "-q"]) == EXIT_USAGE
    assert "already exist" in capsys.readouterr().err
    assert main(["data", "import", str(pth), "--out", str(out), "--force", "-q"]) == EXIT_OK
    assert capsys.readouterr().err == ""
    # a broken file, a missing one, an output that cannot be written
    broken = tmp_path / "broken.pth"
    broken.write_bytes(pth.read_bytes()[:1000])
    assert main(["data", "import", str(broken), "--out", str(tmp_path / "x")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(broken) in err and "cut short" in err and "Traceback" not in err
    assert main(["data", "import", str(tmp_path / "none.pth"), "--out", str(out)]) == \
        EXIT_MISSING_DATA
    assert "none.pth" in capsys.readouterr().err
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "nb201").write_text("a file where the folder goes")
    assert main(["data", "import", str(pth), "--out", str(blocked)]) == EXIT_CANNOT_WRITE
    assert "cannot" in capsys.readouterr().err


def test_cli_data_import_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["data", "import", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--force" in out and ".tfrecord" in out
    with pytest.raises(SystemExit) as info:
        main(["data"])
    assert info.value.code == EXIT_USAGE


def test_time_columns_left_empty_when_the_file_has_no_times(tmp_path: Path) -> None:
    data = nb201_dict("1", INDEXES[:2])
    for info in data["arch2infos"].values():
        for run in info["full"]["all_results"].values():
            run["train_times"] = None
    import_nb201(save_pth(data, tmp_path / "v.pth", legacy=False), tmp_path, progress=False)
    curves = read_curves(tmp_path / "nb201" / "nb201_curves_cifar100.csv")
    for _, val, sec in curves.values():
        assert all(math.isnan(x) for x in sec) and not any(math.isnan(x) for x in val)


def test_nb101_files_go_to_the_nb101_importer(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "nasbench_only108.tfrecord"
    bogus.write_bytes(b"not a tfrecord at all")
    assert detect_format(bogus) == "nb101-tfrecord"
    assert main(["data", "import", str(bogus), "--out", str(tmp_path / "o")]) == EXIT_USAGE
    assert str(bogus) in capsys.readouterr().err


# --- the streaming pickle reader on its own ----------------------------------------------


def test_streaming_reader_reads_what_pickle_reads() -> None:
    import collections

    import numpy as np

    from bo_nas.importers._pickles import StreamingPickleReader

    shared = ["shared", 1]
    obj = {
        "ints": [0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31, 2**70, -(2**70)],
        "floats": [0.0, -0.0, 1.5, 1e308, float("inf")],
        "text": ["", "é", "x" * 300, "x-valid@199"], "bytes": [b"", b"\x00\xff" * 200],
        "nested": {("cifar10", 777): {"a": None, "b": True, "c": False}},
        "curve": {e: e / 3 for e in range(1500)},  # more than one batch of 1000
        "evals": {f"x-valid@{e}": e / 7 for e in range(300)},
        "again": {f"x-valid@{e}": e / 9 for e in range(300)},
        "ordered": collections.OrderedDict([(2, 2.0), (1, 1.0)]),
        "sets": [{1, 2}, frozenset({3})], "same": [shared, shared],
        "tuples": [(), (1,), (1, 2, 3, 4)],
        "numpy": [np.float64(2.5), np.float32(0.25), np.int64(-3), np.bool_(True)],
    }
    want = dict(obj, numpy=[2.5, 0.25, -3, True])
    for protocol in (2, 3, 4, 5):
        raw = pickle.dumps(obj, protocol=protocol)
        got = StreamingPickleReader(raw, 0, len(raw), Path("mem")).load()
        assert got == want and type(got["ordered"]) is collections.OrderedDict
        assert got["same"][0] is got["same"][1]
        assert math.copysign(1, got["floats"][1]) == -1
        streamed: dict[Any, Any] = {}
        reader = StreamingPickleReader(raw, 0, len(raw), Path("mem"), sink_key="curve",
                                       on_item=streamed.__setitem__)
        rest = reader.load()
        assert streamed == obj["curve"] and rest["curve"] == {} and rest["evals"] == obj["evals"]
        with pytest.raises(SourceFileError, match="cut short"):
            StreamingPickleReader(raw[:-5], 0, len(raw) - 5, Path("mem")).load()


def test_a_curve_missing_an_epoch_is_left_out_not_the_tables(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = nb201_dict("1", INDEXES[:3])
    run = data["arch2infos"][INDEXES[2]]["full"]["all_results"][("cifar100", 777)]
    del run["eval_acc1es"]["x-valid@57"]
    with caplog.at_level("WARNING", logger="bo_nas.importers"):
        written = import_nb201(save_pth(data, tmp_path / "v.pth", legacy=True), tmp_path,
                               progress=False)
    names = {p.name for p in written}
    assert "nb201_curves_cifar100.csv" not in names
    assert {"nb201_cifar100.csv", "nb201_curves_cifar10-valid.csv"} <= names
    assert "x-valid@57" in caplog.text and f"architecture {INDEXES[2]}" in caplog.text
