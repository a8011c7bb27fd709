"""The NB-201 table at several fidelities (`evaluate_at`), and the simulated clock
charging per epoch (`FlopsCostModel`). Table tests read the real shared files and skip
when no data directory is set."""

from __future__ import annotations

import csv
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from bo_nas.campaign import FlopsCostModel
from bo_nas.encodings import Architecture, format_nb201
from bo_nas.evaluators import Budget, EvaluationError, EvaluationResult
from bo_nas.evaluators._nb201_datasets import CURVE_EPOCHS, FIDELITY_FILE, curves_file
from bo_nas.evaluators._nb201_table import NB201Benchmark
from bo_nas.evaluators._tables import DATA_DIR_ENV
from bo_nas.importers._writers import CURVE_EPOCHS as WRITTEN_EPOCHS
from bo_nas.importers._writers import curve_columns, curve_file
from bo_nas.spaces import NB101Space, NB201Space

_ENV = os.environ.get(DATA_DIR_ENV, "")
DATA = Path(_ENV) if _ENV else None
needs_data = pytest.mark.skipif(
    DATA is None or not (DATA / "nb201").is_dir(),
    reason=f"${DATA_DIR_ENV} does not name the benchmark data directory",
)

BEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
OTHER = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)
DEAD = format_nb201(["none"] * 6)
CELLS = (BEST, OTHER, DEAD)
SPACE = NB201Space()


def arch(string: str) -> Architecture:
    return SPACE.from_string(string)


@pytest.fixture(scope="module")
def c100() -> NB201Benchmark:
    return NB201Benchmark("cifar100", DATA)


def same_numbers(a: EvaluationResult, b: EvaluationResult) -> None:
    assert a.val_accuracy == b.val_accuracy
    assert a.test_accuracy == b.test_accuracy
    assert a.costs == b.costs


# --- which fidelities --------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("dataset,expected", [("cifar10", (12, 200)), ("cifar100", (12, 200)),
                                              ("cifar10-valid", None)])
def test_fidelities_per_dataset(dataset: str, expected: tuple[int, ...] | None) -> None:
    assert NB201Benchmark(dataset, DATA).fidelities() == expected
    if expected is not None:
        assert NB201Benchmark(dataset, DATA, fidelity=12).fidelities() == expected


@needs_data
def test_no_fidelities_without_the_12_epoch_file(tmp_path: Path) -> None:
    assert DATA is not None
    link_data(tmp_path, skip={FIDELITY_FILE})
    bench = NB201Benchmark("cifar100", tmp_path)
    assert bench.fidelities() is None
    with pytest.raises(EvaluationError, match="no fidelities"):
        bench.evaluate_at(arch(BEST), Budget(200, 200))


# --- the two rungs of the shipped tables ---------------------------------------------------


@needs_data
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("fidelity", [200, 12])
def test_top_rung_is_the_200_epoch_evaluate(dataset: str, fidelity: int) -> None:
    default = NB201Benchmark(dataset, DATA)
    bench = NB201Benchmark(dataset, DATA, fidelity=fidelity)
    for s in CELLS:
        r = bench.evaluate_at(arch(s), Budget(200, 200))
        full = default.evaluate(arch(s))
        same_numbers(r, full)
        assert r.info == {**full.info, "epochs": 200, "max_epochs": 200, "epochs_trained": 200}


@needs_data
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("fidelity", [200, 12])
def test_low_rung_is_the_12_epoch_benchmark(dataset: str, fidelity: int) -> None:
    short = NB201Benchmark(dataset, DATA, fidelity=12)
    bench = NB201Benchmark(dataset, DATA, fidelity=fidelity)
    for s in CELLS:
        r = bench.evaluate_at(arch(s), Budget(12, 200))
        expected = short.evaluate(arch(s))
        same_numbers(r, expected)
        assert r.info == {**expected.info, "epochs": 12, "max_epochs": 200, "epochs_trained": 12}
    # The rungs differ (a 12-epoch test number is not the 200-epoch validation one).
    assert bench.evaluate_at(arch(BEST), Budget(12, 200)).val_accuracy != \
        bench.evaluate_at(arch(BEST), Budget(200, 200)).val_accuracy


@needs_data
def test_promotion_charges_only_the_new_epochs(c100: NB201Benchmark) -> None:
    r = c100.evaluate_at(arch(BEST), Budget(200, 200, previous=12))
    assert (r.info["epochs"], r.info["max_epochs"], r.info["epochs_trained"]) == (200, 200, 188)
    same_numbers(r, c100.evaluate(arch(BEST)))
    again = c100.evaluate_at(arch(BEST), Budget(12, 200, previous=12))
    assert again.info["epochs_trained"] == 0


@needs_data
def test_bad_budgets_and_cells_raise(c100: NB201Benchmark) -> None:
    with pytest.raises(EvaluationError, match=r"budget epochs 50: .* \[12, 200\] epochs only"):
        c100.evaluate_at(arch(BEST), Budget(50, 200))
    with pytest.raises(EvaluationError, match="final budget of 200 epochs"):
        c100.evaluate_at(arch(BEST), Budget(12, 100))
    m = np.zeros((3, 3), dtype=int)
    m[0, 1] = m[1, 2] = 1
    nb101 = NB101Space().from_matrix(m, ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(EvaluationError, match="is not an NB-201 cell"):
        c100.evaluate_at(nb101, Budget(12, 200))
    valid = NB201Benchmark("cifar10-valid", DATA)
    with pytest.raises(EvaluationError, match="no fidelities"):
        valid.evaluate_at(arch(BEST), Budget(200, 200))


@needs_data
def test_other_table_is_loaded_lazily_and_pickling_drops_it() -> None:
    bench = NB201Benchmark("cifar100", DATA)
    assert bench._other is None  # not read at construction
    bench.evaluate_at(arch(BEST), Budget(200, 200))
    assert bench._other is None  # the top rung is the evaluator's own table
    bench.evaluate_at(arch(BEST), Budget(12, 200))
    loaded = bench._other
    assert loaded is not None
    bench.evaluate_at(arch(OTHER), Budget(12, 200))
    assert bench._other is loaded  # kept, not read again
    # The process cache: the very table a fidelity-12 evaluator holds.
    assert loaded is NB201Benchmark("cifar100", DATA, fidelity=12)._load()
    blob = pickle.dumps(bench)
    assert len(blob) < 2000
    clone = pickle.loads(blob)
    assert clone._other is None and clone._table is None and bench._other is loaded
    for e in (12, 200):
        b = Budget(e, 200)
        assert clone.evaluate_at(arch(BEST), b) == bench.evaluate_at(arch(BEST), b)


# --- per-epoch curves ----------------------------------------------------------------------


def link_data(root: Path, skip: set[str] = frozenset()) -> Path:  # type: ignore[assignment]
    """A data dir whose nb201/ links every shipped table (but ``skip``)."""
    assert DATA is not None
    nb = root / "nb201"
    nb.mkdir(parents=True, exist_ok=True)
    for f in (DATA / "nb201").iterdir():
        if f.is_file() and f.name not in skip:
            (nb / f.name).symlink_to(f)
    return root


def curve(string: str) -> list[float]:
    # A made-up rising curve, distinct per cell.
    shift = CELLS.index(string)
    return [round(min(90.0, 10.0 + 0.4 * e + shift), 4) for e in range(1, CURVE_EPOCHS + 1)]


def write_curves(root: Path, dataset: str, rows: dict[str, list[float]],
                 seconds: dict[str, float]) -> Path:
    path = root / "nb201" / curve_file(dataset)
    index = {BEST: 6111, OTHER: 0, DEAD: 7}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(curve_columns())
        for s, val in rows.items():
            sec = seconds.get(s)
            times = [""] * CURVE_EPOCHS if sec is None else [sec] * CURVE_EPOCHS
            w.writerow([index[s], s, *val, *times])
    return path


def test_curves_file_name_and_epochs_match_the_importer() -> None:
    for d in ("cifar10-valid", "cifar100", "ImageNet16-120"):
        assert curves_file(d) == curve_file(d)
    assert curves_file("cifar10") == curve_file("cifar10-valid")
    assert CURVE_EPOCHS == WRITTEN_EPOCHS


@needs_data
def test_curves_give_every_epoch(tmp_path: Path) -> None:
    root = link_data(tmp_path)
    write_curves(root, "cifar10-valid", {BEST: curve(BEST), OTHER: curve(OTHER)},
                 {BEST: 7.5})
    default = NB201Benchmark("cifar10-valid", DATA)
    for dataset in ("cifar10-valid", "cifar10"):  # cifar10 selects on cifar10-valid's split
        bench = NB201Benchmark(dataset, root)
        assert bench.fidelities() == tuple(range(1, 201))
        assert bench._curves is None  # read on the first request below the top
        r = bench.evaluate_at(arch(BEST), Budget(37, 200, previous=12))
        assert r.val_accuracy == curve(BEST)[36]
        full = bench.evaluate(arch(BEST))
        assert r.test_accuracy == full.test_accuracy and r.costs == full.costs
        assert r.info == {**full.info, "epochs": 37, "max_epochs": 200, "epochs_trained": 25,
                          "train_seconds": 25 * 7.5}
        assert bench.evaluate_at(arch(OTHER), Budget(1, 200)).val_accuracy == curve(OTHER)[0]
        # No times for OTHER: no train_seconds rather than a NaN.
        assert "train_seconds" not in bench.evaluate_at(arch(OTHER), Budget(5, 200)).info
        # 12 is now an epoch of the 200-epoch run, not the 12-epoch test column.
        assert bench.evaluate_at(arch(BEST), Budget(12, 200)).val_accuracy == curve(BEST)[11]
        top = bench.evaluate_at(arch(BEST), Budget(200, 200, previous=37))
        same_numbers(top, full)
        assert top.info["epochs_trained"] == 163
        if dataset == "cifar10-valid":
            same_numbers(top, default.evaluate(arch(BEST)))
        with pytest.raises(EvaluationError, match=r"answers at 1\.\.200 epochs only"):
            bench.evaluate_at(arch(BEST), Budget(201, 201))
        with pytest.raises(EvaluationError, match=r"not in .*nb201_curves_cifar10-valid\.csv"):
            bench.evaluate_at(arch(DEAD), Budget(3, 200))
        blob = pickle.dumps(bench)
        assert len(blob) < 2000 and bench._curves is not None
        clone = pickle.loads(blob)
        assert clone._curves is None
        assert clone.evaluate_at(arch(BEST), Budget(37, 200)).val_accuracy == curve(BEST)[36]
    # cifar100 has no curves file here: still the two rungs of the shipped tables.
    assert NB201Benchmark("cifar100", root).fidelities() == (12, 200)


# --- the simulated clock ---------------------------------------------------------------------


def test_flops_cost_model_charges_the_epochs_trained() -> None:
    model = FlopsCostModel(seconds_per_mflop=2.0, base_seconds=5.0, failure_seconds=1.0)
    full = EvaluationResult(50.0, costs={"flops": 10.0})
    assert model(full) == 25.0  # no epochs in info: a full training, as before
    part = EvaluationResult(50.0, costs={"flops": 10.0},
                            info={"epochs": 50, "epochs_trained": 40, "max_epochs": 200})
    for form in (part, part.to_dict(), {"ok": True, "result": part.to_dict()}):
        assert model(form) == pytest.approx(25.0 * 40 / 200)
    zero = EvaluationResult(50.0, costs={"flops": 10.0},
                            info={"epochs_trained": 0, "max_epochs": 200})
    assert model(zero) == 0.0
    # Without the cost, the failure duration, unscaled.
    assert model(EvaluationResult(50.0, info={"epochs_trained": 1, "max_epochs": 200})) == 1.0
    for bad in ({"epochs_trained": 40}, {"max_epochs": 200},
                {"epochs_trained": True, "max_epochs": 200},
                {"epochs_trained": "40", "max_epochs": 200},
                {"epochs_trained": -1, "max_epochs": 200},
                {"epochs_trained": 40, "max_epochs": 0},
                {"epochs_trained": math.nan, "max_epochs": 200}):
        assert model(EvaluationResult(50.0, costs={"flops": 10.0}, info=bad)) == 25.0, bad


@needs_data
def test_flops_cost_model_on_table_rungs(c100: NB201Benchmark) -> None:
    model = FlopsCostModel()
    a = arch(BEST)
    full = model(c100.evaluate(a))
    low = model(c100.evaluate_at(a, Budget(12, 200)))
    rest = model(c100.evaluate_at(a, Budget(200, 200, previous=12)))
    assert low == pytest.approx(full * 12 / 200)
    # A promoted trial pays, over its two rungs, one full training.
    assert low + rest == pytest.approx(full)
