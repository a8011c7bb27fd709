"""Import NAS-Bench-101's ``nasbench_only108.tfrecord`` into a table, without TensorFlow.

The source: the official TFRecord file (framing and CRCs in `_tfrecord`), one record
per training run. Each payload is UTF-8 JSON, a list of five items::

    [module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]

``module_hash`` is NB-101's 32-hex-digit hash of the (pruned) cell; ``epochs`` the
training budget (108 for every record of ``nasbench_only108.tfrecord``; the full file
also has 4, 12 and 36, which are skipped); ``raw_adjacency`` the row-major 0/1 digits of
an ``n x n`` upper-triangular matrix (``n`` ≤ 7); ``raw_operations`` the ``n`` comma-
separated node ops (``input``, ``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``,
``output``); ``raw_metrics`` a base64 ``ModelMetrics`` protobuf message (field numbers
from the official ``model_metrics.proto``, decoded by `_protobuf`):

- ``ModelMetrics``: 1 ``evaluation_data`` (repeated ``EvaluationData``), 2
  ``trainable_parameters`` (int32), 3 ``total_time`` (double);
- ``EvaluationData``: 1 ``current_epoch``, 2 ``training_time``, 3 ``train_accuracy``,
  4 ``validation_accuracy``, 5 ``test_accuracy`` (doubles; accuracies as fractions),
  6 ``checkpoint_path`` (string).

As in the official API, ``evaluation_data[2]`` holds the numbers at the end of training
(``[0]`` is the initialisation, ``[1]`` halfway). Every cell is trained 3 times (3
records with one hash); the table holds the mean of the 3.

The table: ``<out_dir>/nb101/nb101_cifar10.npz``, a compressed numpy archive read by
`bo_nas.evaluators.NB101Benchmark` (about 35 MB for the full benchmark, loaded in about
a second). One row per network, in the order of its first record in the file; per-row
columns:

===================  =========  ======================================================
column               dtype      meaning
===================  =========  ======================================================
``module_hash``      S32        NB-101's hash of the cell (the official API's key)
``key``              S32        `Architecture.key` of ``NB101Space().from_matrix``
                                of the cell: the evaluator's key
``n_nodes``          uint8      nodes of the cell, input and output included (2..7)
``adjacency``        uint8      ``n x 7 x 7``: the matrix in the top-left ``n_nodes``
                                block, zeros elsewhere
``ops``              int8       ``n x 7``: node op codes, 0 input, 1 output,
                                2 maxpool3x3, 3 conv1x1-bn-relu, 4 conv3x3-bn-relu
                                (NASLib's), -1 padding after ``n_nodes``
``val_accuracy``     float64    final validation accuracy, percent, mean over seeds
``test_accuracy``    float64    final test accuracy, percent, mean over seeds
``train_accuracy``   float64    final train accuracy, percent, mean over seeds
``train_seconds``    float64    final ``training_time`` (seconds), mean over seeds
``params``           float64    ``trainable_parameters`` in millions, mean over seeds
``n_seeds``          uint8      records averaged (3 in the official file)
===================  =========  ======================================================

and 0-d entries ``format`` (``"bo-nas nb101 table 1"``), ``source`` (the tfrecord's
file name), ``epochs`` (108) and ``records`` (the records averaged, all rows together).

A file holding fewer than the 423,624 networks (cut short at a record boundary, or a
miniature in tests) still imports, as a sample: the importer declares it in
``nb101/samples.json``, as every benchmark table that covers only part of its space
is declared, and the evaluator then searches only its cells.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bo_nas.encodings import InvalidArchitectureError
from bo_nas.encodings._nb101 import NB101_OPS
from bo_nas.evaluators._nb101_table import (
    IMPORTED_CODES,
    IMPORTED_COLUMNS,
    IMPORTED_FILE,
    IMPORTED_FORMAT,
)
from bo_nas.evaluators._tables import (
    BenchmarkFileNotFoundError,
    declared_samples,
    samples_file,
)
from bo_nas.spaces import NB101Space
from bo_nas.spaces._subset import NB101_DISTINCT

from ._errors import SourceFileError, TableExistsError, TableWriteError
from ._protobuf import FIXED64, LENGTH, VARINT, ProtobufError, as_double, as_int32, iter_fields
from ._tfrecord import iter_records

logger = logging.getLogger(__name__)

#: The training budget whose records the table keeps.
EPOCHS = 108
#: Training runs per cell and budget in NB-101 (the official config's ``num_repeats``).
SEEDS = 3
#: Records of the complete ``nasbench_only108.tfrecord``.
FULL_RECORDS = NB101_DISTINCT * SEEDS
_MAX_NODES = 7
_OP_CODE = {op: code for code, op in IMPORTED_CODES.items()}
_HEX = frozenset("0123456789abcdef")


class NB101ImportError(SourceFileError):
    """A record of an NB-101 tfrecord file holds something the benchmark never does."""


@dataclass(frozen=True)
class Run:
    """One record: a training run of one cell, at the end of training.

    Attributes:
        number: The record's 1-based position in the file.
        module_hash: NB-101's hash of the cell.
        epochs: Training budget.
        adjacency: The matrix digits as stored (row-major).
        operations: The ops as stored (comma-separated).
        val_accuracy, test_accuracy, train_accuracy: Final accuracies, fractions.
        training_time: Final training time, seconds.
        trainable_parameters: Parameter count.
    """

    number: int
    module_hash: str
    epochs: int
    adjacency: str
    operations: str
    val_accuracy: float
    test_accuracy: float
    train_accuracy: float
    training_time: float
    trainable_parameters: int


# --- decoding one record -----------------------------------------------------------------


def _final_evaluation(data: bytes) -> tuple[float, float, float, float]:
    """``(training_time, train, validation, test)`` of one ``EvaluationData`` message."""
    values = [float("nan")] * 4  # an absent field is caught by the range checks
    for number, wire, value in iter_fields(data):
        if 2 <= number <= 5:
            if wire != FIXED64:
                raise ProtobufError(f"EvaluationData field {number}: expected a double")
            values[number - 2] = as_double(value)  # type: ignore[arg-type]
    return values[0], values[1], values[2], values[3]


def decode_metrics(blob: bytes) -> tuple[int, list[bytes]]:
    """``trainable_parameters`` and the ``evaluation_data`` messages of a ``ModelMetrics``.

    Raises:
        ProtobufError: for malformed bytes or a known field of the wrong wire type.
    """
    params: int | None = None
    evaluations: list[bytes] = []
    for number, wire, value in iter_fields(blob):
        if number == 1:
            if wire != LENGTH:
                raise ProtobufError("ModelMetrics.evaluation_data: expected a message")
            evaluations.append(value)  # type: ignore[arg-type]
        elif number == 2:
            if wire != VARINT:
                raise ProtobufError("ModelMetrics.trainable_parameters: expected a varint")
            params = as_int32(value)  # type: ignore[arg-type]
        # total_time (3) and unknown fields are not needed.
    if params is None:
        raise ProtobufError("ModelMetrics.trainable_parameters is missing")
    return params, evaluations


def decode_record(path: Path, number: int, payload: bytes) -> Run:
    """One record's payload, decoded and checked.

    Raises:
        NB101ImportError: naming the file and record, for a payload that is not the
            JSON list of five, a malformed field, a matrix that is not square or not
            upper triangular, ops that do not match it, or metrics out of range.
    """
    where = f"{path}, record {number}"

    def bad(what: str) -> NB101ImportError:
        return NB101ImportError(f"{where}: {what}")

    try:
        item = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # also undecodable UTF-8
        raise bad(f"payload is not JSON ({exc})") from None
    if not isinstance(item, list) or len(item) != 5:
        raise bad(f"expected the list [module_hash, epochs, adjacency, operations, metrics], "
                  f"got {payload[:80]!r}")
    module_hash, epochs, adjacency, operations, metrics = item
    if not isinstance(module_hash, str) or len(module_hash) != 32 or not set(module_hash) <= _HEX:
        raise bad(f"module hash {module_hash!r:.60} is not 32 lowercase hex digits")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise bad(f"epochs must be a positive integer, got {epochs!r:.60}")
    if not isinstance(adjacency, str) or not isinstance(operations, str):
        raise bad("adjacency and operations must be strings")
    if not isinstance(metrics, str):
        raise bad("metrics must be a base64 string")
    try:
        blob = base64.b64decode(metrics, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad(f"metrics are not base64 ({exc})") from None
    try:
        params, evaluations = decode_metrics(blob)
        if len(evaluations) < 3:
            raise ProtobufError(
                f"{len(evaluations)} evaluation_data entries, expected 3 (start, halfway, end)")
        training_time, train, val, test = _final_evaluation(evaluations[2])
    except ProtobufError as exc:
        raise bad(f"metrics: not a ModelMetrics message ({exc})") from None
    for name, acc in (("validation", val), ("test", test), ("train", train)):
        if not 0.0 <= acc <= 1.0:  # also NaN: a missing field
            raise bad(f"final {name} accuracy {acc!r} is not a fraction in [0, 1]")
    if not training_time >= 0.0 or training_time == float("inf"):
        raise bad(f"final training time {training_time!r} is not a finite number >= 0")
    if params < 1:
        raise bad(f"trainable_parameters is {params}, expected a positive count")
    return Run(number, module_hash, epochs, adjacency, operations, val, test, train,
               training_time, params)


def cell_arrays(path: Path, run: Run) -> tuple[np.ndarray, tuple[str, ...]]:
    """The matrix and ops of a record, checked for shape and vocabulary.

    Raises:
        NB101ImportError: for a matrix that is not square, not 0/1, larger than 7 nodes
            or not strictly upper triangular, or ops that do not fit it.
    """
    where = f"{path}, record {run.number} (module hash {run.module_hash})"
    digits = run.adjacency
    n = round(len(digits) ** 0.5)
    if n * n != len(digits) or not 2 <= n <= _MAX_NODES:
        raise NB101ImportError(
            f"{where}: adjacency of {len(digits)} digits is not a square matrix of 2 to "
            f"{_MAX_NODES} nodes")
    if not set(digits) <= {"0", "1"}:
        raise NB101ImportError(f"{where}: adjacency {digits!r} holds digits other than 0/1")
    matrix = (np.frombuffer(digits.encode(), dtype=np.uint8) - ord("0")).reshape(n, n)
    if np.tril(matrix).any():
        raise NB101ImportError(
            f"{where}: adjacency is not strictly upper triangular:\n{matrix}")
    ops = tuple(run.operations.split(","))
    if len(ops) != n:
        raise NB101ImportError(
            f"{where}: {len(ops)} operations {list(ops)} for a {n}x{n} matrix")
    if ops[0] != "input" or ops[-1] != "output":
        raise NB101ImportError(
            f"{where}: operations {list(ops)} must start with 'input' and end with 'output'")
    unknown = [op for op in ops[1:-1] if op not in NB101_OPS]
    if unknown:
        raise NB101ImportError(
            f"{where}: unknown operation {unknown[0]!r} (expected one of {list(NB101_OPS)})")
    return matrix, ops


# --- reading the whole file --------------------------------------------------------------


@dataclass(slots=True)
class _Cell:
    row: int
    first: int  # record number of its first run
    adjacency: str
    operations: str
    key: str
    val: float = 0.0
    test: float = 0.0
    train: float = 0.0
    seconds: float = 0.0
    params: float = 0.0
    runs: int = 0


@dataclass(frozen=True)
class Imported:
    """What a tfrecord file holds, averaged per cell (the table `import_nb101` writes).

    Attributes:
        columns: The table's per-row columns, as in the module docstring.
        records: Records averaged (those at 108 epochs).
        skipped: Records at other budgets (the full file's 4, 12 and 36 epochs).
    """

    columns: dict[str, np.ndarray]
    records: int
    skipped: int

    @property
    def n_cells(self) -> int:
        return int(self.columns["key"].shape[0])

    @property
    def complete(self) -> bool:
        """Whether every NB-101 network is in the table."""
        return self.n_cells == NB101_DISTINCT


def read_nb101(
    source: str | os.PathLike[str],
    *,
    on_bytes: Callable[[int], None] | None = None,
    keys: bool = True,
) -> Imported:
    """Read, check and average every 108-epoch record of an NB-101 tfrecord file.

    Args:
        source: The file.
        on_bytes: Called with the bytes consumed as reading advances.
        keys: Compute each cell's `Architecture.key` (the evaluator's index; most of
            the time of an import). ``False`` leaves the ``key`` column empty strings,
            for measuring the reader alone.

    Raises:
        TFRecordError: for a corrupt or truncated file (from `iter_records`).
        NB101ImportError: for a bad record, two records of one hash with different
            cells, a cell with more than 3 runs, two hashes of one network, or no
            108-epoch record at all.
    """
    path = Path(source)
    space = NB101Space()
    cells: dict[str, _Cell] = {}
    by_key: dict[str, str] = {}
    records = skipped = 0
    for number, payload in iter_records(path, on_bytes=on_bytes):
        run = decode_record(path, number, payload)
        if run.epochs != EPOCHS:
            skipped += 1
            continue
        records += 1
        cell = cells.get(run.module_hash)
        if cell is None:
            cell = _new_cell(path, run, len(cells), space if keys else None)
            if keys:
                other = by_key.setdefault(cell.key, run.module_hash)
                if other != run.module_hash:
                    raise NB101ImportError(
                        f"{path}, record {number}: module hash {run.module_hash} is the same "
                        f"network (key {cell.key}) as module hash {other} (record "
                        f"{cells[other].first}); NB-101 lists every network once")
            cells[run.module_hash] = cell
        elif run.adjacency != cell.adjacency or run.operations != cell.operations:
            raise NB101ImportError(
                f"{path}, record {number}: module hash {run.module_hash} with another cell "
                f"than its record {cell.first} ({run.adjacency} {run.operations!r} vs "
                f"{cell.adjacency} {cell.operations!r})")
        if cell.runs == SEEDS:
            raise NB101ImportError(
                f"{path}, record {number}: a run {SEEDS + 1} of module hash "
                f"{run.module_hash} at {EPOCHS} epochs (NB-101 trains each cell {SEEDS} "
                "times): is the file concatenated with itself?")
        cell.runs += 1
        cell.val += run.val_accuracy
        cell.test += run.test_accuracy
        cell.train += run.train_accuracy
        cell.seconds += run.training_time
        cell.params += run.trainable_parameters
    if not cells:
        raise NB101ImportError(
            f"{path}: no records at {EPOCHS} epochs (read {skipped} at other budgets)"
            if skipped else f"{path}: no records: the file is empty")
    return Imported(_columns(list(cells.items())), records, skipped)


def _new_cell(path: Path, run: Run, row: int, space: NB101Space | None) -> _Cell:
    matrix, ops = cell_arrays(path, run)
    key = ""
    if space is not None:
        try:
            key = space.from_matrix(matrix, ops).key
        except InvalidArchitectureError as exc:
            raise NB101ImportError(
                f"{path}, record {run.number} (module hash {run.module_hash}): not an "
                f"NB-101 cell ({exc})") from None
    return _Cell(row, run.number, run.adjacency, run.operations, key)


def _columns(cells: list[tuple[str, _Cell]]) -> dict[str, np.ndarray]:
    # Built from Python lists in bulk: per-row numpy assignments cost ~50 µs a row,
    # 20 s for the full benchmark.
    n = len(cells)
    sizes = [round(len(c.adjacency) ** 0.5) for _, c in cells]
    padded = []  # each matrix as 49 digits, its k x k block top-left
    codes = []
    for (_, c), k in zip(cells, sizes):
        d, pad = c.adjacency, "0" * (_MAX_NODES - k)
        padded.append("".join(d[r * k : (r + 1) * k] + pad for r in range(k))
                      + "0" * (_MAX_NODES * (_MAX_NODES - k)))
        codes.append([_OP_CODE[op] for op in c.operations.split(",")] + [-1] * (_MAX_NODES - k))
    runs = np.array([c.runs for _, c in cells], dtype=np.float64)

    def mean(field: str, scale: float = 1.0) -> np.ndarray:
        return scale * np.array([getattr(c, field) for _, c in cells], dtype=np.float64) / runs

    digits = np.frombuffer("".join(padded).encode(), dtype=np.uint8) - ord("0")
    cols = {
        "module_hash": np.array([h.encode() for h, _ in cells], dtype="S32"),
        "key": np.array([c.key.encode() for _, c in cells], dtype="S32"),
        "n_nodes": np.array(sizes, dtype=np.uint8),
        "adjacency": digits.astype(np.uint8).reshape(n, _MAX_NODES, _MAX_NODES),
        "ops": np.array(codes, dtype=np.int8).reshape(n, _MAX_NODES),
        "val_accuracy": mean("val", 100.0),
        "test_accuracy": mean("test", 100.0),
        "train_accuracy": mean("train", 100.0),
        "train_seconds": mean("seconds"),
        "params": mean("params", 1e-6),
        "n_seeds": runs.astype(np.uint8),
    }
    for name, (dtype, shape) in IMPORTED_COLUMNS.items():  # the layout the reader expects
        assert cols[name].dtype == np.dtype(dtype) and cols[name].shape == (n, *shape), name
    return cols


# --- writing -------------------------------------------------------------------------------


def _progress(total: int, desc: str, progress: bool | None) -> Any:
    """A byte-counting `tqdm` on stderr: shown when ``progress`` is True, or when it is
    None and stderr is a terminal (never in logs or CI)."""
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not show, file=sys.stderr, dynamic_ncols=True, leave=True)


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target`` (same file system, so a rename is atomic),
    removed unless the caller moved it."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _publish(tmp: Path, target: Path, force: bool) -> None:
    """Move ``tmp`` to ``target`` atomically; never replace a file unless ``force``."""
    if force:
        os.replace(tmp, target)
        return
    try:
        # A hard link fails if the target exists, closing the race an exists-check and
        # rename would leave open.
        os.link(tmp, target)
    except FileExistsError:
        raise TableExistsError(
            f"{target} already exists (written while importing?); import with force=True "
            "(--force) to replace it") from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise TableExistsError(
                f"{target} already exists; import with force=True (--force) to replace it"
            ) from None
        os.replace(tmp, target)


def write_table(imported: Imported, source_name: str, target: Path, *, force: bool) -> None:
    """Write ``imported`` to ``target`` (an ``.npz``) atomically."""
    meta = {"format": np.array(IMPORTED_FORMAT), "source": np.array(source_name),
            "epochs": np.array(EPOCHS), "records": np.array(imported.records)}
    with _temporary(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **meta, **imported.columns)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, target, force)


def _declare(folder: Path, name: str, rows: int | None) -> Path | None:
    """Declare ``name`` a sample of ``rows`` in ``samples.json`` (``None``: not a
    sample, so drop a stale declaration); the file written, or None when unchanged."""
    declared = declared_samples(folder)  # refuses a malformed declaration file
    path = samples_file(folder)
    if rows is None:
        if name not in declared:
            return None
        del declared[name]
    else:
        if declared.get(name) == rows:
            return None
        declared[name] = rows
    with _temporary(path) as tmp:
        tmp.write_text(json.dumps(declared, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return path


def import_nb101(
    source: Path | str,
    out_dir: Path | str,
    *,
    progress: bool | None = None,
    force: bool = False,
) -> list[Path]:
    """Import the official ``nasbench_only108.tfrecord`` into ``out_dir/nb101/``.

    Reads the file as a stream (about 500 MB, 1,270,872 records), checks every record's
    CRCs and contents, averages each cell's 3 runs at 108 epochs and writes the table
    ``nb101_cifar10.npz`` (columns in the module docstring) that
    `bo_nas.evaluators.NB101Benchmark` prefers to NASLib's sample. A file with fewer
    than the 423,624 networks is imported as a sample and declared so in
    ``nb101/samples.json`` (a warning says so); importing a complete file removes such a
    declaration.

    Args:
        source: The ``.tfrecord`` file (``nasbench_full.tfrecord`` works too: its
            records at other budgets than 108 epochs are skipped).
        out_dir: The benchmark data directory (the folder that holds ``nb101/``; made if
            missing).
        progress: Show a progress bar (by bytes) on stderr: ``None`` only when stderr
            is a terminal.
        force: Replace an existing table.

    Returns:
        The files written: the table, and ``samples.json`` when its declarations changed.

    Raises:
        BenchmarkFileNotFoundError: for a missing source.
        TableExistsError: when the table exists and ``force`` is not set (checked before
            reading, and again when writing).
        SourceFileError: for a corrupt, truncated or malformed file (`TFRecordError`,
            `NB101ImportError`), naming the file, the record and what is wrong; nothing
            is written then.
        TableWriteError: when the table cannot be written.
    """
    src = Path(source).expanduser()
    if not src.is_file():
        raise BenchmarkFileNotFoundError(f"NB-101 source {src} does not exist or is not a file")
    folder = Path(out_dir).expanduser() / "nb101"
    target = folder / IMPORTED_FILE
    if target.exists() and not force:
        raise TableExistsError(
            f"{target} already exists; import with force=True (--force) to replace it")
    declared_samples(folder)  # a malformed samples.json fails now, not after the read
    with _progress(src.stat().st_size, src.name, progress) as bar:
        imported = read_nb101(src, on_bytes=bar.update)
    n = imported.n_cells
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_table(imported, src.name, target, force=force)
        written = [target]
        declared = _declare(folder, IMPORTED_FILE, None if imported.complete else n)
    except OSError as exc:
        raise TableWriteError(f"{folder}: cannot write the NB-101 table "
                              f"({exc.strerror or exc})") from exc
    if declared is not None:
        written.append(declared)
    seeds = np.bincount(imported.columns["n_seeds"], minlength=SEEDS + 1)
    if not imported.complete:
        logger.warning(
            "%s holds %s of the %s NB-101 networks: the table is a sample (declared in "
            "%s); campaigns on it search only its cells", src, f"{n:,}", f"{NB101_DISTINCT:,}",
            samples_file(folder))
    if seeds[SEEDS] != n:
        logger.warning("%s: %s networks have fewer than %d runs at %d epochs; their numbers "
                       "average the runs there are", src, f"{n - int(seeds[SEEDS]):,}", SEEDS,
                       EPOCHS)
    logger.info("imported %s networks from %s records of %s into %s (%s records at other "
                "budgets skipped)", f"{n:,}", f"{imported.records:,}", src, target,
                f"{imported.skipped:,}")
    return written
