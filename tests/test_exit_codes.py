"""The exit-code table: every documented status, produced by a real invocation.

Each row of `bo_nas.cli.EXIT_CODES` is produced here by running ``bo-nas`` the way a
user does: the entry point ``main`` in this process for most (the console script calls
nothing else), a separate process where only a process will do (signals, a pipe closed
early). The messages must speak the command line's words and never show a traceback.
The README and ``bo-nas --help`` must list the same table.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _crash_worker import (
    BuggyStrategy,
    FailingEvaluator,
    HashEvaluator,
    register_test_parts,
)

from bo_nas.campaign import Campaign, CampaignStore
from bo_nas.cli import EXIT_CODES, main
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

TESTS = Path(__file__).parent
ROOT = TESTS.parent
DATA = os.environ.get("BO_NAS_DATA_DIR", "")
needs_data = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "nb201").is_dir(),
    reason="$BO_NAS_DATA_DIR does not name the benchmark data directory",
)
PYTHON_WORDS = re.compile(r"Traceback|data_dir|strategy_options|takes no arguments|"
                          r"Campaign\.resume|\(\) got an unexpected")

register_test_parts()


def _store(tmp: Path, name: str = "s.sqlite", evaluator: object = None,
           strategy: object = None, n: int = 3, **hash_args: object) -> Path:
    path = tmp / name
    ev = evaluator or HashEvaluator(**hash_args)  # type: ignore[arg-type]
    with Campaign(NB201Space(), ev, strategy or RandomSearch(), seed=0, store=path) as c:  # type: ignore[arg-type]
        c.run(n)
    return path


def _in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


# --- one case per code (several for 2, the most common) --------------------------------


def ok(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    return _in_process(["status", str(_store(tmp))], capsys)


def unexpected(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with Campaign(NB201Space(), HashEvaluator(), BuggyStrategy(), seed=0,
                  store=tmp / "b.sqlite"):
        pass
    code, err = _in_process(["resume", str(tmp / "b.sqlite"), "--budget", "3"], capsys)
    assert "a bug in the strategy" in err and "--verbose" in err
    return code, err


def bad_flag(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, err = _in_process(["run", "--evaluator", "table", "--batch", "0"], capsys)
    assert "--batch" in err
    return code, err


def flag_without_effect(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, err = _in_process(["run", "--evaluator", "table", "--epochs", "3"], capsys)
    assert "--epochs applies to --evaluator train only" in err
    return code, err


def strategy_setting(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, err = _in_process(["run", "--evaluator", "table", "--strategy", "random",
                             "--strategy-options", "n_init=3"], capsys)
    assert "--strategy random has no setting 'n_init'" in err
    return code, err


def empty_store(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp / "e.sqlite").write_bytes(b"")
    return _in_process(["status", str(tmp / "e.sqlite")], capsys)


def truncated_store(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    data = _store(tmp).read_bytes()
    (tmp / "t.sqlite").write_bytes(data[: len(data) // 2])
    return _in_process(["resume", str(tmp / "t.sqlite")], capsys)


def store_exists(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = _store(tmp)
    code, err = _in_process(["run", "--evaluator", "table", "--store", str(path)], capsys)
    assert f"bo-nas resume {path}" in err
    return code, err


def store_in_use(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = _store(tmp)
    with CampaignStore(path):  # this process is the campaign now
        code, err = _in_process(["resume", str(path)], capsys)
    assert f"in use by pid {os.getpid()}" in err
    return code, err


def racing_for_a_new_store(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    import fcntl

    path = tmp / "new.sqlite"
    with open(tmp / "new.sqlite.lock", "a+") as lock:  # another `run` is creating it
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        lock.write("pid 4242")
        lock.flush()
        code, err = _in_process(["run", "--budget", "1", "--store", str(path)], capsys)
    assert "in use by pid 4242" in err
    return code, err


def other_version(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = _store(tmp)
    with sqlite3.connect(path) as c:
        c.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    c.close()
    return _in_process(["export", str(path)], capsys)


def missing_tables(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, err = _in_process(["run", "--evaluator", "table", "--data-dir",
                             str(tmp / "nowhere"), "--out", str(tmp)], capsys)
    assert "--data-dir" in err and "nowhere" in err
    return code, err


def missing_cifar(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, err = _in_process(["run", "--dataset", "cifar10", "--out", str(tmp)], capsys)
    assert "--data-dir" in err
    return code, err


def nothing_succeeded(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with Campaign(NB201Space(), FailingEvaluator(), RandomSearch(), seed=0,
                  store=tmp / "f.sqlite"):
        pass
    code, err = _in_process(["resume", str(tmp / "f.sqlite"), "--budget", "3", "-q"], capsys)
    assert "no evaluation succeeded (3 failed)" in err and "loss diverged" in err
    return code, err


def cannot_write(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp / "out").mkdir()
    code, err = _in_process(["export", str(_store(tmp)), "-o", str(tmp / "out")], capsys)
    assert "--output" in err
    return code, err


def _main_in_child(argv: list[str], stderr: str, closed_stdout: bool = False) -> None:
    """Body of a child process: ``bo-nas ARGV`` with stderr into a file, and stdout a
    pipe whose reader has gone when ``closed_stdout`` (``bo-nas export | head -0``)."""
    # A fresh interpreter's Ctrl-C handling, whatever the fork server inherited (a server
    # started while SIGINT was ignored hands SIG_IGN on to every child).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - the process's own stderr
    if closed_stdout:
        read, write = os.pipe()
        os.close(read)
        os.dup2(write, 1)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    register_test_parts()
    sys.exit(main(argv))


def _start(argv: list[str], stderr: Path, closed_stdout: bool = False) -> Any:
    # Children fork from a server that has imported bo-nas: milliseconds, not the seconds
    # a fresh interpreter takes to import BoTorch.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["bo_nas.campaign", "bo_nas.cli", "bo_nas.strategies"])
    proc = ctx.Process(target=_main_in_child, args=(argv, str(stderr), closed_stdout))
    proc.start()
    return proc


def _signalled(sig: signal.Signals) -> Callable[[Path, pytest.CaptureFixture[str]],
                                                 tuple[int, str]]:
    def case(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        log = tmp / "evaluated.log"
        path = _store(tmp, n=1, sleep=0.05, log=str(log))
        proc = _start(["resume", str(path), "--budget", "5000", "-q"], tmp / "err")
        deadline = time.monotonic() + 120
        while len(log.read_text().split()) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the resumed campaign is evaluating
        os.kill(proc.pid, sig)
        proc.join(120)
        err = (tmp / "err").read_text()
        assert f"continue with: bo-nas resume {path}" in err, err
        with Campaign.resume(path, evaluator=HashEvaluator()) as c:
            assert c.store.integrity_check() == "ok" and len(c.history.complete) >= 2
        return proc.exitcode, err

    return case


def broken_pipe(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    proc = _start(["export", str(_store(tmp))], tmp / "err", closed_stdout=True)
    proc.join(120)
    err = (tmp / "err").read_text()
    assert err == "", err  # no "[Errno 32] Broken pipe"
    return proc.exitcode, err


CASES: list[tuple[int, str, Callable[..., tuple[int, str]]]] = [
    (0, "status of a store", ok),
    (1, "a bug in a registered strategy", unexpected),
    (2, "--batch 0", bad_flag),
    (2, "a flag with no effect", flag_without_effect),
    (2, "a setting the strategy lacks", strategy_setting),
    (2, "an empty file as store", empty_store),
    (2, "a store cut short", truncated_store),
    (2, "run on an existing store", store_exists),
    (3, "store in use", store_in_use),
    (3, "two runs racing for one new store", racing_for_a_new_store),
    (4, "store of another version", other_version),
    (5, "benchmark folder missing", missing_tables),
    (5, "CIFAR batches not given", missing_cifar),
    (6, "every evaluation failed", nothing_succeeded),
    (7, "output file not writable", cannot_write),
    (129, "SIGHUP", _signalled(signal.SIGHUP)),
    (130, "SIGINT (Ctrl-C)", _signalled(signal.SIGINT)),
    (141, "export into a closed pipe", broken_pipe),
    (143, "SIGTERM", _signalled(signal.SIGTERM)),
]


def test_every_documented_code_has_a_case() -> None:
    assert sorted({c for c, _, _ in CASES}) == sorted(c for c, _ in EXIT_CODES)


@pytest.mark.parametrize("code,what,case", CASES, ids=[f"{c}-{w}" for c, w, _ in CASES])
def test_exit_code(code: int, what: str, case: Callable[..., tuple[int, str]], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    status, err = case(tmp_path, capsys)
    assert status == code, f"{what}: exit {status}, expected {code}\n{err}"
    assert not PYTHON_WORDS.search(err), err
    if code not in (0, 1, 6, 129, 130, 141, 143):
        assert err.startswith("bo-nas: error: ") and err.count("\n") == 1, err


@needs_data
def test_a_table_cut_at_a_line_boundary_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half a benchmark is not a benchmark: exit 2, naming the file and the rows expected."""
    nb = tmp_path / "nb201"
    nb.mkdir()
    for f in (Path(DATA) / "nb201").iterdir():
        if f.name != "nb201_cifar100.csv":
            (nb / f.name).symlink_to(f)
    lines = (Path(DATA) / "nb201" / "nb201_cifar100.csv").read_text().splitlines(True)
    (nb / "nb201_cifar100.csv").write_text("".join(lines[: 1 + 7813]))
    code, err = _in_process(["run", "--evaluator", "table", "--dataset", "cifar100",
                             "--data-dir", str(tmp_path), "--out", str(tmp_path)], capsys)
    assert code == 2, err
    assert "nb201_cifar100.csv: 7,813 rows, expected 15,625" in err


def test_help_and_readme_list_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Exit codes"):]
    section = section[: section.index("\n## ")]
    for code, _meaning in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s", help_text, re.MULTILINE), code
        assert f"| {code} |" in section, code
