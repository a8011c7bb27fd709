"""Reading the stores for the dashboard: through `read_snapshot`, and again only when the
file has changed.

A store is read the way every observer reads it (`read_snapshot`: read-only, no
campaign lock, a crash's journal rolled back in a private copy), so the dashboard never
writes a store and a campaign's commit waits at most for one read. What makes polling
cheap is the cache: a store is read again only when its signature changes, and the
signature includes the change counter SQLite increments in the file header with every
commit, so two commits within one tick of the file clock, which can leave size and
modification time unchanged, are still told apart.

A store that cannot be read (missing, locked, malformed, another version) becomes an
error entry for its panel; errors are never cached, so the store is retried at the next
poll and shows as soon as it reads. A store that changed is read again in the
background while polls are answered from the previous read (`StoreReader`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bo_nas.campaign._store import (
    StoreError,
    StoreFormatError,
    StoreLockedError,
    StoreNotFoundError,
    StoreSnapshot,
    StoreVersionError,
    read_snapshot,
)

from ._data import cost_order, scatter_data, summarise

logger = logging.getLogger(__name__)

#: Offset and length of SQLite's file change counter in the database header.
_COUNTER = slice(24, 28)

Signature = tuple[Any, ...]


def store_signature(path: Path) -> Signature | None:
    """What changes whenever a commit lands in the store: inode, size, modification time,
    SQLite's change counter and the rollback journal's presence. ``None`` when the file
    cannot be examined (missing, a folder), which is never cached.

    Only reads: ``open`` for reading and ``stat``; no lock, so a writer never waits.
    """
    try:
        st = path.stat()
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError:
        return None
    journal = path.with_name(path.name + "-journal")
    try:
        jst = journal.stat()
        journal_sig: tuple[int, int] | None = (jst.st_size, jst.st_mtime_ns)
    except OSError:
        journal_sig = None
    return (st.st_ino, st.st_size, st.st_mtime_ns, header[_COUNTER], journal_sig)


def campaign_running(path: Path) -> bool:
    """Whether a campaign holds the store's lock now, tested without writing anything:
    the side file is opened for reading only (a missing one means no campaign), and a
    shared lock is tried without waiting and dropped at once."""
    lock = path.with_name(path.name + ".lock")
    try:
        f = open(lock, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return False
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        with contextlib.suppress(OSError):
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def error_kind(exc: BaseException) -> str:
    """A word for the page: which kind of trouble the store is in."""
    if isinstance(exc, StoreNotFoundError):
        return "missing"
    if isinstance(exc, StoreLockedError):
        return "locked"
    if isinstance(exc, StoreVersionError):
        return "version"
    if isinstance(exc, StoreFormatError):
        return "malformed"
    return "error"


@dataclass
class CampaignView:
    """One store's summary, read at ``read_at`` (``time.time()``), with the cost scatters
    built on demand and kept.

    Attributes:
        snapshot: What was read.
        data: `summarise` of it.
        signature: The store's `store_signature` when it was read.
        read_at: When, in seconds since the epoch.
    """

    snapshot: StoreSnapshot
    data: dict[str, Any]
    signature: Signature | None
    read_at: float
    _scatters: dict[str | None, dict[str, Any] | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scatter(self, cost: str | None) -> dict[str, Any] | None:
        """`scatter_data` on ``cost``; ``None`` when the store's results lack that cost
        (another store's axis is no axis for this one)."""
        if cost not in self.data["cost_keys"]:
            return None
        with self._lock:
            if cost not in self._scatters:
                self._scatters[cost] = scatter_data(self.snapshot.history, cost)
            return self._scatters[cost]


@dataclass(frozen=True)
class StoreFailure:
    """A store that could not be read this time."""

    kind: str
    message: str
    read_at: float


class StoreReader:
    """One store of the dashboard, read again only when it changed.

    Reading a store costs time in proportion to its trials (about 0.2 ms a trial, most
    of it rebuilding the architectures), so a poll that finds the store changed does not
    wait for the new read when an older summary exists: it is answered with that one,
    marked stale, while the store is read again in the background, and the next poll
    gets the new one. Only the first read of a store, or one after an error, is waited
    for. One read at a time per store, whatever the number of pages polling.

    Args:
        path: The store (never written: see the module docstring).
        timeout: Seconds a read waits for a writer's lock before the store shows as
            locked; short, so that a poll is never held up for long.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 2.0) -> None:
        self.path = Path(path).absolute()
        self.timeout = timeout
        self._view: CampaignView | None = None
        self._refreshing = False
        self._state = threading.Lock()  # guards _view and _refreshing
        self._reading = threading.Lock()  # one read of the store at a time

    @property
    def name(self) -> str:
        return self.path.name

    def view(self) -> tuple[CampaignView | StoreFailure, bool]:
        """The store's summary, or why it cannot be read; and whether the store has
        changed since that summary was read (a newer one is being read)."""
        sig = store_signature(self.path)
        with self._state:
            current = self._view
            if current is not None and sig is not None:
                if current.signature == sig:
                    return current, False
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(target=self._refresh, name="bo-nas-dashboard-read",
                                     daemon=True).start()
                return current, True
        return self._read_now(), False

    def _read(self) -> CampaignView | StoreFailure:
        # The signature is taken before the read, so a commit that lands during the read
        # changes the next signature and is read then.
        sig = store_signature(self.path)
        now = time.time()
        try:
            snap = read_snapshot(self.path, timeout=self.timeout)
            view = CampaignView(snap, summarise(snap), sig, now)
        except StoreError as exc:
            return StoreFailure(error_kind(exc), str(exc), now)
        except Exception as exc:  # a store bo-nas wrote but this page cannot follow
            logger.warning("store %s: cannot be summarised", self.path, exc_info=True)
            return StoreFailure("error", f"{type(exc).__name__}: {exc}", now)
        with self._state:
            # Errors, and files that could not be examined, are never kept.
            self._view = view if sig is not None else None
        return view

    def _read_now(self) -> CampaignView | StoreFailure:
        with self._reading:
            # Polls that waited here while another read: its result may already do.
            sig = store_signature(self.path)
            with self._state:
                if self._view is not None and sig is not None and self._view.signature == sig:
                    return self._view
            return self._read()

    def _refresh(self) -> None:
        try:
            with self._reading:
                if isinstance(self._read(), StoreFailure):
                    with self._state:
                        # The next poll reads again, and waits, and shows the error if it
                        # lasts (a lock held a moment too long usually does not).
                        self._view = None
        finally:
            with self._state:
                self._refreshing = False


def union_costs(views: list[CampaignView | StoreFailure]) -> list[str]:
    """Every cost key of the readable stores, in `cost_order`."""
    return cost_order(k for v in views if isinstance(v, CampaignView)
                      for k in v.data["cost_keys"])
