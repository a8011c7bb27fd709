"""How long importing NAS-Bench-101's tfrecord takes, measured on a generated file.

Writes ``--cells`` distinct NB-101 cells × 3 runs (30,000 records by default) in the
official structure, with the test suite's protobuf encoder (``tests/test_import_nb101``)
and pruned matrices as the official file stores them, then times:

- the framing and CRC32C checks alone (`iter_records`);
- the reader: framing, CRCs, JSON, base64, protobuf and checks, without the keys;
- the whole import (`import_nb101`): the reader, each cell's `Architecture.key` and the
  compressed table;
- loading a complete 423,624-row table into `NB101Benchmark`, cold.

From the per-record and per-cell costs it estimates the import of the real
``nasbench_only108.tfrecord`` (1,270,872 records of 423,624 cells, about 500 MB).

    python -m benchmarks.bench_import_nb101               # 10,000 cells, 30,000 records
    python -m benchmarks.bench_import_nb101 --cells 2000
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bo_nas.encodings._nb101 import graph_matrix
from bo_nas.evaluators import NB101Benchmark
from bo_nas.evaluators._nb101_table import IMPORTED_FILE
from bo_nas.evaluators._tables import clear_cache
from bo_nas.importers._nb101 import FULL_RECORDS, SEEDS, import_nb101, read_nb101
from bo_nas.importers._tfrecord import iter_records, write_record
from bo_nas.spaces import NB101Space
from bo_nas.spaces._subset import NB101_DISTINCT
from tests.test_import_nb101 import evaluation_data, model_metrics, write_complete_table


def distinct_cells(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` distinct networks as (matrix digits, ops), pruned as NB-101 stores them."""
    space, rng = NB101Space(), np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        arch = space.sample(rng)
        if arch.key in seen:
            continue
        seen.add(arch.key)
        m, ops = graph_matrix(arch)
        live = sorted(arch.pruned.nodes)  # upper triangular: index order is topological
        sub = m[np.ix_(live, live)]
        out.append(("".join(str(int(v)) for v in sub.ravel()),
                    ",".join(ops[i] for i in live)))
    return out


def write_file(path: Path, cells: list[tuple[str, str]], seed: int) -> int:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as fh:
        for _ in range(SEEDS):
            for adj, ops in cells:
                val, test, train = rng.uniform(0.8, 0.95, 3)
                t = float(rng.uniform(500, 5000))
                evals = [evaluation_data(0.0, 0.0, 0.1, 0.1, 0.1, ""),
                         evaluation_data(54.0, t / 2, train - 0.1, val - 0.1, test - 0.1, ""),
                         evaluation_data(108.0, t, train, val, test, "")]
                metrics = model_metrics(evals, int(rng.integers(200_000, 40_000_000)), t * 1.1)
                item = [hashlib.md5(f"{adj}{ops}".encode()).hexdigest(), 108, adj, ops,
                        base64.b64encode(metrics).decode()]
                write_record(fh, json.dumps(item).encode())
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        cells = distinct_cells(args.cells, args.seed)
        source = folder / "nasbench_only108.tfrecord"
        size = write_file(source, cells, args.seed)
        records = SEEDS * len(cells)
        print(f"generated {records:,} records of {len(cells):,} cells, {size / 1e6:.1f} MB "
              f"({size / records:.0f} B/record) in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        n = sum(1 for _ in iter_records(source))
        frame_s = time.perf_counter() - t
        assert n == records
        t = time.perf_counter()
        read_nb101(source, keys=False)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        import_nb101(source, folder / "data", progress=False)
        import_s = time.perf_counter() - t
        table_mb = (folder / "data" / "nb101" / IMPORTED_FILE).stat().st_size / 1e6

        complete = folder / "complete"
        write_complete_table(complete / "nb101" / IMPORTED_FILE)
        clear_cache()
        t = time.perf_counter()
        bench = NB101Benchmark(complete)
        load_s = time.perf_counter() - t
        assert len(bench) == NB101_DISTINCT and not bench.sample

    per_record = read_s / records
    per_cell = max(import_s - read_s, 0.0) / len(cells)
    estimate = per_record * FULL_RECORDS + per_cell * NB101_DISTINCT
    print(f"framing + CRC32C: {records / frame_s:,.0f} records/s "
          f"({size / frame_s / 1e6:.1f} MB/s)")
    print(f"reader (framing, CRCs, JSON, protobuf, checks): {records / read_s:,.0f} records/s")
    print(f"import (reader + keys + table, {table_mb:.2f} MB): {import_s:.2f} s, "
          f"{per_cell * 1e3:.2f} ms per cell for its key")
    print(f"complete 423,624-row table loaded in {load_s:.2f} s")
    print(f"estimate for nasbench_only108.tfrecord ({FULL_RECORDS:,} records, "
          f"{NB101_DISTINCT:,} cells): reader {per_record * FULL_RECORDS / 60:.1f} min + "
          f"keys {per_cell * NB101_DISTINCT / 60:.1f} min = {estimate / 60:.1f} min")


if __name__ == "__main__":
    main()
