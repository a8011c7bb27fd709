"""Reading benchmark tables: where the files are, and checking them row by row.

Every tabular evaluator reads its files through this module, so every bad file meets
the same errors: `BenchmarkFileNotFoundError` for a file or folder that is not there,
`BenchmarkTableError` for one whose columns or rows are wrong. Both name the file, and
row errors name the line (1-based, the header being line 1).

Parsed tables are cached in-process, keyed by the file's path and its size and
modification time, so constructing many evaluators (or one per worker task) reads each
file once, and a file rewritten on disk is read again.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from bo_nas.encodings import BoNasError, InvalidArchitectureError, format_nb201, parse_nb201

#: Environment variable naming the benchmark data directory when no argument does.
DATA_DIR_ENV = "BO_NAS_DATA_DIR"

T = TypeVar("T")


class BenchmarkDataError(BoNasError):
    """Benchmark data could not be found or read."""


class BenchmarkFileNotFoundError(BenchmarkDataError, FileNotFoundError):
    """A benchmark data folder or file is missing."""


class BenchmarkTableError(BenchmarkDataError, ValueError):
    """A benchmark file has other columns than expected or a bad row."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The benchmark data directory: ``data_dir`` if given, else `$BO_NAS_DATA_DIR`.

    Raises:
        BenchmarkFileNotFoundError: when neither names a directory, or the one named
            is not an existing directory.
    """
    if data_dir is None:
        env = os.environ.get(DATA_DIR_ENV, "").strip()
        if not env:
            raise BenchmarkFileNotFoundError(
                "no benchmark data directory: name the folder holding nb201/ and nb101/ "
                f"(`--data-dir` on the command line, `data_dir=` in Python) or set "
                f"${DATA_DIR_ENV}"
            )
        path, origin = Path(env), f" (from ${DATA_DIR_ENV})"
    else:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise ValueError(f"data_dir: expected a path or None, got {data_dir!r}")
        path, origin = Path(data_dir), ""
    try:
        path = path.expanduser()
    except RuntimeError:  # "~user" for an unknown user
        raise BenchmarkFileNotFoundError(
            f"benchmark data directory {str(path)!r}{origin}: cannot expand '~'"
        ) from None
    if not path.is_dir():
        raise BenchmarkFileNotFoundError(
            f"benchmark data directory {str(path)!r}{origin} does not exist or is not a "
            "directory"
        )
    return path.resolve()


def absolute_path(path: str | os.PathLike[str]) -> str:
    """``path`` with ``~`` expanded, made absolute against the working directory (links
    are kept: the path names what the user named, from anywhere)."""
    text = os.fspath(path)
    with contextlib.suppress(RuntimeError):  # "~user" of an unknown user: kept as is
        text = os.path.expanduser(text)
    return os.path.abspath(text)


def data_file(root: Path, subdir: str, name: str, what: str) -> Path:
    """``root/subdir/name``, which must exist.

    Args:
        root: The resolved data directory.
        subdir: Benchmark folder inside it (``nb201``, ``nb101``).
        name: File name.
        what: What the file holds, for the error message.

    Raises:
        BenchmarkFileNotFoundError: naming the expected path and content.
    """
    path = root / subdir / name
    if not path.is_file():
        raise BenchmarkFileNotFoundError(
            f"benchmark file {str(path)!r} not found: expected {what} "
            f"(see the data README for the format)"
        )
    return path


# --- coverage ------------------------------------------------------------------------

#: In a benchmark folder (``nb201/``, ``nb101/``), the file that declares which tables
#: are samples by design: ``{"<file name>": <rows it holds>, ...}``.
SAMPLES_FILE = "samples.json"


def samples_file(folder: Path) -> Path:
    """The sample declarations of a benchmark folder (which may not exist)."""
    return folder / SAMPLES_FILE


def declared_samples(folder: Path) -> dict[str, int]:
    """``{file name: rows}`` of the tables ``folder/samples.json`` declares samples.

    Raises:
        BenchmarkTableError: for a declaration file that is not such an object.
    """
    path = samples_file(folder)
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in data.values()
    ):
        raise BenchmarkTableError(
            f"{path}: expected an object {{\"<table file>\": <rows it holds>, ...}} with "
            f"positive integer counts, got {data!r:.200}"
        )
    return dict(data)


def check_coverage(path: Path, n: int, full: int, what: str, sample: int | None = None) -> bool:
    """Refuse a table that holds neither its whole space nor its declared sample.

    Args:
        path: The table file.
        n: Its distinct rows (entries); repeated rows are refused by the readers.
        full: Rows of a table that covers its space (NB-201: 15,625).
        what: What one row is, for the message (``"NB-201 cell"``).
        sample: Rows of a table that is a sample by design (built in, like NB-101's
            500-entry file); ``samples.json`` beside the file overrides it.

    Returns:
        Whether the table is a sample (it covers only part of its space).

    Raises:
        BenchmarkTableError: naming the file, the rows it has and the rows expected.
    """
    declared = declared_samples(path.parent).get(path.name)
    expected = declared if declared is not None else sample if sample is not None else full
    if n == expected:
        return expected != full
    if declared is not None:
        source = f"as declared in {samples_file(path.parent)}"
    elif sample is not None:
        source = "the sample this file is"
    else:
        source = f"one per {what}"
    hint = "; the file looks cut short, copy it again" if n < expected else ""
    if declared is None and sample is None:
        hint += (
            f" (a table that is a sample by design is declared in "
            f"{samples_file(path.parent)} as {{\"{path.name}\": <rows>}})"
        )
    raise BenchmarkTableError(
        f"{path}: {n:,} rows, expected {expected:,} ({source}){hint}"
    )


# --- cache ---------------------------------------------------------------------------

_CACHE: dict[tuple, object] = {}
_LOCK = threading.RLock()


def _signature(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def cached(kind: str, paths: Sequence[Path], load: Callable[[], T], *extra: object) -> T:
    """``load()`` once per (kind, files' path/size/mtime, extra); later calls reuse it.

    The cached value must be treated as read-only by callers.
    """
    key = (kind, tuple(_signature(p) for p in paths), extra)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]  # type: ignore[return-value]
        value = load()
        _CACHE[key] = value
        return value


def clear_cache() -> None:
    """Forget every parsed table (the next evaluator reads its files again)."""
    with _LOCK:
        _CACHE.clear()


# --- JSON files ----------------------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json.load keeps the last of repeated keys silently: a table listing one cell twice
    # would lose a row without a word.
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_json(path: Path) -> object:
    """The JSON document in ``path``, refusing repeated keys in any object.

    Raises:
        BenchmarkTableError: naming the file, for text that is not JSON (bad syntax, not
            UTF-8, nested too deeply, an integer literal too long to convert) or a key
            repeated within one object (the entry it names).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, object_pairs_hook=_unique_object)
    except _DuplicateKey as exc:
        raise BenchmarkTableError(
            f"{path}, entry {exc.key!r}: duplicate key (each entry must appear once)"
        ) from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long integers.
        raise BenchmarkTableError(f"{path}: not valid JSON ({exc!r})") from None


# --- CSV rows and cells --------------------------------------------------------------


def read_csv(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file whose header must hold exactly ``columns`` (in any order).

    Yields:
        ``(line, row)``: the 1-based line number where the row starts and the row as a
        mapping from column name to text.

    Raises:
        BenchmarkTableError: for an empty file, a header with missing or unexpected
            columns, or a row with the wrong number of fields.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Decoding the whole file first lets the error name the line of the bad byte;
        # a text-mode reader fails on its first buffered read, whatever the line.
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BenchmarkTableError(
            f"{path}, line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise BenchmarkTableError(
                f"{path}: empty file, expected a header with columns {list(columns)}"
            ) from None
        except csv.Error as exc:
            raise BenchmarkTableError(f"{path}, line 1: not a CSV header ({exc})") from None
        header = [h.strip() for h in header]
        missing = [c for c in columns if c not in header]
        unexpected = [h for h in header if h not in columns]
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if missing or unexpected or duplicated:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            if duplicated:
                parts.append(f"repeated {duplicated}")
            raise BenchmarkTableError(
                f"{path}: columns {header} (line 1) do not match the expected columns "
                f"{list(columns)} ({'; '.join(parts)})"
            )
        line = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BenchmarkTableError(f"{path}, line {line}: malformed CSV ({exc})") from None
            if fields:
                if len(fields) != len(header):
                    raise BenchmarkTableError(
                        f"{path}, line {line}: expected {len(header)} fields "
                        f"({header}), got {len(fields)}"
                    )
                yield line, dict(zip(header, fields))
            line = reader.line_num + 1


def parse_accuracy(path: Path, where: str, column: str, text: object) -> float:
    """A finite percentage in [0, 100] from a table cell.

    Args:
        path: The file, for the message.
        where: ``"line 17"`` or an entry name, for the message.
        column: Column or field name.
        text: The cell (text or a JSON number).

    Raises:
        BenchmarkTableError: for a non-number, NaN, infinity or a value outside [0, 100].
    """
    value = parse_number(path, where, column, text)
    if not 0.0 <= value <= 100.0:
        raise BenchmarkTableError(
            f"{path}, {where}: {column!r} must be a percentage in [0, 100], got {value!r}"
        )
    return value


def parse_number(path: Path, where: str, column: str, text: object) -> float:
    """A finite float from a table cell; `BenchmarkTableError` otherwise."""
    if isinstance(text, bool):
        raise BenchmarkTableError(f"{path}, {where}: {column!r} must be a number, got {text!r}")
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise BenchmarkTableError(
            f"{path}, {where}: {column!r} must be a number, got {text!r}"
        ) from None
    if not math.isfinite(value):
        raise BenchmarkTableError(
            f"{path}, {where}: {column!r} is {value!r}, expected a finite number"
        )
    return value


def parse_index(path: Path, where: str, column: str, text: str, size: int) -> int:
    """An integer in ``[0, size)`` from a table cell; `BenchmarkTableError` otherwise."""
    try:
        value = int(text.strip())
    except ValueError:
        raise BenchmarkTableError(
            f"{path}, {where}: {column!r} must be an integer, got {text!r}"
        ) from None
    if not 0 <= value < size:
        raise BenchmarkTableError(
            f"{path}, {where}: {column!r} must be in [0, {size}), got {value}"
        )
    return value


def parse_nb201_cell(path: Path, where: str, column: str, text: object) -> tuple[str, ...]:
    """The 6 edge ops of an NB-201 string in a table cell; `BenchmarkTableError` otherwise."""
    try:
        if isinstance(text, str):
            return _parse_nb201_cached(text)
        return parse_nb201(text)  # type: ignore[arg-type]
    except InvalidArchitectureError as exc:
        raise BenchmarkTableError(f"{path}, {where}: {column!r}: {exc}") from None


@functools.lru_cache(maxsize=1 << 16)
def _parse_nb201_cached(text: str) -> tuple[str, ...]:
    # Every table repeats the same 15,625 strings; errors are not cached.
    return parse_nb201(text)


def nb201_key(ops: Sequence[str]) -> str:
    """The official string of 6 edge ops: the key of every NB-201 table."""
    return format_nb201(ops)


def check_chance_level(
    path: Path, where: str, column: str, value: float, n_classes: int, dataset: str
) -> None:
    """Raise unless a disconnected cell's accuracy is at the dataset's chance level.

    A cell with no input → output path outputs a constant, so its accuracy is the share
    of one class: 100 / ``n_classes`` % on a balanced split (CIFAR-10's 25k validation
    half gives 9.71 %). A table of another dataset has another chance level, which is how
    a wrong file is caught row by row. The tolerance is 15 % of the chance level: enough
    for split imbalance, small enough to tell 100 classes (1 %) from 120 (0.83 %).

    Raises:
        BenchmarkTableError: naming the file, row, value and expected level.
    """
    chance = 100.0 / n_classes
    if abs(value - chance) > 0.15 * chance:
        raise BenchmarkTableError(
            f"{path}, {where}: {column!r} of a cell with no input-output path is "
            f"{value:.4g} %, but chance level for {dataset} ({n_classes} classes) is "
            f"{chance:.4g} %: is this a table of another dataset?"
        )
