"""The NB-201 tables written from the official files, in the layout bo-nas reads.

In ``<out_dir>/nb201/`` (the data directory's layout, see the data README):

- ``nb201_cifar10-valid.csv``, ``nb201_cifar100.csv``, ``nb201_ImageNet16-120.csv``:
  `NB201_CSV_COLUMNS` (file id, arch str, cfg name, C, N, train / validation / test
  accuracy), 200 epochs. Validation is ``x-valid``; test is ``ori-test`` for
  cifar10-valid and ``x-test`` for the other two.
- ``nb201_cifar10_trainval.json``: ``{arch str: {val_acc_200, test_acc_200, rank}}``:
  the cifar10-valid ``x-valid`` accuracy, the ``cifar10`` (train+valid) ``ori-test``
  accuracy, and the rank of the latter (1 = best; ties by official index).
- ``nb201_test_12ep_200ep.csv``: `NB201_FIDELITY_COLUMNS`: the ``cifar10`` ``ori-test``
  and ``cifar100`` ``x-test`` accuracies after the 12-epoch and the 200-epoch schedule.
  Only from files that have 12-epoch results for both (not v1_0). Unlike the shipped
  file (one seed), every seed is averaged.
- ``nb201_curves_<dataset>.csv`` for cifar10-valid, cifar100 and ImageNet16-120 (new,
  for multi-fidelity search): `curve_columns`: file id, arch str, then
  ``val_acc_ep1`` … ``val_acc_ep200`` (``x-valid`` accuracy after epoch e of the
  200-epoch schedule) and ``train_sec_ep1`` … ``train_sec_ep200`` (seconds spent
  training epoch e; empty where the file has no times). `read_curves` reads it.
- ``nb201_costs.csv``: `COSTS_COLUMNS`: ``arch_str``, then for each dataset ``d`` of
  cifar10-valid, cifar10, cifar100 and ImageNet16-120 (every file has all four):
  ``d_params`` (parameters, millions), ``d_flops`` (FLOPs per image, millions) and
  ``d_latency`` (seconds per batch, the API's batch being 256; empty where the file has
  no latency for the cell), as the official ``get_cost_info(index, d, hp="200")`` gives
  them (see `bo_nas.importers._records`; ``nas_201_api`` for a ``.pth``, ``nats_bench``
  for the NATS-Bench archive). The 200-epoch runs are read because v1_0 has 12-epoch
  runs on cifar10-valid only. The NB-201 evaluator takes params and FLOPs from it when
  the data directory has no ``nb201_zc_proxies_cifar10.csv``
  (`bo_nas.evaluators._nb201_datasets`); the latency is kept for reference, not used.

Every accuracy is the mean over the file's training seeds, as the official
``get_more_info(..., is_random=False)`` gives it; every number is written in full
precision (``repr``).
A table of fewer than the 15,625 cells is declared a sample in ``samples.json``
(`bo_nas.evaluators._tables.check_coverage`), so the evaluators accept it as such.

Files are written to a temporary name in the same folder and renamed over the target
(atomic on POSIX); an existing table is replaced only when ``force`` is given.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bo_nas.evaluators._nb201_datasets import (
    COSTS_COLUMNS,
    COSTS_DATASETS,
    COSTS_FILE,
)
from bo_nas.evaluators._nb201_readers import (
    NB201_CSV_COLUMNS,
    NB201_FIDELITY_COLUMNS,
    NB201_N_CELLS,
)
from bo_nas.evaluators._tables import (
    SAMPLES_FILE,
    BenchmarkTableError,
    declared_samples,
    nb201_key,
    parse_accuracy,
    parse_index,
    parse_nb201_cell,
    parse_number,
    read_csv,
)

from ._errors import TableExistsError, TableWriteError
from ._records import CURVE_DATASETS, ArchRecord

#: The folder of the data directory that holds the NB-201 tables.
SUBDIR = "nb201"
#: Accuracy table of each dataset with a CSV table (cifar10 is the JSON table).
CSV_FILES = {
    "cifar10-valid": "nb201_cifar10-valid.csv",
    "cifar100": "nb201_cifar100.csv",
    "ImageNet16-120": "nb201_ImageNet16-120.csv",
}
TRAINVAL_FILE = "nb201_cifar10_trainval.json"
FIDELITY_FILE = "nb201_test_12ep_200ep.csv"
CURVE_EPOCHS = 200


def curve_file(dataset: str) -> str:
    """The per-epoch table of ``dataset``."""
    return f"nb201_curves_{dataset}.csv"


def curve_columns(epochs: int = CURVE_EPOCHS) -> tuple[str, ...]:
    """Columns of ``nb201_curves_<dataset>.csv``."""
    return ("file id", "arch str",
            *(f"val_acc_ep{e}" for e in range(1, epochs + 1)),
            *(f"train_sec_ep{e}" for e in range(1, epochs + 1)))


def planned_files(with_fidelity: bool) -> list[str]:
    """Names of the tables an import writes (the curves unless the file lacks epochs)."""
    names = [*CSV_FILES.values(), TRAINVAL_FILE, COSTS_FILE]
    if with_fidelity:
        names.append(FIDELITY_FILE)
    names += [curve_file(d) for d in CURVE_DATASETS]
    return names


def check_free(folder: Path, names: Iterable[str], force: bool) -> None:
    """Refuse to go on when a table to write exists already and ``force`` is not given.

    Raises:
        TableExistsError: naming the tables that exist.
    """
    if force:
        return
    existing = [n for n in names if (folder / n).exists()]
    if existing:
        one = len(existing) == 1
        raise TableExistsError(
            f"{folder}: {', '.join(existing)} already exist{'s' if one else ''}: nothing "
            f"was written (pass --force, or force=True, to replace {'it' if one else 'them'})"
        )


def _num(x: float) -> str:
    # repr is the shortest text that reads back as the same float.
    return "" if math.isnan(x) else repr(float(x))


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render(records: Sequence[ArchRecord], with_fidelity: bool,
           curves: Sequence[str] = CURVE_DATASETS) -> dict[str, str]:
    """The text of every table, by file name, from records in official index order
    (``curves``: the datasets whose per-epoch table is written)."""
    out: dict[str, str] = {}
    for dataset, name in CSV_FILES.items():
        rows = []
        for r in records:
            f = r.full[dataset]
            c, n = r.config[dataset]
            rows.append([r.index, r.string, "infer.tiny", c, n, _num(f.train),
                         _num(f.valid if f.valid is not None else math.nan), _num(f.test)])
        out[name] = _csv_text(NB201_CSV_COLUMNS, rows)
    # Rank by the cifar10 test accuracy, best first; ties by official index (the
    # GENIUS file this mirrors breaks ties in an unstated order; no reader uses rank).
    order = sorted(records, key=lambda r: (-r.full["cifar10"].test, r.index))
    rank = {r.index: k + 1 for k, r in enumerate(order)}
    trainval = {
        r.string: {"val_acc_200": r.full["cifar10-valid"].valid,
                   "test_acc_200": r.full["cifar10"].test, "rank": rank[r.index]}
        for r in records
    }
    out[TRAINVAL_FILE] = json.dumps(trainval, indent=None) + "\n"
    out[COSTS_FILE] = _csv_text(COSTS_COLUMNS, (
        [r.string, *(x for d in COSTS_DATASETS for x in _cost_cells(r, d))]
        for r in records))
    if with_fidelity:
        out[FIDELITY_FILE] = _csv_text(NB201_FIDELITY_COLUMNS, (
            [r.string, _num(r.short["cifar10"].test), _num(r.short["cifar100"].test),
             _num(r.full["cifar10"].test), _num(r.full["cifar100"].test)]
            for r in records))
    for dataset in curves:
        out[curve_file(dataset)] = _csv_text(curve_columns(), (
            [r.index, r.string, *_nums(r.curves[dataset][0]), *_nums(r.curves[dataset][1])]
            for r in records))
    return out


def _cost_cells(record: ArchRecord, dataset: str) -> tuple[str, str, str]:
    c = record.costs[dataset]
    return (_num(c.params), _num(c.flops),
            "" if c.latency is None else _num(c.latency))


def _nums(values: Sequence[float]) -> Iterable[str]:
    # 1,200 numbers per architecture: map(repr) unless a NaN (no time) needs an empty cell.
    if all(x == x for x in values):
        return map(float.__repr__, values)
    return map(_num, values)


def _write_temp(folder: Path, name: str, text: str) -> Path:
    # A hidden name of our own in the target's folder (the rename must not cross file
    # systems), created with open(..., "x") so it gets the usual permissions (mkstemp's
    # are 0600) and never replaces someone else's file.
    tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def write_tables(folder: Path, texts: dict[str, str], n_cells: int, force: bool) -> list[Path]:
    """Write ``texts`` into ``folder`` atomically and declare them in ``samples.json``
    when they hold fewer than all cells (or remove their declaration when they hold all).

    All tables are first written to temporary files, then renamed, so a failure leaves
    the old tables (or none) rather than a half-written one.

    Returns:
        The tables written, then ``samples.json`` when it was changed.

    Raises:
        TableExistsError: when a table exists and ``force`` is not given.
        TableWriteError: when a file cannot be written.
        BenchmarkTableError: for an existing ``samples.json`` that is not valid.
    """
    check_free(folder, texts, force)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TableWriteError(f"{folder}: cannot create the folder ({exc.strerror or exc})"
                              ) from None
    declared = declared_samples(folder)
    updated = dict(declared)
    for name in texts:
        if n_cells < NB201_N_CELLS:
            updated[name] = n_cells
        else:
            updated.pop(name, None)
    temps: dict[str, Path] = {}
    try:
        for name, text in texts.items():
            temps[name] = _write_temp(folder, name, text)
        if updated != declared:
            temps[SAMPLES_FILE] = _write_temp(
                folder, SAMPLES_FILE, json.dumps(updated, indent=2, sort_keys=True) + "\n")
        written = []
        for name, tmp in temps.items():
            os.replace(tmp, folder / name)
            written.append(folder / name)
    except OSError as exc:
        target = getattr(exc, "filename", None) or folder
        raise TableWriteError(f"{target}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                if tmp.exists():
                    tmp.unlink()
    return written


def read_curves(path: Path) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """The rows of ``nb201_curves_<dataset>.csv``.

    Returns:
        ``{official string: (official index, validation accuracy per epoch, training
        seconds per epoch)}``, arrays of shape `200` (seconds NaN where empty).

    Raises:
        BenchmarkTableError: for other columns, a bad or repeated row.
    """
    columns = curve_columns()
    val_cols = columns[2:2 + CURVE_EPOCHS]
    sec_cols = columns[2 + CURVE_EPOCHS:]
    out: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
    for line, row in read_csv(path, columns):
        where = f"line {line}"
        idx = parse_index(path, where, "file id", row["file id"], NB201_N_CELLS)
        s = nb201_key(parse_nb201_cell(path, where, "arch str", row["arch str"]))
        if s in out:
            raise BenchmarkTableError(f"{path}, {where}: duplicate architecture {s!r}")
        val = np.array([parse_accuracy(path, where, c, row[c]) for c in val_cols])
        sec = np.array([math.nan if row[c] == "" else parse_number(path, where, c, row[c])
                        for c in sec_cols])
        out[s] = (idx, val, sec)
    return out
