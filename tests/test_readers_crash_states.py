"""Every reader command on a store in every state a crash (or a user) can leave.

The readers (``bo-nas status``, ``export --format csv|json``, ``plot``) must work on a
store whatever happened to its campaign, without needing a writer, without racing a
live one, and without writing the store. States are made by real processes on real
SQLite files: a child killed with SIGKILL in the middle of a write (its rollback
journal hot, pages of the unfinished write already in the database file), a child that
holds the store, one that is writing, a creator that died, plus files that are not
stores at all. For each state the table says the exit status every reader must give and,
for the readable ones, the readers must show exactly the last committed state.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _crash_worker import HashEvaluator

from bo_nas.campaign import Campaign, read_store
from bo_nas.cli import main
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

N_COMPLETE = 8

#: A child that starts a write touching every trial, with a one-page cache so that the
#: unfinished write spills into the database file, then SIGKILLs itself before COMMIT.
KILL_MID_WRITE = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE trials SET error = ?, state = 'failed'", ("x" * 4000,))
os.kill(os.getpid(), signal.SIGKILL)
"""

#: A child that holds the store's lock as a campaign does, then writes for a while.
LIVE_WRITER = """
import fcntl, os, sqlite3, sys, time
lock = open(sys.argv[1] + ".lock", "a+")
fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
lock.seek(0); lock.truncate(); lock.write(f"pid {os.getpid()}"); lock.flush()
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "writing":
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE trials SET attempts = attempts + 1")
    print("ready", flush=True)
    time.sleep(1.5)
    conn.execute("COMMIT")
else:
    print("ready", flush=True)
time.sleep(60)
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with complete trials and one pending (the campaign's last batch)."""
    path = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    with Campaign(NB201Space(), HashEvaluator(), RandomSearch(), seed=3, store=path) as c:
        c.run(N_COMPLETE)
        c.ask(1)  # proposed, never evaluated: as a kill during an evaluation leaves it
    return path


def _digest(folder: Path) -> dict[str, str]:
    """The store's files (a lock file an observer made to hold its shared lock on is
    empty; an existing one keeps its content)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())
            if p.is_file() and not (p.name.endswith(".lock") and p.stat().st_size == 0)}


# --- the states --------------------------------------------------------------------------


def _copy(reference: Path, tmp: Path) -> Path:
    path = tmp / "store.sqlite"
    path.write_bytes(reference.read_bytes())
    return path


def clean(reference: Path, tmp: Path) -> Iterator[Path]:
    yield _copy(reference, tmp)


def hot_journal(reference: Path, tmp: Path) -> Iterator[Path]:
    path = _copy(reference, tmp)
    child = _python(KILL_MID_WRITE, str(path))
    child.wait(60)
    assert child.returncode == -signal.SIGKILL
    assert (tmp / "store.sqlite-journal").stat().st_size > 0
    # Pages of the unfinished write are in the file: only a rollback makes it right.
    assert path.read_bytes() != reference.read_bytes()
    yield path


def hot_journal_read_only(reference: Path, tmp: Path) -> Iterator[Path]:
    # Observers with no write permission at all (enforced for non-root users).
    gen = hot_journal(reference, tmp)
    path = next(gen)
    for p in tmp.iterdir():
        p.chmod(0o444)
    tmp.chmod(0o555)
    try:
        yield path
    finally:
        tmp.chmod(0o755)
        for p in tmp.iterdir():
            p.chmod(0o644)


def _live(reference: Path, tmp: Path, mode: str) -> Iterator[Path]:
    path = _copy(reference, tmp)
    child = _python(LIVE_WRITER, str(path), mode)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield path
    finally:
        child.kill()
        child.wait(60)


def live_campaign_idle(reference: Path, tmp: Path) -> Iterator[Path]:
    yield from _live(reference, tmp, "idle")


def live_campaign_writing(reference: Path, tmp: Path) -> Iterator[Path]:
    yield from _live(reference, tmp, "writing")


def stale_lock(reference: Path, tmp: Path) -> Iterator[Path]:
    path = _copy(reference, tmp)
    (tmp / "store.sqlite.lock").write_text("pid 999999")
    yield path


def creator_died(reference: Path, tmp: Path) -> Iterator[Path]:
    (tmp / "store.sqlite.creating").write_bytes(reference.read_bytes()[:5000])
    yield tmp / "store.sqlite"


def missing(reference: Path, tmp: Path) -> Iterator[Path]:
    yield tmp / "store.sqlite"


def empty_file(reference: Path, tmp: Path) -> Iterator[Path]:
    (tmp / "store.sqlite").write_bytes(b"")
    yield tmp / "store.sqlite"


def not_a_store(reference: Path, tmp: Path) -> Iterator[Path]:
    (tmp / "store.sqlite").write_text("number,state\n0,complete\n")
    yield tmp / "store.sqlite"


def another_database(reference: Path, tmp: Path) -> Iterator[Path]:
    conn = sqlite3.connect(tmp / "store.sqlite")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    yield tmp / "store.sqlite"


def truncated(reference: Path, tmp: Path) -> Iterator[Path]:
    data = reference.read_bytes()
    (tmp / "store.sqlite").write_bytes(data[: len(data) // 2])
    yield tmp / "store.sqlite"


def a_folder(reference: Path, tmp: Path) -> Iterator[Path]:
    (tmp / "store.sqlite").mkdir()
    yield tmp / "store.sqlite"


def other_version(reference: Path, tmp: Path) -> Iterator[Path]:
    path = _copy(reference, tmp)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    yield path


#: state -> (maker, exit status of every reader, words the error must contain).
STATES: dict[str, tuple[Callable[[Path, Path], Iterator[Path]], int, str]] = {
    "clean": (clean, 0, ""),
    "hot journal (SIGKILL mid-write)": (hot_journal, 0, ""),
    "hot journal, read-only files and folder": (hot_journal_read_only, 0, ""),
    "live campaign, idle": (live_campaign_idle, 0, ""),
    "live campaign, writing": (live_campaign_writing, 0, ""),
    "stale lock file": (stale_lock, 0, ""),
    "creator died": (creator_died, 2, "being created"),
    "missing": (missing, 2, "no such file"),
    "empty file": (empty_file, 2, "not a bo-nas campaign store"),
    "not a store": (not_a_store, 2, "not a bo-nas campaign store"),
    "another database": (another_database, 2, "not a bo-nas campaign store"),
    "truncated": (truncated, 2, "damaged or cut short"),
    "a folder": (a_folder, 2, "a folder"),
    "another version": (other_version, 4, "schema version 99"),
}

READERS = {
    "status": lambda p, out: ["status", str(p)],
    "export-csv": lambda p, out: ["export", str(p), "--format", "csv"],
    "export-json": lambda p, out: ["export", str(p), "--format", "json"],
    "plot": lambda p, out: ["plot", str(p), "--output-dir", str(out)],
}


def _committed(reference: Path) -> list[dict[str, object]]:
    _, history = read_store(reference)
    return [{"number": t.number, "key": t.arch.key, "state": t.state.value,
             "val": t.value} for t in history]


@pytest.mark.parametrize("state", list(STATES))
def test_every_reader_in_every_state(
    state: str, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, status, words = STATES[state]
    folder = tmp_path / "store"
    folder.mkdir()
    figures = tmp_path / "figures"
    expected = _committed(reference)
    gen = make(reference, folder)
    path = next(gen)
    try:
        before = _digest(folder)
        for reader, argv in READERS.items():
            capsys.readouterr()
            code = main(argv(path, figures))
            out, err = capsys.readouterr()
            assert code == status, f"{reader} on {state}: {code}\n{err}"
            if status != 0:
                assert words in err and "Traceback" not in err, err
                continue
            if reader == "status":
                assert f"{N_COMPLETE} complete, 1 pending" in out
            elif reader == "export-csv":
                rows = list(csv.DictReader(io.StringIO(out)))
                assert [(int(r["number"]), r["key"], r["state"]) for r in rows] == [
                    (e["number"], e["key"], e["state"]) for e in expected]
            elif reader == "export-json":
                data = json.loads(out, parse_constant=lambda c: pytest.fail(c))
                assert [{"number": t["number"], "key": t["key"], "state": t["state"],
                         "val": t["val_accuracy"]} for t in data["trials"]] == expected
            else:
                assert (figures / "store-curve.png").stat().st_size > 0
        # Readers never write the store, its journal or its lock file (the live writer
        # does, and the readers saw its last commit, never a half-written state).
        if state != "live campaign, writing":
            assert _digest(folder) == before
    finally:
        gen.close()


def test_status_command_on_a_hot_journal(reference: Path, tmp_path: Path) -> None:
    """The reported case end to end: ``bo-nas status`` in its own process."""
    path = next(hot_journal(reference, tmp_path))
    out = subprocess.run([sys.executable, "-m", "bo_nas.cli", "status", str(path)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr
    assert f"{N_COMPLETE} complete, 1 pending" in out.stdout
    # The next writer rolls the journal back, as SQLite always does, and goes on.
    with Campaign.resume(path, evaluator=HashEvaluator()) as c:
        assert c.store.integrity_check() == "ok"
        assert len(c.history.complete) == N_COMPLETE and len(c.history.pending) == 1
