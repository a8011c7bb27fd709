"""The NATS-Bench topology archive: ``NATS-tss-v1_0-3ffb9-simple``, a folder (or a
``.tar`` of it) with ``meta.pickle.pbz2`` (``{"meta_archs": [...], ...}``) and one
``{index:06d}.pickle.pbz2`` per architecture: a bz2-compressed pickle (protocol 4) of
``{"12": ArchResults state, "200": ArchResults state}`` (see `_records`).

Each file is small (hundreds of kB), so it is read by the C unpickler restricted to
`ALLOWED_GLOBALS` (`RestrictedUnpickler`). Decompressing dominates (~15-25 ms a file):
with many files the work is spread over processes.
"""

from __future__ import annotations

import bz2
import collections
import concurrent.futures
import contextlib
import io
import multiprocessing
import os
import pickle
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bo_nas.encodings import InvalidArchitectureError

from ._errors import SourceFileError
from ._pickles import RestrictedUnpickler
from ._records import ArchRecord, extract, format_official

META_FILE = "meta.pickle.pbz2"
_ARCH_FILE = re.compile(r"(\d{1,6})\.pickle\.pbz2")
#: Below this many files, reading in this process beats starting workers.
_PARALLEL_FROM = 256


def is_nats(path: Path) -> bool:
    """Whether ``path`` is a NATS-Bench archive: a folder with `META_FILE`, or a tar."""
    if path.is_dir():
        return True
    return path.is_file() and tarfile.is_tarfile(path)


def _load(name: str, data: bytes) -> Any:
    """The object of one ``.pickle.pbz2`` file (``name`` for messages)."""
    try:
        raw = bz2.decompress(data)
    except (OSError, EOFError, ValueError) as exc:
        raise SourceFileError(f"{name}: not a complete bz2 stream ({exc}): the file is "
                              "cut short or corrupt") from None
    try:
        return RestrictedUnpickler(io.BytesIO(raw)).load()
    except pickle.UnpicklingError as exc:
        hint = (" (the '-full' archive holds network weights: use the '-simple' one)"
                if "torch" in str(exc) else "")
        raise SourceFileError(f"{name}: {exc}{hint}") from None
    except (EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RecursionError, MemoryError) as exc:
        raise SourceFileError(f"{name}: not a valid pickle ({type(exc).__name__}: "
                              f"{exc})") from None


def _record(name: str, index: int, data: bytes) -> ArchRecord:
    obj = _load(name, data)
    if not isinstance(obj, dict) or "200" not in obj:
        keys = sorted(map(repr, obj))[:6] if isinstance(obj, dict) else type(obj).__name__
        raise SourceFileError(f"{name}: expected {{'12': ..., '200': ...}} results, got {keys}")
    # This archive is read by nats_bench, whose get_cost_info repairs legacy costs.
    return extract(name, index, obj, nats_cost_fix=True)


def _record_of_file(path: str, index: int) -> ArchRecord:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SourceFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return _record(path, index, data)


def _record_of_bytes(name: str, index: int, data: bytes) -> ArchRecord:
    return _record(name, index, data)


def _meta(name: str, data: bytes) -> list[Any]:
    obj = _load(name, data)
    meta = obj.get("meta_archs") if isinstance(obj, dict) else None
    if not isinstance(meta, list) or not meta:
        raise SourceFileError(f"{name}: expected a dict with a non-empty 'meta_archs' list")
    try:
        if not isinstance(meta[0], str):
            raise InvalidArchitectureError("not a string")
        format_official(meta[0])
    except InvalidArchitectureError:
        raise SourceFileError(
            f"{name}: meta_archs[0] = {meta[0]!r:.80} is not an NB-201 cell: is this the "
            "NATS-Bench size search space (sss)? Only the topology space (tss) is NB-201"
        ) from None
    return meta


def _index(name: str) -> int | None:
    m = _ARCH_FILE.fullmatch(name)
    return int(m.group(1)) if m else None


def _workers(requested: int | None, n: int) -> int:
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"workers: expected an integer >= 1 or None, got {requested!r}")
        return requested
    if n < _PARALLEL_FROM:
        return 1
    return max(1, min(8, os.cpu_count() or 1))


def _ordered(fn: Callable[..., ArchRecord], tasks: Iterable[tuple[Any, ...]], workers: int
             ) -> Iterator[ArchRecord]:
    """``fn(*task)`` for each task, in order, over ``workers`` processes (none for 1),
    with a bounded number in flight (a tar's members are read as they are needed)."""
    if workers == 1:
        for task in tasks:
            yield fn(*task)
        return
    # spawn: a clean interpreter, safe whatever threads the caller runs (tqdm has one).
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        pending: collections.deque[concurrent.futures.Future[ArchRecord]] = collections.deque()
        try:
            for task in tasks:
                pending.append(pool.submit(fn, *task))
                if len(pending) >= 4 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def read_nats(path: Path, pbar: Any, workers: int | None
              ) -> tuple[list[ArchRecord], list[Any]]:
    """The records of a NATS-Bench topology folder or tar, and its ``meta_archs``.

    Raises:
        SourceFileError: for a missing meta file, a bad or truncated member, a member
            not of the expected structure.
    """
    if path.is_dir():
        return _read_folder(path, pbar, workers)
    return _read_tar(path, pbar, workers)


def _read_folder(path: Path, pbar: Any, workers: int | None
                 ) -> tuple[list[ArchRecord], list[Any]]:
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise SourceFileError(f"{path}: no {META_FILE}: not a NATS-Bench archive folder "
                              "(expected NATS-tss-v1_0-3ffb9-simple/)")
    try:
        meta = _meta(str(meta_path), meta_path.read_bytes())
    except OSError as exc:
        raise SourceFileError(f"{meta_path}: cannot read ({exc.strerror or exc})") from None
    files = sorted((i, p) for p in path.iterdir() if (i := _index(p.name)) is not None)
    pbar.total = len(files)
    pbar.refresh()
    records = []
    tasks = ((str(p), i) for i, p in files)
    for record in _ordered(_record_of_file, tasks, _workers(workers, len(files))):
        records.append(record)
        pbar.update(1)
    return records, meta


@contextlib.contextmanager
def _open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.TarFile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SourceFileError(f"{path}: not a readable tar archive ({exc})") from None
    with tar:
        yield tar


def _read_tar(path: Path, pbar: Any, workers: int | None
              ) -> tuple[list[ArchRecord], list[Any]]:
    meta: list[Any] | None = None
    records: list[ArchRecord] = []
    with _open_tar(path) as tar:
        # Counting members reads only their headers (seeks past the data).
        try:
            members = [m for m in tar.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SourceFileError(f"{path}: the tar archive is cut short or corrupt "
                                  f"({exc})") from None
        arch = [(i, m) for m in members if (i := _index(os.path.basename(m.name))) is not None]
        pbar.total = len(arch)
        pbar.refresh()

        def data(m: tarfile.TarInfo) -> bytes:
            try:
                fh = tar.extractfile(m)
                if fh is None:
                    raise SourceFileError(f"{path}:{m.name}: not a regular file")
                content = fh.read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise SourceFileError(f"{path}:{m.name}: cannot read ({exc})") from None
            if len(content) != m.size:
                raise SourceFileError(f"{path}:{m.name}: cut short ({len(content)} of "
                                      f"{m.size} bytes): the archive is incomplete")
            return content

        for m in members:
            if os.path.basename(m.name) == META_FILE:
                meta = _meta(f"{path}:{m.name}", data(m))
        if meta is None:
            raise SourceFileError(f"{path}: no {META_FILE} in the archive: not a NATS-Bench "
                                  "archive (expected NATS-tss-v1_0-3ffb9-simple.tar)")
        tasks = ((f"{path}:{m.name}", i, data(m)) for i, m in arch)
        for record in _ordered(_record_of_bytes, tasks, _workers(workers, len(arch))):
            records.append(record)
            pbar.update(1)
    return records, meta
