"""DARTS campaigns end to end: `bo-nas run --space darts` training on digits, in batches
and asynchronously, killed with SIGKILL and resumed, with the genotypes in the outputs."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bo_nas import Campaign, DARTSSpace, GPStrategy
from bo_nas.cli import main
from bo_nas.evaluators import TrainingEvaluator

# Tiny networks, one epoch, no zero-cost design (scoring 100 DARTS networks costs more
# than this whole test); the GP then proposes from the third evaluation on.
FAST = ["--space", "darts", "--epochs", "1", "--train", "channels=4",
        "--strategy-options", "n_init=2", "--strategy-options", "prior=false"]


def _bo_nas(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "bo_nas.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 400) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def _rows(store: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(store) as c:
        return list(c.execute("SELECT number, arch, state FROM trials ORDER BY number"))


@pytest.mark.parametrize("mode", [
    ["--batch", "2"],
    # Asynchronous campaigns are covered on NB-201 (tests/test_async.py); DARTS adds
    # nothing there but a minute of training.
    pytest.param(["--batch", "2", "--async"], marks=pytest.mark.slow),
], ids=["batch", "async"])
def test_darts_campaign_runs_and_reports_genotypes(
    tmp_path: Path, mode: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "d.sqlite"
    out, _ = _finish(_bo_nas("run", *FAST, *mode, "--budget", "4", "--store", str(store),
                             "--out", str(tmp_path), cwd=tmp_path))
    assert "best architecture" in out and "Genotype(normal=[" in out
    assert (tmp_path / "d-best.png").stat().st_size > 0
    rows = _rows(store)
    assert len(rows) == 4 and {r[2] for r in rows} == {"complete"}
    assert len({r[1] for r in rows}) == 4

    assert main(["export", str(store), "--format", "csv"]) == 0
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    space = DARTSSpace()
    for r in exported:
        assert r["architecture"].startswith("Genotype(")
        assert space.contains(space.from_string(r["architecture"]))
        assert float(r["params"]) > 0


# SIGKILL and resume are covered on NB-201 (tests/test_crash_resume.py, test_fidelity.py)
# and for DARTS stores by the batch run above; this end-to-end kill costs two minutes of
# DARTS training on two cores.
@pytest.mark.slow
def test_darts_campaign_resumes_after_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "k.sqlite"
    proc = _bo_nas("run", *FAST, "--batch", "1", "--budget", "4", "--store", str(store),
                   "--out", str(tmp_path), cwd=tmp_path)
    # Kill it once two trainings have landed, the third under way.
    deadline = time.monotonic() + 300
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists():
            try:
                done = sum(r[2] == "complete" for r in _rows(store))
            except sqlite3.OperationalError:  # the writer holds the database
                done = 0
            if done >= 2:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the campaign finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    before = {n: (a, s) for n, a, s in _rows(store) if s == "complete"}
    assert len(before) >= 2

    _finish(_bo_nas("resume", str(store), cwd=tmp_path))
    after = _rows(store)
    assert sum(s == "complete" for _, _, s in after) == 4
    assert len({a for _, a, _ in after}) == len(after)
    for n, (arch, state) in before.items():  # nothing committed was lost or redone
        assert (after[n][1], after[n][2]) == (arch, state)


def test_darts_campaign_in_python_uses_the_darts_features() -> None:
    space = DARTSSpace()
    evaluator = TrainingEvaluator(space, epochs=1, channels=4, threads=1)
    strategy = GPStrategy(n_init=2, prior=None)
    with Campaign(space, evaluator, strategy, seed=3) as campaign:
        campaign.run(3)
        assert strategy.encoder.block_names[0] == "normal_ops"
        trials = campaign.history.complete
    assert len(trials) == 3 and all(space.contains(t.arch) for t in trials)


def test_darts_has_no_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--space", "darts", "--evaluator", "table", "--budget", "3"]) == 2
    assert "no benchmark table exists for --space darts" in capsys.readouterr().err
