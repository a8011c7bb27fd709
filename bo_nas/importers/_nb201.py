"""NAS-Bench-201 tables from the official files: the ``.pth`` of NAS-Bench-201 (v1_0,
v1_1) and the NATS-Bench topology archive (``NATS-tss-v1_0-3ffb9-simple``).

The ``.pth`` is a ``torch.save``d dict (``meta_archs``, ``arch2infos``,
``evaluated_indexes``, ``total_archs``), ``arch2infos[index]`` being ``{"less": ...,
"full": ...}``: the ``ArchResults`` states of the 12- and 200-epoch schedules (see
`_records`). ``torch.save`` wrote it either in the legacy format (a few small pickles,
then the object's pickle, then the list of tensor storages, empty here) or, since
PyTorch 1.6, as a zip archive holding ``<name>/data.pkl``. Both are read here without
PyTorch: the object's pickle goes through `StreamingPickleReader` (see `_pickles` for
why not ``torch.load``), one architecture at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import mmap
import os
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from bo_nas.evaluators._nb201_readers import NB201_N_CELLS
from bo_nas.evaluators._tables import BenchmarkFileNotFoundError

from . import _progress
from ._errors import SourceFileError
from ._pickles import StreamingPickleReader
from ._records import (
    CURVE_DATASETS,
    SHORT_DATASETS,
    UNREAD_KEYS,
    ArchRecord,
    extract,
    format_official,
)
from ._writers import SUBDIR, check_free, curve_file, planned_files, render, write_tables

logger = logging.getLogger(__name__)

#: torch's legacy format starts with this number, pickled (protocol 2, LONG1).
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_HEAD = b"\x80\x02\x8a\x0a" + _TORCH_MAGIC.to_bytes(10, "little") + b"."
_TORCH_PROTOCOL = 1001
_ZIP_HEAD = b"PK\x03\x04"


def import_nb201(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> list[Path]:
    """Write bo-nas's NB-201 tables from an official NAS-Bench-201 or NATS-Bench file.

    Reads ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth`` (any
    ``.pth`` of that structure) or the NATS-Bench topology archive
    ``NATS-tss-v1_0-3ffb9-simple`` (the folder, or its ``.tar``), and writes into
    ``out_dir/nb201/`` the tables listed in `bo_nas.importers._writers` (the accuracy
    CSVs and JSON the evaluators read, ``nb201_costs.csv`` with every cell's params,
    FLOPs and latency per dataset, the 12/200-epoch table when the file has 12-epoch
    results for CIFAR-10 and CIFAR-100, and per-epoch curves): enough for the NB-201
    evaluator on its own. A file of fewer than the 15,625 cells gives tables declared a
    sample in ``out_dir/nb201/samples.json``.

    The pickles are read by a restricted reader that builds only containers, strings and
    numbers, never arbitrary objects (see `bo_nas.importers._pickles`): still, import
    only files from the benchmarks' official sources.

    Args:
        source: The ``.pth`` file, or the NATS-Bench folder or ``.tar``.
        out_dir: The data directory to write into (its ``nb201/`` folder is created).
        force: Replace tables that exist (otherwise they are refused, before reading).
        progress: Show a progress bar: True, False, or None for "when stderr is a
            terminal".
        workers: Processes that decompress NATS-Bench files (ignored for ``.pth``):
            None picks one per core (at most 8) for 256 files or more, else 1.

    Returns:
        The files written: the tables, then ``samples.json`` when it changed.

    Raises:
        BenchmarkFileNotFoundError: for a source that does not exist.
        SourceFileError: for a source cut short, corrupt, or not of the expected
            structure (a missing dataset, a malformed value), naming it and what is wrong.
        TableExistsError: for a table that exists, without ``force``.
        TableWriteError: when the tables cannot be written.
    """
    from ._nats import is_nats, read_nats

    src = Path(source)
    if not src.exists():
        raise BenchmarkFileNotFoundError(f"{src}: no such file or folder")
    folder = Path(out_dir) / SUBDIR
    # The tables every import writes are checked before the (long) read.
    check_free(folder, planned_files(with_fidelity=False), force)
    start = time.perf_counter()
    with _progress.bar(None, f"import {src.name}", progress) as pbar:
        if is_nats(src):
            records, meta = read_nats(src, pbar, workers)
        else:
            records, meta = read_pth(src, pbar)
    records = _checked(src, records, meta)
    with_fidelity = _has_short(src, records)
    texts = render(records, with_fidelity, _complete_curves(records))
    written = write_tables(folder, texts, len(records), force)
    seconds = time.perf_counter() - start
    logger.info("imported %d architectures from %s in %.1f s (%.2f ms each)", len(records),
                src, seconds, 1000 * seconds / len(records))
    if len(records) < NB201_N_CELLS:
        logger.warning("%s holds %d of the %s NB-201 cells: the tables are a sample, "
                       "declared as such in %s", src, len(records), f"{NB201_N_CELLS:,}",
                       folder / "samples.json")
    return written


def _checked(src: Path, records: list[ArchRecord], meta: list[Any] | None
             ) -> list[ArchRecord]:
    """Records in index order, each cell once, agreeing with ``meta_archs``."""
    if not records:
        raise SourceFileError(f"{src}: no architecture results in the file")
    records.sort(key=lambda r: r.index)
    for prev, r in itertools.pairwise(records):
        if prev.index == r.index:
            raise SourceFileError(f"{src}: architecture {r.index} appears twice")
    first: dict[str, int] = {}
    for r in records:
        if r.string in first:
            raise SourceFileError(f"{src}: architectures {first[r.string]} and {r.index} "
                                  f"are the same cell {r.string!r}")
        first[r.string] = r.index
    if meta is not None:
        for r in records:
            if r.index >= len(meta):
                raise SourceFileError(f"{src}: architecture {r.index} is beyond meta_archs "
                                      f"({len(meta)} strings)")
            text = meta[r.index]
            if not isinstance(text, str) or _official(text) != r.string:
                raise SourceFileError(f"{src}: architecture {r.index}: its results are for "
                                      f"{r.string!r} but meta_archs[{r.index}] is {text!r:.80}")
    return records


def _official(text: str) -> str | None:
    try:
        return format_official(text)
    except ValueError:
        return None


def _complete_curves(records: list[ArchRecord]) -> list[str]:
    """The datasets whose per-epoch curve every record has; the others are left out,
    with a warning naming the first gap."""
    keep = []
    for dataset in CURVE_DATASETS:
        gap = next((r.curve_gaps[dataset] for r in records if dataset in r.curve_gaps), None)
        if gap is None:
            keep.append(dataset)
        else:
            logger.warning("%s is not written, the file lacks epochs: %s",
                           curve_file(dataset), gap)
    return keep


def _has_short(src: Path, records: list[ArchRecord]) -> bool:
    """Whether to write the 12/200-epoch table: every record, or none, has 12-epoch
    results for `SHORT_DATASETS`."""
    lacking = [r for r in records if not all(d in r.short for d in SHORT_DATASETS)]
    if len(lacking) == len(records):
        logger.warning("%s has no 12-epoch results for %s (NAS-Bench-201 v1_0 has them "
                       "for cifar10-valid only): nb201_test_12ep_200ep.csv is not written",
                       src, " and ".join(SHORT_DATASETS))
        return False
    if lacking:
        first = lacking[0]
        missing = [d for d in SHORT_DATASETS if d not in first.short]
        raise SourceFileError(f"{src}: architecture {first.index} has no 12-epoch results "
                              f"for {missing}, which {len(records) - len(lacking)} others "
                              "have")
    return True


# --- the .pth file -------------------------------------------------------------------


def read_pth(path: Path, pbar: Any) -> tuple[list[ArchRecord], list[Any] | None]:
    """The records of a NAS-Bench-201 ``.pth`` file, and its ``meta_archs``.

    Raises:
        SourceFileError: for a file that is not a readable torch file of that structure.
    """
    with _open(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise SourceFileError(f"{path}: empty file, expected a NAS-Bench-201 .pth")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            head = buf[:len(_LEGACY_HEAD)]
            if head.startswith(_ZIP_HEAD):
                data, start, end = _zip_member(path, buf)
                legacy = False
            elif head == _LEGACY_HEAD:
                data, start, end = buf, _legacy_start(path, buf, size), size
                legacy = True
            elif head[:1] == b"\x80":  # a plain pickle of the same dict
                data, start, end = buf, 0, size
                legacy = False
            else:
                raise SourceFileError(f"{path}: not a PyTorch file (neither a zip archive "
                                      "nor a pickle): is this a NAS-Bench-201 .pth?")
            records: list[ArchRecord] = []
            reader = _results_reader(path, data, start, end, records, pbar)
            root = reader.load()
            meta = _check_root(path, root, {r.index for r in records})
            if legacy:
                _check_no_storages(path, buf, reader.pos, size)
            del data, reader
    return records, meta


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SourceFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        yield fh


def _results_reader(path: Path, data: Any, start: int, end: int, records: list[ArchRecord],
                    pbar: Any) -> StreamingPickleReader:
    def on_root(items: dict[Any, Any]) -> None:
        meta = items.get("meta_archs")
        if isinstance(meta, list):
            pbar.total = len(meta)
            pbar.refresh()

    def on_item(index: Any, value: Any) -> None:
        if not isinstance(value, dict) or "full" not in value:
            keys = sorted(map(repr, value))[:6] if isinstance(value, dict) else None
            raise SourceFileError(f"{path}: arch2infos[{index!r:.40}]: expected a dict with "
                                  f"'full' and 'less' results, got "
                                  f"{keys if keys is not None else type(value).__name__}")
        states = {"200": value["full"]}
        if value.get("less") is not None:
            states["12"] = value["less"]
        records.append(extract(path, index, states))
        pbar.update(1)

    return StreamingPickleReader(data, start, end, path, sink_key="arch2infos",
                                 on_item=on_item, on_sink=on_root, prune=UNREAD_KEYS)


def _check_root(path: Path, root: Any, indexes: set[int]) -> list[Any]:
    """``meta_archs`` of the loaded root dict, after checking the dict's structure."""
    need = ("meta_archs", "arch2infos", "evaluated_indexes")
    if not isinstance(root, dict) or any(k not in root for k in need):
        keys = sorted(map(repr, root))[:8] if isinstance(root, dict) else type(root).__name__
        raise SourceFileError(f"{path}: expected the NAS-Bench-201 dict with keys "
                              f"{list(need)}, got {keys}")
    meta = root["meta_archs"]
    if not isinstance(meta, list) or not all(isinstance(s, str) for s in meta):
        raise SourceFileError(f"{path}: meta_archs is not a list of architecture strings")
    total = root.get("total_archs")
    if total is not None and total != len(meta):
        raise SourceFileError(f"{path}: total_archs is {total!r} but meta_archs lists "
                              f"{len(meta)} architectures")
    evaluated = root["evaluated_indexes"]
    if not isinstance(evaluated, (list, tuple, set)) or set(evaluated) != indexes:
        raise SourceFileError(f"{path}: evaluated_indexes does not list the {len(indexes)} "
                              "architectures of arch2infos: the file is inconsistent")
    return meta


def _legacy_start(path: Path, buf: Any, size: int) -> int:
    """Offset of the object's pickle in torch's legacy format (after the magic number,
    the protocol version and the system information)."""
    pos = len(_LEGACY_HEAD)
    reader = StreamingPickleReader(buf, pos, size, path)
    version = reader.load()
    if version != _TORCH_PROTOCOL:
        raise SourceFileError(f"{path}: torch file protocol {version!r:.40}, expected "
                              f"{_TORCH_PROTOCOL}")
    reader = StreamingPickleReader(buf, reader.pos, size, path)
    if not isinstance(reader.load(), dict):
        raise SourceFileError(f"{path}: torch file without its system information")
    return reader.pos


def _check_no_storages(path: Path, buf: Any, pos: int, size: int) -> None:
    """The legacy format ends with the list of tensor storages: present and empty."""
    if pos >= size:
        raise SourceFileError(f"{path}: the file is cut short after the results (the "
                              "torch storage list is missing); download it again")
    keys = StreamingPickleReader(buf, pos, size, path).load()
    if keys != []:
        raise SourceFileError(f"{path}: holds tensor storages: benchmark result files hold "
                              "none (is this a file of network weights?)")


def _zip_member(path: Path, buf: Any) -> tuple[Any, int, int]:
    """``(buffer, start, end)`` of ``<name>/data.pkl`` in a torch zip file (the mapped
    file itself when the member is stored, as torch writes it)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i for i in zf.infolist()
                     if i.filename.endswith("data.pkl") and i.filename.count("/") <= 1]
            if len(names) != 1:
                raise SourceFileError(f"{path}: a zip archive without one data.pkl: not a "
                                      "file written by torch.save")
            info = names[0]
            if info.compress_type != zipfile.ZIP_STORED:
                data = zf.read(info)  # checks the CRC
                return data, 0, len(data)
    except zipfile.BadZipFile as exc:
        raise SourceFileError(f"{path}: a damaged zip archive: the file is cut short or "
                              f"corrupt ({exc}); download it again") from None
    except (OSError, EOFError) as exc:
        raise SourceFileError(f"{path}: cannot read the zip archive ({exc})") from None
    at = info.header_offset
    local = buf[at:at + 30]
    if len(local) < 30 or not local.startswith(_ZIP_HEAD):
        raise SourceFileError(f"{path}: a damaged zip archive (no local header for "
                              f"{info.filename})")
    start = at + 30 + int.from_bytes(local[26:28], "little") + \
        int.from_bytes(local[28:30], "little")
    end = start + info.file_size
    if end > len(buf):
        raise SourceFileError(f"{path}: the file is cut short inside {info.filename}")
    if _crc32(buf, start, end) != info.CRC:
        raise SourceFileError(f"{path}: {info.filename} fails its CRC check: the file is "
                              "corrupt; download it again")
    return buf, start, end


def _crc32(buf: Any, start: int, end: int, chunk: int = 1 << 26) -> int:
    crc = 0
    with memoryview(buf) as view:
        for at in range(start, end, chunk):
            with view[at:min(end, at + chunk)] as part:
                crc = zlib.crc32(part, crc)
    return crc
