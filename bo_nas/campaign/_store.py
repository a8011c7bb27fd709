"""The campaign store: one SQLite file per campaign.

Contract:

* Every proposal is committed (state ``pending``) together with the random-generator
  state and strategy state that follow it, in one transaction, before anything is
  evaluated. A campaign killed at any point therefore resumes with no proposal lost
  and, because the generator state is committed with the proposals it produced, makes
  the same next proposals it would have made without the interruption.
* Every result or failure is committed as soon as it is known; a trial changes state
  at most once from ``pending`` to ``complete`` or ``failed`` and never back.
* Architectures and results are stored as JSON, never pickle.
* One process at a time: opening a store takes an exclusive lock on a side file
  (``<store>.lock``), released by the OS when the process dies.
* A new store is built under a side name (``<store>.creating``) and renamed into place
  once its schema and configuration are committed, so a process killed while creating
  leaves either no store or a complete one, never an empty file that blocks the path.
* A store that cannot be written (read-only file or folder, full disk) raises
  `StoreError` naming the cause; the failed write is rolled back and the trials
  already committed stay intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bo_nas._history import History, Trial, TrialState
from bo_nas.encodings import Architecture, BoNasError
from bo_nas.evaluators import EvaluationResult

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    number      INTEGER PRIMARY KEY,
    arch_key    TEXT NOT NULL UNIQUE,
    arch        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'complete', 'failed')),
    result      TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    proposed_at REAL NOT NULL,
    finished_at REAL
);
"""


class StoreError(BoNasError, RuntimeError):
    """The store cannot be read or written (locked, read-only, full disk, corrupt)."""


class StoreLockedError(StoreError):
    """Another process has the store open."""


class StoreVersionError(StoreError):
    """The store was written with another schema version."""


def _cause(exc: sqlite3.Error) -> str:
    """The driver's message plus, for the failures users can fix, what to do."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        hint = "the disk (or the database's size limit) is full; free space, then resume"
    elif name.startswith("SQLITE_READONLY"):
        hint = "the store is read-only; make the file and its folder writable, then resume"
    elif name.startswith("SQLITE_IOERR"):
        hint = (
            "the operating system refused the write (disk full, file-size limit or a "
            "failing device); fix that, then resume"
        )
    elif name.startswith("SQLITE_CANTOPEN"):
        hint = "the file or its journal cannot be opened; check the folder's permissions"
    else:
        return str(exc)
    return f"{exc}: {hint}"


class CampaignStore:
    """A campaign's persistent state in SQLite (see the module docstring for the contract).

    Args:
        path: The database file, or ``":memory:"`` for a throw-away store.
        config: For a new store, the campaign configuration (JSON-compatible); must be
            omitted to open an existing store.

    Raises:
        StoreLockedError: another live process holds the store.
        StoreVersionError: the file uses another schema version.
        StoreError: the file is not a bo-nas store, cannot be created, or is read-only.
    """

    def __init__(self, path: str | os.PathLike[str], config: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self._memory = str(path) == ":memory:"
        self._conn: sqlite3.Connection | None = None
        self._lock_file: Any = None
        exists = self.path.exists() and not self._memory
        if config is None and (not exists or self._memory):
            raise StoreError(f"store {self.path}: no such file")
        self._check_exists(config, exists)
        if exists:
            self._check_writable()
        if not self._memory:
            self._lock_file = self._acquire_lock()
        try:
            if not self._memory:
                # Another process may have created the store while we waited for the lock.
                self._check_exists(config, self.path.exists())
            if config is not None and not self._memory:
                self._create(config)
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, timeout=30.0
            )
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            if config is not None and self._memory:
                with self.transaction() as c:
                    self._write_schema(c, config)
            self._check_version()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"store {self.path}: {_cause(exc)}") from exc
        except BaseException:
            self.close()
            raise

    def _check_exists(self, config: dict[str, Any] | None, exists: bool) -> None:
        if config is not None and exists:
            raise StoreError(
                f"store {self.path}: already exists; resume it (Campaign.resume / "
                "`bo-nas resume`) or choose another path"
            )

    def _check_writable(self) -> None:
        # Fail when opening rather than after the first evaluation: SQLite would open a
        # read-only file silently and refuse only the first write.
        if not os.access(self.path, os.W_OK):
            raise StoreError(
                f"store {self.path} is read-only; make it writable to resume it (read it "
                "without writing with `read_store` / `bo-nas status`)"
            )
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise StoreError(
                f"store {self.path}: its folder {self.path.parent} is read-only, and SQLite "
                "needs to create its journal there to write safely; make the folder writable"
            )

    @staticmethod
    def _write_schema(c: sqlite3.Connection, config: dict[str, Any]) -> None:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                c.execute(stmt)
        CampaignStore._set_meta(c, "schema_version", SCHEMA_VERSION)
        CampaignStore._set_meta(c, "config", config)
        CampaignStore._set_meta(c, "created_at", time.time())

    def _create(self, config: dict[str, Any]) -> None:
        """Build the store under a side name, then rename it into place (atomic)."""
        tmp = self.path.with_name(self.path.name + ".creating")
        # We hold the lock, so any side file is a leftover of a creator that died.
        for stale in (tmp, tmp.with_name(tmp.name + "-journal")):
            stale.unlink(missing_ok=True)
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._write_schema(conn, config)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        try:
            os.replace(tmp, self.path)
            # Make the rename itself durable, not only the file's content.
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"store {self.path}: cannot be created ({exc})") from exc

    # --- lifecycle ----------------------------------------------------------------------

    def _acquire_lock(self) -> Any:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = open(lock_path, "a+")  # noqa: SIM115 - held open for the store's lifetime
        except OSError as exc:
            raise StoreError(f"store {self.path}: cannot create lock file ({exc})") from exc
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            owner = f.read().strip() or "another process"
            f.close()
            raise StoreLockedError(
                f"store {self.path} is in use by {owner}; wait for that campaign to finish "
                "or stop it before resuming"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        return f

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None  # type: ignore[assignment]
        lock = getattr(self, "_lock_file", None)
        if lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            lock.close()
            self._lock_file = None

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Commit everything done inside, or nothing; driver errors become `StoreError`."""
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot start a write ({_cause(exc)})") from exc
        try:
            yield c
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise StoreError(
                f"store {self.path}: write failed, nothing was changed ({_cause(exc)})"
            ) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise

    # --- meta ---------------------------------------------------------------------------

    @staticmethod
    def _set_meta(c: sqlite3.Connection, key: str, value: Any) -> None:
        c.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def _get_meta(self, key: str) -> Any:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: not a bo-nas campaign store ({exc})") from exc
        return None if row is None else json.loads(row[0])

    def _check_version(self) -> None:
        version = self._get_meta("schema_version")
        if version is None:
            raise StoreError(f"store {self.path}: not a bo-nas campaign store")
        if version != SCHEMA_VERSION:
            raise StoreVersionError(
                f"store {self.path} has schema version {version}; this bo-nas reads version "
                f"{SCHEMA_VERSION}. Open it with the bo-nas release that wrote it, or "
                "`bo-nas export` it there and start a new campaign"
            )

    @property
    def config(self) -> dict[str, Any]:
        return self._get_meta("config")

    @property
    def rng_state(self) -> dict[str, Any] | None:
        """Generator state after the latest committed proposal (``None`` before any)."""
        return self._get_meta("rng_state")

    @property
    def strategy_state(self) -> dict[str, Any]:
        return self._get_meta("strategy_state") or {}

    # --- trials -------------------------------------------------------------------------

    def add_proposals(
        self,
        archs: Sequence[Architecture],
        rng_state: dict[str, Any],
        strategy_state: dict[str, Any],
    ) -> list[int]:
        """Insert pending trials and the states that follow them, atomically."""
        now = time.time()
        with self.transaction() as c:
            (start,) = c.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM trials").fetchone()
            numbers = list(range(start, start + len(archs)))
            try:
                c.executemany(
                    "INSERT INTO trials (number, arch_key, arch, state, proposed_at) "
                    "VALUES (?, ?, ?, 'pending', ?)",
                    [(n, a.key, a.to_json(), now) for n, a in zip(numbers, archs)],
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"store {self.path}: a proposal repeats an architecture already in the "
                    f"campaign ({exc})"
                ) from exc
            self._set_meta(c, "rng_state", rng_state)
            self._set_meta(c, "strategy_state", strategy_state)
        return numbers

    def mark_started(self, number: int) -> int:
        """Count one more evaluation attempt; returns the attempt count."""
        with self.transaction() as c:
            c.execute(
                "UPDATE trials SET attempts = attempts + 1 WHERE number = ? AND state = 'pending'",
                (number,),
            )
            row = c.execute("SELECT attempts FROM trials WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise StoreError(f"store {self.path}: no trial {number}")
        return int(row[0])

    def _finish(self, number: int, state: str, result: str | None, error: str | None) -> bool:
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE trials SET state = ?, result = ?, error = ?, finished_at = ? "
                "WHERE number = ? AND state = 'pending'",
                (state, result, error, time.time(), number),
            )
            return cur.rowcount == 1

    def record_result(self, number: int, result: EvaluationResult) -> bool:
        """Mark a pending trial complete; ``False`` if it was not pending."""
        return self._finish(number, "complete", json.dumps(result.to_dict()), None)

    def record_failure(self, number: int, error: str) -> bool:
        """Mark a pending trial failed with its reason; ``False`` if it was not pending."""
        return self._finish(number, "failed", None, error)

    def trials(self) -> History:
        """All trials in proposal order."""
        try:
            rows = self._conn.execute(
                "SELECT number, arch, state, result, error, attempts FROM trials ORDER BY number"
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot read trials ({exc})") from exc
        out = []
        for number, arch, state, result, error, attempts in rows:
            out.append(
                Trial(
                    number=number,
                    arch=Architecture.from_json(arch),
                    state=TrialState(state),
                    result=EvaluationResult.from_dict(json.loads(result)) if result else None,
                    error=error,
                    attempts=attempts,
                )
            )
        return History(out)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` verdict (``"ok"`` when sound)."""
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        try:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {_cause(exc)}") from exc


def read_store(path: str | os.PathLike[str]) -> tuple[dict[str, Any], History]:
    """Configuration and trials of a store, read-only and without taking its lock.

    For observers (``bo-nas status``, ``export``, notebooks) while a campaign runs.
    """
    p = Path(path)
    if not p.exists():
        raise StoreError(f"store {p}: no such file")
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise StoreError(f"store {p}: {exc}") from exc
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            raise StoreError(f"store {p}: not a bo-nas campaign store")
        if json.loads(row[0]) != SCHEMA_VERSION:
            raise StoreVersionError(
                f"store {p} has schema version {json.loads(row[0])}; this bo-nas reads "
                f"version {SCHEMA_VERSION}"
            )
        config_row = conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = json.loads(config_row[0])
        rows = conn.execute(
            "SELECT number, arch, state, result, error, attempts FROM trials ORDER BY number"
        ).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"store {p}: not a bo-nas campaign store ({exc})") from exc
    finally:
        conn.close()
    trials = [
        Trial(n, Architecture.from_json(a), TrialState(s),
              EvaluationResult.from_dict(json.loads(r)) if r else None, e, k)
        for n, a, s, r, e, k in rows
    ]
    return config, History(trials)
