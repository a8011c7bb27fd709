"""What ``bo-nas status``, ``export`` and ``plot`` show of a multi-objective or constrained
store: the Pareto front, feasibility and one figure per pair of objectives.

The front is checked against a brute-force dominance test written here, independently
of `bo_nas.objectives`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from _toys import ConvCount
from matplotlib.markers import MarkerStyle

from bo_nas import Campaign, NB201Space
from bo_nas.campaign import pareto_front, read_snapshot
from bo_nas.cli import main
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator, NB201Benchmark
from bo_nas.plotting import plot_pareto_front
from bo_nas.strategies import RandomSearch

DATA = os.environ.get("BO_NAS_DATA_DIR", "")
needs_data = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "nb201").is_dir(),
    reason="$BO_NAS_DATA_DIR does not name the benchmark data directory",
)

PNG = b"\x89PNG\r\n\x1a\n"
LATENCY_BOUND = 5.3
#: The export columns of a store from before objectives and constraints.
OLD_FIELDS = ["number", "state", "architecture", "key", "val_accuracy", "test_accuracy"]
FRONT_LINE = re.compile(r"^  trial (\d+): val_accuracy (\S+), params (\S+)$")


def brute_front(points: list[tuple[int, float, float, bool]]) -> list[int]:
    """Numbers of the feasible points ``(number, accuracy, params, feasible)`` that no other
    feasible point dominates (accuracy up, params down; the first of equal points), best
    accuracy first."""
    ok = [p for p in points if p[3]]

    def beaten(i: tuple[int, float, float, bool]) -> bool:
        for j in ok:
            better = j[1] >= i[1] and j[2] <= i[2] and (j[1] > i[1] or j[2] < i[2])
            if better or (j[1] == i[1] and j[2] == i[2] and j[0] < i[0]):
                return True
        return False

    return [p[0] for p in sorted((p for p in ok if not beaten(p)), key=lambda p: (-p[1], p[0]))]


def status_of(store: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["status", str(store)]) == 0
    return capsys.readouterr().out.splitlines()


def export_csv(store: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[dict]]:
    capsys.readouterr()
    assert main(["export", str(store), "--format", "csv"]) == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def export_json(store: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["export", str(store), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def nb201_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 random NB-201 trials, maximising accuracy and minimising parameters, with a
    latency bound."""
    if not DATA:
        pytest.skip("$BO_NAS_DATA_DIR is not set")
    store = tmp_path_factory.mktemp("mo") / "mo.sqlite"
    with Campaign(NB201Space(), NB201Benchmark(), RandomSearch(), seed=0,
                  objectives=["val_accuracy", "params:min"],
                  constraints=[f"edgegpu_latency<={LATENCY_BOUND}"], store=store) as c:
        c.run(30)
    return store


def nb201_points(store: Path) -> list[tuple[int, float, float, bool]]:
    return [
        (t.number, t.result.val_accuracy, t.result.costs["params"],
         t.result.costs["edgegpu_latency"] <= LATENCY_BOUND)
        for t in read_snapshot(store).history.complete if t.result is not None
    ]


@needs_data
def test_status_prints_the_front(nb201_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = status_of(nb201_store, capsys)
    points = nb201_points(nb201_store)
    expected = brute_front(points)
    assert expected, "a random campaign of 30 trials has a front"

    assert f"constraints: edgegpu_latency<={LATENCY_BOUND:g}" in lines
    head = lines.index(f"pareto front: {len(expected)} trial{'s' if len(expected) != 1 else ''} "
                       "(objectives: val_accuracy:max, params:min)")
    shown = [FRONT_LINE.match(line) for line in lines[head + 1:head + 1 + len(expected)]]
    assert all(shown), lines
    assert [int(m.group(1)) for m in shown if m] == expected[:10]
    by_number = {p[0]: p for p in points}
    for m in shown:
        assert m is not None
        _, acc, params, _ = by_number[int(m.group(1))]
        assert float(m.group(2)) == pytest.approx(acc, rel=1e-5)
        assert float(m.group(3)) == pytest.approx(params, rel=1e-5)

    snap = read_snapshot(nb201_store)
    library = pareto_front(snap.history, ["val_accuracy", "params:min"],
                           [f"edgegpu_latency<={LATENCY_BOUND}"])
    assert sorted(t.number for t in library) == sorted(expected)

    best = max((p for p in points if p[3]), key=lambda p: (p[1], -p[0]))
    assert any(line.startswith(f"best: trial {best[0]}, validation {best[1]:.2f}%")
               for line in lines)


@needs_data
def test_export_marks_front_and_feasible(
    nb201_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = {p[0]: p for p in nb201_points(nb201_store)}
    front = set(brute_front(list(points.values())))

    fields, rows = export_csv(nb201_store, capsys)
    assert fields[:6] == OLD_FIELDS
    assert fields[-4:] == ["error", "attempts", "pareto", "feasible"]
    assert len(rows) == 30
    assert {int(r["number"]) for r in rows if r["pareto"] == "True"} == front
    assert {r["pareto"] for r in rows} <= {"True", "False"}
    for r in rows:
        assert r["feasible"] == str(points[int(r["number"])][3])

    data = export_json(nb201_store, capsys)
    assert data["config"]["constraints"] == [
        {"metric": "edgegpu_latency", "op": "<=", "bound": LATENCY_BOUND}]
    trials = data["trials"]
    assert {t["number"] for t in trials if t["pareto"] is True} == front
    assert all(isinstance(t["pareto"], bool) and isinstance(t["feasible"], bool)
               for t in trials)
    assert all(t["feasible"] == points[t["number"]][3] for t in trials)


@needs_data
def test_plot_writes_one_pareto_figure_per_pair(
    nb201_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["plot", str(nb201_store), "--output-dir", str(tmp_path)]) == 0
    figure = tmp_path / "mo-pareto-params.png"
    assert str(figure) in capsys.readouterr().out.splitlines()
    assert figure.read_bytes()[:8] == PNG
    assert (tmp_path / "mo-curve.png").exists()  # the single-objective figures remain
    assert not list(tmp_path.glob("mo-pareto-val_accuracy*"))


@needs_data
def test_single_objective_store_prints_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "so.sqlite"
    with Campaign(NB201Space(), NB201Benchmark(), RandomSearch(), seed=3, store=store) as c:
        c.run(10)
    snap = read_snapshot(store)
    assert "objectives" not in snap.config and "constraints" not in snap.config
    best = snap.history.best()
    assert best is not None and best.result is not None
    r = best.result
    arch = NB201Space().to_string(best.arch)
    assert status_of(store, capsys) == [
        f"store: {snap.path}",
        "strategy: random; evaluator: nb201_table; seed: 3",
        "trials: 10 proposed, 10 complete, 0 pending, 0 failed (10 finished)",
        f"best: trial {best.number}, validation {r.val_accuracy:.2f}%, "
        f"test {r.test_accuracy:.2f}%",
        f"  {arch}",
    ]
    fields, _ = export_csv(store, capsys)
    costs = sorted(r.costs)
    assert fields == [*OLD_FIELDS, *costs, "error", "attempts"]
    assert set(export_json(store, capsys)["trials"][0]) == {
        *OLD_FIELDS, "costs", "error", "attempts"}
    assert main(["plot", str(store), "--output-dir", str(tmp_path / "figs")]) == 0
    assert not list((tmp_path / "figs").glob("*pareto*"))


# --- without the benchmark data: toy evaluators -------------------------------------------


class Rising(Evaluator):
    """Accuracy and size that rise together: every trial is on the front."""

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        v = int(arch.key[:8], 16) / 2**32
        return EvaluationResult(val_accuracy=50.0 + 50.0 * v, costs={"size": 1.0 + v})

    def to_config(self) -> dict[str, Any]:
        return {"kind": "rising"}


def test_long_front_is_cut_at_ten_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "rising.sqlite"
    with Campaign(NB201Space(), Rising(), RandomSearch(), seed=1,
                  objectives=["val_accuracy", "size:min"], store=store) as c:
        c.run(14)
    lines = status_of(store, capsys)
    head = lines.index("pareto front: 14 trials (objectives: val_accuracy:max, size:min)")
    listed = lines[head + 1:head + 11]
    assert all(line.startswith("  trial ") for line in listed)
    assert lines[head + 11] == "  ... and 4 more"
    accs = [float(re.search(r"val_accuracy (\S+),", line).group(1))  # type: ignore[union-attr]
            for line in listed]
    assert accs == sorted(accs, reverse=True)
    assert not any(line.startswith("constraints:") for line in lines)


def test_measured_constraint_marks_infeasible_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The toy knows no costs beforehand: the bound is checked on results, so some
    # trials break it.
    store = tmp_path / "toy.sqlite"
    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=0,
                  objectives=["val_accuracy", "flops:min"], constraints=["flops<=50"],
                  store=store) as c:
        c.run(20)
    history = read_snapshot(store).history
    flops = {t.number: t.result.costs["flops"] for t in history.complete if t.result}
    assert min(flops.values()) <= 50 < max(flops.values())
    data = export_json(store, capsys)
    assert {t["number"]: t["feasible"] for t in data["trials"]} == {
        n: f <= 50 for n, f in flops.items()}
    assert all(flops[t["number"]] <= 50 for t in data["trials"] if t["pareto"])

    assert main(["plot", str(store), "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "toy-pareto-flops.png").read_bytes()[:8] == PNG


def test_no_feasible_trial_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "none.sqlite"
    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=0,
                  constraints=["flops<=1"], store=store) as c:
        c.run(4)
    lines = status_of(store, capsys)
    assert "constraints: flops<=1" in lines
    assert "best: no trial meets the constraints yet" in lines
    assert not any(line.startswith(("pareto front", "best: trial")) for line in lines)
    fields, rows = export_csv(store, capsys)
    assert fields[-1] == "feasible" and "pareto" not in fields
    assert {r["feasible"] for r in rows} == {"False"}


def test_observers_stay_light(tmp_path: Path) -> None:
    store = tmp_path / "light.sqlite"
    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=0,
                  objectives=["val_accuracy", "flops:min"], constraints=["flops<=50"],
                  store=store) as c:
        c.run(6)
    probe = (
        "import sys\nfrom bo_nas.cli import main\n"
        f"for argv in (['status', {str(store)!r}], ['export', {str(store)!r}],\n"
        f"             ['plot', {str(store)!r}, '--output-dir', {str(tmp_path)!r}]):\n"
        "    assert main(argv) == 0\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, timeout=240, env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = set(out.stdout.rsplit("MODULES ", 1)[1].split())
    heavy = {n for n in loaded
             if n.split(".")[0] in ("torch", "botorch", "gpytorch", "linear_operator")}
    assert not heavy, sorted(heavy)[:10]
    assert not {n for n in loaded if n.startswith("bo_nas.strategies")}
    assert "bo_nas.campaign._campaign" not in loaded


# --- the figure itself ----------------------------------------------------------------------


@pytest.mark.parametrize(("minimize_x", "minimize_y"), [(False, True), (True, True)])
def test_plot_pareto_front_draws_the_brute_force_front(minimize_x: bool, minimize_y: bool) -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=50), rng.normal(size=50)
    ok = rng.random(50) > 0.25
    sx, sy = (-1 if minimize_x else 1), (-1 if minimize_y else 1)
    front = [
        i for i in range(50) if ok[i] and not any(
            ok[j] and sx * x[j] >= sx * x[i] and sy * y[j] >= sy * y[i]
            and (sx * x[j] > sx * x[i] or sy * y[j] > sy * y[i]) for j in range(50))
    ]
    ax = plot_pareto_front(x, y, minimize_x, minimize_y, feasible_mask=ok,
                           xlabel="a", ylabel="b", title="t")
    (stairs,) = ax.get_lines()
    assert np.array_equal(stairs.get_xdata(), np.sort(x[front]))
    assert stairs.get_drawstyle() == ("steps-post" if minimize_x else "steps-pre")
    by_label = {c.get_label(): c for c in ax.collections}
    assert len(by_label["infeasible"].get_offsets()) == (~ok).sum()
    assert len(by_label["dominated"].get_offsets()) == ok.sum() - len(front)
    cross = MarkerStyle("x")
    assert np.allclose(by_label["infeasible"].get_paths()[0].vertices,
                       cross.get_path().transformed(cross.get_transform()).vertices)
    assert ax.get_xlabel() == f"a ({'lower' if minimize_x else 'higher'} is better)"
    assert ax.get_ylabel() == "b (lower is better)"
    plt.close(ax.figure)


def test_plot_pareto_front_given_mask_and_bad_input() -> None:
    x = np.array([1.0, 2.0, 3.0, np.nan])
    y = np.array([1.0, 2.0, 0.5, 1.0])
    _, ax = plt.subplots()
    assert plot_pareto_front(x, y, False, True, front_mask=[False, True, True, True], ax=ax,
                             xlabel="acc", ylabel="size") is ax
    (stairs,) = ax.get_lines()
    assert list(stairs.get_xdata()) == [2.0, 3.0]  # the NaN point is never drawn
    with pytest.raises(ValueError, match="equal lengths"):
        plot_pareto_front(x, y[:-1], False, True, xlabel="a", ylabel="b")
    with pytest.raises(ValueError, match="feasible_mask"):
        plot_pareto_front(x, y, False, True, feasible_mask=[True], xlabel="a", ylabel="b")
    with pytest.raises(ValueError, match="at least one"):
        plot_pareto_front([], [], False, True, xlabel="a", ylabel="b")
    plt.close("all")
