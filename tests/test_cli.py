"""The command line driven as a user drives it: subprocesses, real stores, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bo_nas._config import ConfigError, config_from_mapping, load_config
from bo_nas.cli import main

DATA = os.environ.get("BO_NAS_DATA_DIR", "")
needs_data = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "nb201").is_dir(),
    reason="$BO_NAS_DATA_DIR does not name the benchmark data directory",
)


def bo_nas(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240):
    full_env = {**os.environ, "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bo_nas.cli", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def test_help_on_every_command(tmp_path: Path) -> None:
    top = bo_nas("--help", cwd=tmp_path)
    assert top.returncode == 0
    assert "exit codes" in top.stdout


@pytest.mark.parametrize("cmd", ["run", "resume", "status", "export", "plot", "dashboard",
                                 "bench"])
def test_every_command_has_examples(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([cmd, "--help"])
    assert exit_.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_bad_flag_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--space", "nb999"])
    assert exit_.value.code == 2
    assert "nb999" in capsys.readouterr().err
    assert main(["run", "--budget", "0", "--evaluator", "table"]) == 2
    assert "budget" in capsys.readouterr().err


def test_missing_data_directory_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    out = bo_nas("run", "--evaluator", "table", "--data-dir", str(missing), "--budget", "3",
                 "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 5, out.stderr
    assert "nowhere" in out.stderr


def test_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path / "none.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err


@needs_data
def test_run_status_export_plot_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "c.sqlite"
    out = bo_nas("run", "--evaluator", "table", "--dataset", "cifar100", "--budget", "14",
                 "--store", str(store), "--seed", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "best architecture" in out.stdout
    assert (tmp_path / "c-best.png").stat().st_size > 0
    assert (tmp_path / "c-curve.png").stat().st_size > 0

    # Observers run in-process: the same entry point and exit codes, without a new
    # interpreter per command.
    assert main(["status", str(store)]) == 0
    assert "14 complete" in capsys.readouterr().out

    assert main(["export", str(store), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 14
    assert {r["state"] for r in rows} == {"complete"}
    assert all(r["architecture"].startswith("|") for r in rows)
    assert "flops" in rows[0]

    js = tmp_path / "t.json"
    assert main(["export", str(store), "--format", "json", "-o", str(js)]) == 0
    data = json.loads(js.read_text())
    assert data["config"]["seed"] == 1 and len(data["trials"]) == 14

    figs = tmp_path / "figs"
    assert main(["plot", str(store), "--cost", "params", "--output-dir", str(figs)]) == 0
    assert (figs / "c-params.png").exists()

    # A second run on the same store is refused; resume extends it to a new budget.
    assert main(["run", "--evaluator", "table", "--store", str(store)]) == 2
    assert "resume" in capsys.readouterr().err
    resumed = bo_nas("resume", str(store), "--budget", "18", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(store) as c:
        assert c.execute("SELECT COUNT(*) FROM trials WHERE state='complete'").fetchone()[0] == 18
        keys = [r[0] for r in c.execute("SELECT arch FROM trials")]
    assert len(set(keys)) == 18


@needs_data
def test_store_in_use_is_refused(tmp_path: Path) -> None:
    from bo_nas.campaign import CampaignStore

    store = tmp_path / "busy.sqlite"
    assert main(["run", "--evaluator", "table", "--budget", "2", "--store", str(store),
                 "--strategy", "random"]) == 0
    with CampaignStore(store):  # this process now holds the campaign
        busy = bo_nas("resume", str(store), "--budget", "4", cwd=tmp_path)
    assert busy.returncode == 3
    assert "in use" in busy.stderr


@needs_data
def test_store_from_another_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "old.sqlite"
    assert main(["run", "--evaluator", "table", "--budget", "2", "--store", str(store),
                 "--strategy", "random"]) == 0
    with sqlite3.connect(store) as c:
        c.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    capsys.readouterr()
    assert main(["resume", str(store)]) == 4
    assert "version" in capsys.readouterr().err


@needs_data
def test_config_file_and_flag_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "campaign.toml"
    cfg.write_text(
        'evaluator = "table"\ndataset = "cifar10"\nbudget = 5\nstrategy = "gp-tw"\n'
        'seed = 4\n[strategy_options]\nacquisition = "ucb"\nn_init = 3\n'
    )
    store = tmp_path / "t.sqlite"
    assert main(["run", "--config", str(cfg), "--budget", "6", "--store", str(store),
                 "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(store)
    with sqlite3.connect(store) as c:
        config = json.loads(c.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
        n = c.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    assert n == 6
    assert config["strategy"]["selector"]["rule"] == "ucb" and config["seed"] == 4


def test_bad_config_file_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('budget = "many"\n')
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "budget" in err and "bad.toml" in err
    cfg.write_text("budget = [\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "invalid TOML" in capsys.readouterr().err


def test_config_validation_in_process(tmp_path: Path) -> None:
    assert config_from_mapping({}).resolved_dataset == "digits"
    assert config_from_mapping({"evaluator": "table"}).resolved_dataset == "cifar10"
    with pytest.raises(ConfigError, match="unknown setting"):
        config_from_mapping({"budgett": 3})
    with pytest.raises(ConfigError, match="dataset"):
        config_from_mapping({"evaluator": "table", "dataset": "digits"})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


@needs_data
def test_bench_prints_table_and_writes_files(tmp_path: Path) -> None:
    out = bo_nas("bench", "--dataset", "cifar100", "--budget", "12", "--trials", "2",
                 "--methods", "random,evolution", "--workers", "1", "--out", str(tmp_path),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "| random |" in out.stdout and "| evolution |" in out.stdout
    with open(tmp_path / "nb201-cifar100-12q-2t.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 12
    assert (tmp_path / "nb201-cifar100-12q-2t.png").exists()


def test_bench_unknown_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--methods", "gp-tw,magic", "--budget", "5", "--trials", "1",
            "--out", str(tmp_path)]
    assert main(args) == 2
    assert "magic" in capsys.readouterr().err


def test_bench_method_with_settings(tmp_path: Path) -> None:
    """A method spec with settings builds that strategy; a bad setting is a usage error."""
    assert main(["bench", "--methods", "gp-tw:acquisition=magic", "--budget", "5",
                 "--trials", "1", "--out", str(tmp_path)]) == 2
    assert main(["bench", "--methods", "gp-tw:acquisition", "--budget", "5",
                 "--trials", "1", "--out", str(tmp_path)]) == 2


def _fast_folder(tmp_path: Path) -> Path:
    """A folder on tmpfs where there is one (commits without waiting for the disk)."""
    import tempfile

    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path


@needs_data
def test_nb101_sample_campaign_searches_only_its_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported case: the 500-entry NB-101 file, a budget of 600."""
    import shutil

    folder = _fast_folder(tmp_path)
    try:
        store = folder / "n.sqlite"
        assert main(["run", "--space", "nb101", "--evaluator", "table", "--budget", "600",
                     "--strategy", "random", "--batch", "50", "--store", str(store)]) == 0
        out, err = capsys.readouterr()
        assert "evaluations: 292 complete, 0 failed" in out
        assert "--budget 600 is more than the 292 distinct networks" in err
    finally:
        if folder != tmp_path:
            shutil.rmtree(folder)


@needs_data
def test_default_store_names_do_not_collide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bo_nas.campaign import CampaignStore
    from bo_nas.cli._run import default_store_names

    out = tmp_path / "runs"
    # Another campaign holds this second's first name (it is being created right now).
    first = next(default_store_names(out))
    with CampaignStore(first, {"note": "another campaign"}):
        args = ["run", "--evaluator", "table", "--strategy", "random", "--budget", "2",
                "--out", str(out), "-q"]
        assert main(args) == 0
        assert main(args) == 0
    stores = capsys.readouterr().out.split()
    assert len(set(stores)) == 2 and str(first) not in stores
    assert all(Path(s).parent == out for s in stores)


def test_synchronous_batches_default_to_the_kdpp() -> None:
    from bo_nas._config import resolve

    def strategy(**flags: object) -> str:
        keys = {k.replace("_", "-"): v for k, v in flags.items()}
        return resolve(None, {"evaluator": "table", **keys}).config.strategy

    assert strategy() == strategy(batch=1) == "gp-tw"
    assert strategy(batch=10) == "gp-tw-kdpp"
    assert strategy(batch=10, strategy="gp-tw") == "gp-tw"  # named: kept
    assert strategy(batch=10, **{"async": True}) == "gp-tw"
    assert strategy(batch=10, acquisition="logei") == "gp-tw"
    assert strategy(batch=10, strategy_options={"acquisition": "ucb"}) == "gp-tw"
    assert strategy(batch=10, objective=["val_accuracy", "params:min"]) == "gp-tw"


@needs_data
def test_batch_run_stores_the_kdpp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "b.sqlite"
    assert main(["run", "--evaluator", "table", "--dataset", "cifar10", "--budget", "10",
                 "--batch", "5", "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    with sqlite3.connect(store) as c:
        config = json.loads(c.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
    assert config["strategy"]["name"] == "gp-tw-kdpp"
    assert config["strategy"]["selector"]["rule"] == "kdpp"
