"""One source of truth for campaign settings: every flag <-> TOML key <-> stored config.

`bo_nas._config.SETTINGS` generates ``bo-nas run``'s flags and help; a TOML file takes the
same names; a store records the run's settings under the same names. For every setting:
the flag and the TOML key give the same configuration, which a real run stores and a
resume reads back; a setting that has no effect is an error as a flag and a warning as
a file key.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bo_nas._config import BY_KEY, SETTINGS, ConfigError, RunConfig, config_from_mapping, resolve
from bo_nas.cli import main
from bo_nas.cli._parser import build_parser
from bo_nas.cli._run import RUN_META, settings_from_args, stored_run

DATA = os.environ.get("BO_NAS_DATA_DIR", "")
needs_data = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "nb201").is_dir(),
    reason="$BO_NAS_DATA_DIR does not name the benchmark data directory",
)

#: Two consistent campaigns that between them give every setting a value.
TABLE = {"space": "nb201", "evaluator": "table", "dataset": "cifar100", "data-dir": "data",
         "budget": 3, "batch": 2, "async": True, "strategy": "gp-tw", "acquisition": "ucb",
         "fidelity": 12, "seed": 5, "max-retries": 0, "store": "runs/t.sqlite",
         "out": "figures", "objective": ["val_accuracy", "params:min"],
         "constraint": ["params<=1.2"], "strategy-options": {"n_init": 2, "ucb_beta": 1.5}}
TRAIN = {"space": "nb101", "evaluator": "train", "dataset": "digits", "device": "cpu",
         "budget": 4, "batch": 1, "strategy": "random", "epochs": 2, "seed": 1,
         "max-retries": 3, "out": "o", "train": {"lr": 0.05, "channels": 4},
         "fidelity-schedule": "asha", "min-epochs": 1, "eta": 2}


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def toml_document(settings: dict[str, Any], underscores: bool = False) -> str:
    lines, tables = [], []
    for key, value in settings.items():
        name = key.replace("-", "_") if underscores else key
        if isinstance(value, dict):
            tables.append(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n"
                                                  for k, v in value.items()))
        else:
            lines.append(f"{name} = {toml_value(value)}\n")
    return "".join(lines) + "".join(tables)


def flags(settings: dict[str, Any]) -> list[str]:
    argv = []
    for key, value in settings.items():
        s = BY_KEY[key]
        if s.kind == "bool":
            argv.append(s.flag)
        elif s.kind == "table":
            for k, v in value.items():
                argv += [s.flag, f"{k}={toml_value(v)}"]
        elif s.kind == "list":
            for v in value:
                argv += [s.flag, v]
        else:
            argv += [s.flag, str(value)]
    return argv


def from_flags(argv: list[str]) -> RunConfig:
    return settings_from_args(build_parser().parse_args(["run", *argv])).config


def test_every_setting_is_covered() -> None:
    assert set(TABLE) | set(TRAIN) == set(BY_KEY)


@pytest.mark.parametrize("profile", [TABLE, TRAIN], ids=["table", "train"])
@pytest.mark.parametrize("underscores", [False, True])
def test_flag_and_toml_key_give_the_same_config(
    profile: dict[str, Any], underscores: bool, tmp_path: Path
) -> None:
    by_flags = from_flags(flags(profile))
    toml = tmp_path / "c.toml"
    toml.write_text(toml_document(profile, underscores))
    by_file = from_flags(["--config", str(toml)])
    assert by_flags == by_file
    # The stored form is the same names again, and reads back to the same settings.
    stored = by_flags.to_dict()
    assert stored == {**RunConfig().to_dict(), **profile}
    assert config_from_mapping(json.loads(json.dumps(stored))) == by_flags


def test_help_is_generated_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse re-wraps the lines
    for s in SETTINGS:
        assert s.flag in text, s.flag
        assert "".join(s.help.split()) in text, s.key


@needs_data
def test_a_run_stores_its_settings_under_the_same_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink(DATA, tmp_path / "data")
    profile = {**TABLE, "strategy": "random", "budget": 2, "batch": 1}
    for key in ("acquisition", "async", "strategy-options"):
        profile.pop(key)
    toml = tmp_path / "c.toml"
    toml.write_text(toml_document(profile))
    assert main(["run", "--config", "c.toml", "-q"]) == 0
    with sqlite3.connect(tmp_path / "runs" / "t.sqlite") as c:
        meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM meta")}
    c.close()
    record = meta[RUN_META]
    # Relative paths are stored absolute: the campaign resumes from anywhere.
    assert record["data-dir"] == str(tmp_path / "data")
    assert record["store"] == str(tmp_path / "runs" / "t.sqlite")
    assert record["out"] == str(tmp_path / "figures")
    assert meta["config"]["evaluator"]["data_dir"] == str(tmp_path / "data")
    run, extra = stored_run(meta)
    assert run is not None and extra == {"workers": 1}
    expected = {**RunConfig().to_dict(), **profile, "data-dir": str(tmp_path / "data"),
                "store": str(tmp_path / "runs" / "t.sqlite"), "out": str(tmp_path / "figures")}
    assert run.to_dict() == expected
    # From another directory, with no data given: the store has everything.
    monkeypatch.chdir("/")
    monkeypatch.delenv("BO_NAS_DATA_DIR", raising=False)
    assert main(["resume", str(tmp_path / "runs" / "t.sqlite"), "--budget", "3", "-q"]) == 0


#: (flags, the setting without effect, the words of the refusal).
NO_EFFECT = [
    (["--evaluator", "table", "--epochs", "3"], "epochs", "applies to --evaluator train"),
    (["--evaluator", "table", "--device", "cpu"], "device", "applies to --evaluator train"),
    (["--evaluator", "table", "--train", "lr=0.1"], "train", "applies to --evaluator train"),
    (["--fidelity", "12"], "fidelity", "applies to --evaluator table --space nb201"),
    (["--evaluator", "table", "--space", "nb101", "--fidelity", "12"], "fidelity",
     "applies to --evaluator table --space nb201"),
    (["--data-dir", "x"], "data-dir", "the digits are bundled"),
    (["--strategy", "evolution", "--acquisition", "ucb"], "acquisition",
     "chooses the rule of --strategy gp-tw or gp-hamming only"),
    (["--batch", "1", "--async"], "async", "has no effect with one evaluation in flight"),
    (["--evaluator", "table", "--max-retries", "2"], "max-retries",
     "has no effect with --evaluator table"),
]


def _as_settings(argv: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    it = iter(argv)
    for flag in it:
        s = BY_KEY[flag[2:]]
        if s.kind == "bool":
            settings[s.key] = True
        elif s.kind == "table":
            k, v = next(it).split("=")
            settings[s.key] = {k: float(v)}
        else:
            text = next(it)
            settings[s.key] = int(text) if s.kind == "int" else text
    return settings


@pytest.mark.parametrize("argv,key,words", NO_EFFECT, ids=[" ".join(a) for a, _, _ in NO_EFFECT])
def test_a_setting_without_effect_is_refused_as_flag_and_reported_from_a_file(
    argv: list[str], key: str, words: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match=f"^--{key} {words}"):
        from_flags(argv)
    # The same settings in a file: reported, and ignored.
    toml = tmp_path / "c.toml"
    toml.write_text(toml_document(_as_settings(argv)))
    with caplog.at_level(logging.WARNING, logger="bo_nas"):
        cfg = from_flags(["--config", str(toml)])
    assert f"{key} in {toml} {words}" in caplog.text and "; ignored" in caplog.text
    attr = BY_KEY[key].attr
    assert getattr(cfg, attr) == getattr(RunConfig(), attr)


def test_the_reported_toml_keys_are_accepted(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('acquisition = "logei"\nepochs = 2\nasync = true\nmax-retries = 2\n'
                    "batch = 2\n")
    cfg = resolve(str(toml), {}).config
    assert (cfg.acquisition, cfg.epochs, cfg.asynchronous, cfg.max_retries) == (
        "logei", 2, True, 2)


@pytest.mark.parametrize("text,words", [
    ("batch = 0\n", r"batch in .*: expected an integer >= 1, got 0"),
    ("max_retries = 1\nmax-retries = 2\n", "given twice"),
    ("acquisition = 'ucb'\n[strategy-options]\nacquisition = 'ts'\n", "both given"),
    ("budgett = 3\n", r"unknown setting\(s\) \['budgett'\]"),
])
def test_file_errors_name_the_key_and_file(text: str, words: str, tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=words) as info:
        from_flags(["--config", str(toml)])
    assert "c.toml" in str(info.value)


def test_flag_errors_name_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--batch: expected an integer >= 1, got 0$"):
        from_flags(["--batch", "0"])
    with pytest.raises(ConfigError, match="--batch: at most 1024"):
        from_flags(["--batch", "5000"])
    with pytest.raises(ConfigError, match="--train: expected KEY=VALUE"):
        from_flags(["--train", "lr"])
