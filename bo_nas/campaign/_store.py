"""The campaign store: one SQLite file per campaign.

Contract:

* Every proposal is committed (state ``pending``) together with the random-generator
  state and strategy state that follow it, in one transaction, before anything is
  evaluated. A campaign killed at any point therefore resumes with no proposal lost
  and, because the generator state is committed with the proposals it produced, makes
  the same next proposals it would have made without the interruption.
* Every result or failure is committed as soon as it is known; a trial changes state
  at most once from ``pending`` to ``complete`` or ``failed`` and never back. In a
  multi-fidelity campaign a trial may also go from ``pending`` to ``paused`` (stopped at
  a rung below the final budget) and, when promoted, back to ``pending`` with a larger
  budget; every rung result is kept in the ``rungs`` table, committed with the state
  change it causes.
* Architectures and results are stored as strict JSON (no NaN, no infinities, string
  keys only), never pickle; a value that strict JSON cannot hold exactly is refused
  before anything is written.
* One writer at a time: opening a store takes an exclusive lock on a side file
  (``<store>.lock``), released by the OS when the process dies.
* Observers (`read_store`) never need the writer and never write the store. A store
  in any state a crash can leave (a hot rollback journal included) is read as its last
  committed state: when a journal needs rolling back and no campaign holds the store,
  the observer holds a shared lock on the side file (so no writer starts meanwhile)
  and reads a private rolled-back copy. A writer that finds only observers on the lock
  waits for them (they hold it for milliseconds).
* A new store is built under a side name (``<store>.creating``) and renamed into place
  once its schema and configuration are committed, so a process killed while creating
  leaves either no store or a complete one, never an empty file that blocks the path.
* A store that cannot be written (read-only file or folder, full disk) raises
  `StoreError` naming the cause, with ``cannot_write`` set; the failed write is rolled
  back and the trials already committed stay intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import numbers
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bo_nas._history import History, Trial, TrialState
from bo_nas.encodings import Architecture, BoNasError
from bo_nas.evaluators import EvaluationResult, InvalidResultError

SCHEMA_VERSION = 2
#: Versions this release reads; older ones are migrated when opened for writing.
_READABLE = (1, 2)

_TRIALS = """
CREATE TABLE IF NOT EXISTS trials (
    number      INTEGER PRIMARY KEY,
    arch_key    TEXT NOT NULL UNIQUE,
    arch        TEXT NOT NULL,
    state       TEXT NOT NULL
                CHECK (state IN ('pending', 'complete', 'failed', 'paused')),
    result      TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    proposed_at REAL NOT NULL,
    finished_at REAL,
    budget      INTEGER
);
"""
_RUNGS = """
CREATE TABLE IF NOT EXISTS rungs (
    number      INTEGER NOT NULL REFERENCES trials (number),
    budget      INTEGER NOT NULL,
    result      TEXT NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (number, budget)
);
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""" + _TRIALS + _RUNGS

# Version 1 had no budgets, no paused state and no rungs: rebuild its trials table
# (SQLite cannot change a CHECK constraint in place) and add the rungs.
_MIGRATE_1 = "ALTER TABLE trials RENAME TO trials_v1;" + _TRIALS + """
INSERT INTO trials (number, arch_key, arch, state, result, error, attempts, proposed_at,
                    finished_at)
    SELECT number, arch_key, arch, state, result, error, attempts, proposed_at, finished_at
    FROM trials_v1;
DROP TABLE trials_v1;
""" + _RUNGS

_TRIAL_COLUMNS = "number, arch, state, result, error, attempts, budget"
_TRIAL_COLUMNS_V1 = "number, arch, state, result, error, attempts, NULL"

#: Seconds a writer waits for observers that hold the side file's shared lock.
_READER_WAIT = 10.0


class StoreError(BoNasError, RuntimeError):
    """The store cannot be read or written (locked, read-only, full disk, corrupt).

    Attributes:
        cannot_write: The store (or its folder, or the disk) refused a write: read-only,
            full, or an I/O error. Fix that and resume; nothing committed is lost.
    """

    cannot_write: bool = False

    def __init__(self, message: str, *, cannot_write: bool = False) -> None:
        super().__init__(message)
        self.cannot_write = cannot_write


class StoreLockedError(StoreError):
    """Another process has the store open."""


class StoreVersionError(StoreError):
    """The store was written with another schema version."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """No store at the path given."""

    def __init__(self, message: str) -> None:
        StoreError.__init__(self, message)


class StoreExistsError(StoreError, FileExistsError):
    """A new store was asked for at a path that already holds one."""

    def __init__(self, message: str) -> None:
        StoreError.__init__(self, message)


class StoreFormatError(StoreError, ValueError):
    """The file is not a bo-nas campaign store (another file, empty, cut short, damaged)."""


_WRITE_ERRORS = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                 "SQLITE_PERM")


def _errorname(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


def _cause(exc: sqlite3.Error) -> str:
    """The driver's message plus, for the failures users can fix, what to do."""
    name = _errorname(exc)
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


def _translate(exc: sqlite3.Error, path: Path, doing: str = "") -> StoreError:
    """The `StoreError` for a driver error on the store at ``path``."""
    name = _errorname(exc)
    text = str(exc)
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or any(
        m in text for m in ("file is not a database", "malformed", "no such table")
    ):
        what = "damaged or cut short" if "malformed" in text or "CORRUPT" in name else (
            "not a bo-nas campaign store"
        )
        return StoreFormatError(f"store {path}: {what} ({text})")
    if name.startswith("SQLITE_BUSY") or "database is locked" in text:
        return StoreLockedError(
            f"store {path} is in use by another process that kept it locked too long "
            f"({text}); wait for it, then retry"
        )
    message = f"store {path}: {doing} ({_cause(exc)})" if doing else f"store {path}: {_cause(exc)}"
    return StoreError(message, cannot_write=name.startswith(_WRITE_ERRORS))


# --- strict JSON ------------------------------------------------------------------------


def strict_json(value: Any, where: str) -> Any:
    """``value`` as strict JSON data (lists for tuples, ``int``/``float`` for numpy
    scalars), or `InvalidResultError` naming the first part that JSON cannot hold
    exactly: a NaN or infinity, a key that is not a string, an object of another type.

    Args:
        value: The data.
        where: Its name in messages, e.g. ``"info"``.
    """
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidResultError(
                    f"{where}: text with a lone surrogate cannot be stored ({value!r})"
                ) from None
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if not math.isfinite(f):
            raise InvalidResultError(
                f"{where} is {f!r}: stored values must be finite numbers (leave out what "
                "is unknown, or store null)"
            )
        return f
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidResultError(
                    f"{where}: key {k!r} is a {type(k).__name__}; stored keys must be strings"
                )
            out[strict_json(k, f"{where} key")] = strict_json(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [strict_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InvalidResultError(
        f"{where} is a {type(value).__name__} ({value!r:.60}), which JSON cannot store; "
        "use numbers, strings, booleans, None, lists and string-keyed dicts"
    )


def encode_result(result: EvaluationResult) -> str:
    """The stored text of ``result``; `InvalidResultError` if strict JSON cannot hold it."""
    data = result.to_dict()
    out = {
        "val_accuracy": strict_json(data["val_accuracy"], "val_accuracy"),
        "test_accuracy": strict_json(data["test_accuracy"], "test_accuracy"),
        "costs": strict_json(data["costs"], "costs"),
        "info": strict_json(data["info"], "info"),
    }
    return json.dumps(out, allow_nan=False)


def _dumps(value: Any, where: str) -> str:
    return json.dumps(strict_json(value, where), allow_nan=False)


# --- the store --------------------------------------------------------------------------


class CampaignStore:
    """A campaign's persistent state in SQLite (see the module docstring for the contract).

    Args:
        path: The database file, or ``":memory:"`` for a throw-away store.
        config: For a new store, the campaign configuration (JSON-compatible); must be
            omitted to open an existing store.

    Raises:
        StoreLockedError: another live process holds the store.
        StoreVersionError: the file uses another schema version.
        StoreNotFoundError: no file at ``path`` (opening an existing store).
        StoreExistsError: a file is already at ``path`` (creating a store).
        StoreFormatError: the file is not a bo-nas store (empty, cut short, another file).
        StoreError: the file cannot be created or is read-only (``cannot_write``).
    """

    def __init__(self, path: str | os.PathLike[str], config: dict[str, Any] | None = None) -> None:
        self._memory = str(path) == ":memory:"
        self.path = Path(path) if self._memory else Path(path).absolute()
        self._conn: sqlite3.Connection | None = None
        self._lock_file: Any = None
        exists = self.path.exists() and not self._memory
        if config is None and (not exists or self._memory):
            raise StoreNotFoundError(_missing_message(self.path))
        self._check_exists(config, exists)
        if exists:
            self._check_file()
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
            raise _translate(exc, self.path) from exc
        except BaseException:
            self.close()
            raise

    def _check_exists(self, config: dict[str, Any] | None, exists: bool) -> None:
        if config is not None and exists:
            raise StoreExistsError(
                f"store {self.path}: already exists; resume it (Campaign.resume / "
                "`bo-nas resume`) or choose another path"
            )

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise StoreFormatError(f"store {self.path} is a folder, not a campaign store")
        # Fail when opening rather than after the first evaluation: SQLite would open a
        # read-only file silently and refuse only the first write.
        if not os.access(self.path, os.W_OK):
            raise StoreError(
                f"store {self.path} is read-only; make it writable to resume it (read it "
                "without writing with `read_store` / `bo-nas status`)",
                cannot_write=True,
            )
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise StoreError(
                f"store {self.path}: its folder {self.path.parent} is read-only, and SQLite "
                "needs to create its journal there to write safely; make the folder writable",
                cannot_write=True,
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
            raise StoreError(f"store {self.path}: cannot be created ({exc})",
                             cannot_write=True) from exc

    # --- lifecycle ----------------------------------------------------------------------

    def _acquire_lock(self) -> Any:
        lock_path = _lock_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = open(lock_path, "a+")  # noqa: SIM115 - held open for the store's lifetime
        except OSError as exc:
            raise StoreError(f"store {self.path}: cannot create lock file ({exc})",
                             cannot_write=True) from exc
        deadline = time.monotonic() + _READER_WAIT
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                pass
            # Held. By observers only (shared locks), or by a campaign (exclusive)?
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                readers_only = True
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            except OSError:
                readers_only = False
            if readers_only and time.monotonic() < deadline:
                time.sleep(0.01)
                continue
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
            self._conn = None
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

    @property
    def closed(self) -> bool:
        return self._conn is None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Commit everything done inside, or nothing; driver errors become `StoreError`."""
        c = self._connection()
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "cannot start a write") from exc
        try:
            yield c
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            err = _translate(exc, self.path)
            msg = f"store {self.path}: write failed, nothing was changed ({_cause(exc)})"
            if isinstance(err, (StoreFormatError, StoreLockedError)):
                raise type(err)(msg) from exc
            raise StoreError(msg, cannot_write=err.cannot_write) from exc
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
            (key, _dumps(value, key)),
        )

    def set_meta(self, key: str, value: Any) -> None:
        """Store ``value`` (strict JSON) under ``key`` in its own transaction."""
        text = _dumps(value, key)
        with self.transaction() as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def get_meta(self, key: str) -> Any:
        """The value stored under ``key``, ``None`` if there is none."""
        return self._get_meta(key)

    def _get_meta(self, key: str) -> Any:
        try:
            row = self._connection().execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError as exc:
            raise StoreFormatError(f"store {self.path}: damaged {key!r} entry ({exc})") from None

    def _check_version(self) -> None:
        version = self._get_meta("schema_version")
        if version is None:
            raise StoreFormatError(f"store {self.path}: not a bo-nas campaign store")
        _check_version(self.path, version)
        if version == 1:
            self._migrate_from_1()

    def _migrate_from_1(self) -> None:
        """Bring a version-1 store to this schema, in one transaction (nothing changes
        if it fails)."""
        conn = self._connection()
        # Foreign keys off while the referenced table is rebuilt (not allowed to change
        # inside a transaction, hence here).
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            with self.transaction() as c:
                for stmt in _MIGRATE_1.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                self._set_meta(c, "schema_version", SCHEMA_VERSION)
        finally:
            conn.execute("PRAGMA foreign_keys=ON")

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
        budgets: Sequence[int | None] | None = None,
    ) -> list[int]:
        """Insert pending trials and the states that follow them, atomically.

        ``budgets``: multi-fidelity campaigns, the epochs each new trial trains to."""
        budgets = list(budgets) if budgets is not None else [None] * len(archs)
        now = time.time()
        rng_text = _dumps(rng_state, "rng_state")
        strategy_text = _dumps(strategy_state, "strategy_state")
        with self.transaction() as c:
            (start,) = c.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM trials").fetchone()
            numbers_ = list(range(start, start + len(archs)))
            try:
                c.executemany(
                    "INSERT INTO trials (number, arch_key, arch, state, proposed_at, budget) "
                    "VALUES (?, ?, ?, 'pending', ?, ?)",
                    [(n, a.key, a.to_json(), now, b)
                     for n, a, b in zip(numbers_, archs, budgets, strict=True)],
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"store {self.path}: a proposal repeats an architecture already in the "
                    f"campaign ({exc})"
                ) from exc
            for key, text in (("rng_state", rng_text), ("strategy_state", strategy_text)):
                c.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, text),
                )
        return numbers_

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

    def record_result(self, number: int, result: EvaluationResult | str) -> bool:
        """Mark a pending trial complete; ``False`` if it was not pending.

        ``result`` may be given already encoded (`encode_result`).

        Raises:
            InvalidResultError: strict JSON cannot hold the result (nothing is written).
        """
        text = result if isinstance(result, str) else encode_result(result)
        return self._finish(number, "complete", text, None)

    def record_failure(self, number: int, error: str) -> bool:
        """Mark a pending trial failed with its reason; ``False`` if it was not pending."""
        strict_json(error, "failure message")
        return self._finish(number, "failed", None, error)

    def record_rung(
        self, number: int, budget: int, result: EvaluationResult | str, *, final: bool
    ) -> bool:
        """Multi-fidelity: record a pending trial's result at ``budget`` epochs, and mark
        it complete (``final``) or paused, in one transaction; ``False`` if it was not
        pending."""
        text = result if isinstance(result, str) else encode_result(result)
        now = time.time()
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE trials SET state = ?, result = ?, error = NULL, finished_at = ?, "
                "budget = ? WHERE number = ? AND state = 'pending'",
                ("complete" if final else "paused", text, now, budget, number),
            )
            if cur.rowcount != 1:
                return False
            c.execute(
                "INSERT INTO rungs (number, budget, result, finished_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(number, budget) DO UPDATE SET result = excluded.result, "
                "finished_at = excluded.finished_at",
                (number, budget, text, now),
            )
        return True

    def promote(self, promotions: Sequence[tuple[int, int]]) -> bool:
        """Multi-fidelity: paused trials back to pending with a larger budget (and a
        fresh attempt count), atomically; ``False`` (and nothing changed) if one was not
        paused."""
        with self.transaction() as c:
            for number, budget in promotions:
                cur = c.execute(
                    "UPDATE trials SET state = 'pending', budget = ?, attempts = 0, "
                    "finished_at = NULL WHERE number = ? AND state = 'paused'",
                    (budget, number),
                )
                if cur.rowcount != 1:
                    raise _NotPaused(number)
        return True

    def trials(self) -> History:
        """All trials in proposal order."""
        try:
            conn = self._connection()
            rows = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} FROM trials ORDER BY number"
            ).fetchall()
            rungs = conn.execute(
                "SELECT number, budget, result FROM rungs ORDER BY number, budget"
            ).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "cannot read trials") from exc
        return _history(self.path, rows, rungs)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` verdict (``"ok"`` when sound)."""
        try:
            return str(self._connection().execute("PRAGMA integrity_check").fetchone()[0])
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _missing_message(path: Path) -> str:
    creating = path.with_name(path.name + ".creating")
    if creating.exists():
        return (
            f"store {path}: no such file (a campaign was being created there and stopped "
            "before its first commit; start it again)"
        )
    return f"store {path}: no such file"


class _NotPaused(StoreError):
    def __init__(self, number: int) -> None:
        super().__init__(f"trial {number} is not paused, so it cannot be promoted")


def _check_version(path: Path, version: Any) -> None:
    if version not in _READABLE:
        raise StoreVersionError(
            f"store {path} has schema version {version}; this bo-nas reads versions "
            f"{', '.join(map(str, _READABLE))}. Open it with the bo-nas release that wrote "
            "it, or `bo-nas export` it there and start a new campaign"
        )


# Each read of a store (an observer's poll, `bo-nas status`, the dashboard after every
# commit) parses every trial's architecture again, though a running campaign changes only
# a few rows between reads. Architectures are immutable, so one parsed from the same text
# can be shared: the cache is keyed by the stored JSON, bounded (a few 10,000-trial
# stores), and lru_cache is thread-safe. Damaged text raises each time (not cached).
_ARCH_CACHE_SIZE = 1 << 15


@lru_cache(maxsize=_ARCH_CACHE_SIZE)
def _parse_architecture(text: str) -> Architecture:
    return Architecture.from_json(text)


def _history(
    path: Path, rows: Sequence[tuple[Any, ...]], rungs: Sequence[tuple[Any, ...]] = ()
) -> History:
    by_trial: dict[int, dict[int, EvaluationResult]] = {}
    for number, budget, result in rungs:
        try:
            by_trial.setdefault(number, {})[int(budget)] = EvaluationResult.from_dict(
                json.loads(result)
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreFormatError(
                f"store {path}: trial {number}'s result at {budget} epochs is damaged ({exc})"
            ) from None
    out = []
    for number, arch, state, result, error, attempts, budget in rows:
        try:
            out.append(
                Trial(
                    number=number,
                    arch=_parse_architecture(arch),
                    state=TrialState(state),
                    result=EvaluationResult.from_dict(json.loads(result)) if result else None,
                    error=error,
                    attempts=attempts,
                    budget=None if budget is None else int(budget),
                    rungs=by_trial.get(number, {}),
                )
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreFormatError(f"store {path}: trial {number} is damaged ({exc})") from None
    return History(out)


# --- observers --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSnapshot:
    """What an observer reads from a store, all from one committed state.

    Attributes:
        path: The store.
        config: The campaign configuration.
        history: Every trial in proposal order.
        meta: The other entries of the store's ``meta`` table (e.g. ``cli_run``).
    """

    path: Path
    config: dict[str, Any]
    history: History
    meta: dict[str, Any] = field(default_factory=dict)


def _read_connection(conn: sqlite3.Connection, path: Path) -> StoreSnapshot:
    conn.execute("BEGIN")  # one snapshot: a writer's commit between queries is not seen
    try:
        meta_rows = conn.execute("SELECT key, value FROM meta").fetchall()
        version_row = conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        old = version_row is not None and version_row[0] == "1"
        rows = conn.execute(
            f"SELECT {_TRIAL_COLUMNS_V1 if old else _TRIAL_COLUMNS} FROM trials "
            "ORDER BY number"
        ).fetchall()
        rungs = [] if old else conn.execute(
            "SELECT number, budget, result FROM rungs ORDER BY number, budget"
        ).fetchall()
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("COMMIT")
    meta: dict[str, Any] = {}
    for key, value in meta_rows:
        try:
            meta[key] = json.loads(value)
        except (ValueError, TypeError):
            raise StoreFormatError(f"store {path}: damaged {key!r} entry") from None
    if "schema_version" not in meta:
        raise StoreFormatError(f"store {path}: not a bo-nas campaign store")
    _check_version(path, meta.pop("schema_version"))
    config = meta.pop("config", None)
    if not isinstance(config, dict):
        raise StoreFormatError(f"store {path}: not a bo-nas campaign store (no configuration)")
    return StoreSnapshot(path, config, _history(path, rows, rungs), meta)


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{urllib.parse.quote(str(path))}?{query}"


def _needs_rollback(exc: sqlite3.Error, path: Path) -> bool:
    """Whether ``exc`` is SQLite refusing a read-only open because a journal is hot."""
    journal = path.with_name(path.name + "-journal")
    name = _errorname(exc)
    return journal.exists() and (
        name.startswith("SQLITE_READONLY") or "readonly database" in str(exc)
    )


@contextlib.contextmanager
def _observer_lock(path: Path) -> Iterator[bool]:
    """Hold the side file's shared lock; yields whether no campaign holds the store."""
    lock = _lock_path(path)
    f = None
    for mode in ("r", "a+"):
        try:
            f = open(lock, mode)  # noqa: SIM115 - closed below
            break
        except OSError:
            continue
    if f is None:
        # No side file and no way to make one (read-only folder): no campaign can hold
        # the store either, since a writer needs that file.
        yield True
        return
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    finally:
        f.close()


def _read_rolled_back_copy(path: Path) -> StoreSnapshot:
    """Read a private copy of the store and its journal, which SQLite rolls back."""
    journal = path.with_name(path.name + "-journal")
    with tempfile.TemporaryDirectory(prefix="bo-nas-read-") as tmp:
        copy = Path(tmp) / "store.sqlite"
        shutil.copyfile(path, copy)
        with contextlib.suppress(FileNotFoundError):  # committed meanwhile: nothing to undo
            shutil.copyfile(journal, copy.with_name(copy.name + "-journal"))
        conn = sqlite3.connect(str(copy), isolation_level=None, timeout=30.0)
        try:
            return _read_connection(conn, path)
        finally:
            conn.close()


def read_snapshot(path: str | os.PathLike[str], *, timeout: float = 30.0) -> StoreSnapshot:
    """Configuration, trials and meta entries of a store, without writing it or taking
    the campaign's lock: for observers (``bo-nas status``, ``export``, notebooks), while
    a campaign runs or after it crashed.

    The store is read as its last committed state, whatever a crash left (a hot journal,
    pending trials, a stale lock file); a live writer is waited for, never raced.

    Raises:
        StoreNotFoundError: no file at ``path``.
        StoreFormatError: the file is not a bo-nas store (empty, cut short, another file).
        StoreVersionError: the file uses another schema version.
    """
    p = Path(path).absolute()
    if not p.exists():
        raise StoreNotFoundError(_missing_message(p))
    if p.is_dir():
        raise StoreFormatError(f"store {p} is a folder, not a campaign store")
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = sqlite3.connect(_uri(p, mode="ro"), uri=True, isolation_level=None,
                                   timeout=timeout)
            try:
                return _read_connection(conn, p)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            if not _needs_rollback(exc, p):
                raise _translate(exc, p, "cannot be read") from exc
            # A crash left a journal to roll back. If no campaign holds the store, read
            # it rolled back in a private copy (the store itself is left as it is, for
            # the next writer to roll back); if one does, it is rolling back or
            # committing right now: read again in a moment.
            with _observer_lock(p) as free:
                if free:
                    try:
                        return _read_rolled_back_copy(p)
                    except sqlite3.Error as exc2:
                        raise _translate(exc2, p, "cannot be read") from exc2
                    except OSError as exc2:
                        raise StoreError(f"store {p}: cannot be read ({exc2})") from exc2
            if time.monotonic() > deadline:
                raise StoreLockedError(
                    f"store {p} is being written by another process; try again"
                ) from exc
            time.sleep(0.02)


def read_store(path: str | os.PathLike[str]) -> tuple[dict[str, Any], History]:
    """Configuration and trials of a store, read-only and without taking its lock.

    For observers (``bo-nas status``, ``export``, notebooks) while a campaign runs, or
    after it crashed (see `read_snapshot`).
    """
    snap = read_snapshot(path)
    return snap.config, snap.history
