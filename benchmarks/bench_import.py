"""Speed of ``bo_nas.importers.import_nb201`` per architecture, and the time it would
take for a full official file (15,625 architectures).

Writes a miniature file of the official structure with v1_1's mix of runs (200 epochs:
2,225 cells trained once, 5,439 twice, 7,961 three times on each dataset; 12 epochs:
twice on cifar10-valid, once elsewhere), checks that its size per architecture is that
of the real file (~300 kB: 4.7 GB / 15,625), then times:

- our import (streaming reader, table writing), per architecture;
- ``torch.load`` of the same file with ``weights_only=True`` and ``False``, per MB, which
  is how long loading the whole dict (what the official API does) would take, and how
  much memory it holds per architecture;
- a NATS-Bench topology folder of the same cells (bz2 per cell), per architecture.

The estimate is per-architecture time x 15,625 (reading scales with the file: every
architecture's runs are the same size), plus the table writing measured here scaled by
15,625 / n. With ``--file`` it times a real official file instead.

    python -m benchmarks.bench_import                  # 20 architectures
    python -m benchmarks.bench_import --archs 50 --nats
    python -m benchmarks.bench_import --file NAS-Bench-201-v1_1-096897.pth
"""

from __future__ import annotations

import argparse
import bz2
import gc
import itertools
import pickle
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FULL = 5**6
REAL_SIZE = {"v1_1": 4.7e9, "v1_0": 2.1e9}
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
        "cifar100": ("ori-test", "x-valid", "x-test"),
        "ImageNet16-120": ("ori-test", "x-valid", "x-test")}


_CELLS = list(itertools.product(OPS, repeat=6))


def _string(index: int) -> str:
    it = iter(_CELLS[index])
    return "+".join("|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in (1, 2, 3))


def _run(rng: random.Random, dataset: str, seed: int, epochs: int, s: str) -> dict[str, Any]:
    r = rng.random
    run: dict[str, Any] = {
        "name": dataset, "net_state_dict": None,
        "train_acc1es": {e: 100 * r() for e in range(epochs)},
        "train_acc5es": {e: 100 * r() for e in range(epochs)},
        "train_losses": {e: r() for e in range(epochs)},
        "train_times": {e: 10 * r() for e in range(epochs)},
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": s, "class_num": 10},
        "params": r(), "flop": 100 * r(), "seed": seed, "epochs": epochs, "latency": [r()],
        "eval_names": list(SETS[dataset]), "eval_acc1es": {}, "eval_times": {},
        "eval_losses": {},
    }
    for name in SETS[dataset]:
        for e in range(epochs):
            key = f"{name}@{e}"
            run["eval_acc1es"][key] = 100 * r()
            run["eval_losses"][key] = r()
            run["eval_times"][key] = r()
    return run


def _arch(rng: random.Random, index: int, seeds: dict[str, list[int]], epochs: int
          ) -> dict[str, Any]:
    s = _string(index)
    return {"arch_index": index, "arch_str": s, "clear_net_done": True,
            "dataset_seed": {d: list(v) for d, v in seeds.items()},
            "all_results": {(d, x): _run(rng, d, x, epochs, s)
                            for d, v in seeds.items() for x in v}}


def miniature(n: int) -> dict[str, Any]:
    """A v1_1-like dict of ``n`` architectures with the real file's mix of seeds."""
    rng = random.Random(0)
    counts = (2225, 5439, 7961)  # trained once, twice, three times (v1_1)
    mix = [1] * counts[0] + [2] * counts[1] + [3] * counts[2]
    rng.shuffle(mix)
    less = {"cifar10-valid": [111, 777], "cifar10": [111], "cifar100": [111],
            "ImageNet16-120": [111]}
    arch2infos = {}
    for i in range(n):
        full = {d: [777, 888, 999][:mix[i]] for d in SETS}
        arch2infos[i] = {"less": _arch(rng, i, less, 12), "full": _arch(rng, i, full, 200)}
    return {"meta_archs": [_string(i) for i in range(n)], "arch2infos": arch2infos,
            "evaluated_indexes": list(range(n)), "total_archs": n}


def _time(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_pth(n: int, repeat: int, tmp: Path) -> None:
    import torch

    from bo_nas.importers import import_nb201
    from bo_nas.importers._nb201 import read_pth
    from bo_nas.importers._progress import bar

    data = miniature(n)
    pth = tmp / "mini.pth"
    torch.save(data, pth, _use_new_zipfile_serialization=False)  # as the 2020 files are
    size = pth.stat().st_size
    print(f"miniature: {n} architectures, {size / n / 1e3:.0f} kB each "
          f"(real v1_1: {REAL_SIZE['v1_1'] / FULL / 1e3:.0f} kB each)")

    def read() -> None:
        with bar(None, "", False) as b:
            read_pth(pth, b)

    out = iter(range(10**6))
    t_read = _time(read, repeat)
    t_all = _time(lambda: import_nb201(pth, tmp / f"out{next(out)}", progress=False), repeat)
    t_write = max(0.0, t_all - t_read)
    per = t_read / n
    scale = REAL_SIZE["v1_1"] / (size / n * FULL)  # real bytes per arch / ours
    est = per * FULL * scale + t_write * FULL / n
    print(f"import_nb201: {1e3 * per:.2f} ms/arch reading, {1e3 * t_write / n:.2f} ms/arch "
          f"writing tables; best of {repeat}")
    print(f"  estimate for a full v1_1 file (15,625 archs, 4.7 GB): {est:.0f} s "
          f"({est / 60:.1f} min); v1_0 (2.1 GB): "
          f"{est * REAL_SIZE['v1_0'] / REAL_SIZE['v1_1']:.0f} s")
    batch, memo = _streaming_memory(pth, n)
    print(f"  memory: {batch / 1e6:.2f} MB/arch while its batch of <= 1,000 is held, memo "
          f"{memo:.0f} entries/arch -> peak ~{(1000 * batch + 8 * memo * FULL) / 1e9:.1f} GB "
          "for a full file")
    for weights_only in (True, False):
        t = _time(lambda wo=weights_only: torch.load(pth, weights_only=wo), 1)
        rate = size / t
        print(f"torch.load(weights_only={weights_only}): {rate / 1e6:.1f} MB/s -> "
              f"{REAL_SIZE['v1_1'] / rate:.0f} s for v1_1 "
              f"({REAL_SIZE['v1_1'] / rate / 60:.1f} min)")
    tracemalloc.start()
    held = torch.load(pth, weights_only=False)
    per_arch = tracemalloc.get_traced_memory()[0] / n
    tracemalloc.stop()
    del held
    print(f"  the whole dict in memory: {per_arch / 1e6:.2f} MB/arch -> "
          f"{per_arch * FULL * scale / 1e9:.0f} GB for v1_1 (what loading it at once costs)")


def _streaming_memory(pth: Path, n: int) -> tuple[float, float]:
    """Peak traced bytes per architecture while reading, and memo entries per arch."""
    import mmap

    from bo_nas.importers._nb201 import _legacy_start, _results_reader
    from bo_nas.importers._progress import bar

    records: list[Any] = []
    with open(pth, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf, \
            bar(None, "", False) as b:
        size = len(buf)
        reader = _results_reader(pth, buf, _legacy_start(pth, buf, size), size, records, b)
        tracemalloc.start()
        reader.load()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        memo = len(reader.memo)
        del reader
    return peak / n, memo / n


def bench_nats(n: int, repeat: int, tmp: Path, workers: int) -> None:
    from bo_nas.importers import import_nb201

    data = miniature(n)
    folder = tmp / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    with bz2.open(folder / "meta.pickle.pbz2", "wb") as fh:
        pickle.dump({"meta_archs": data["meta_archs"]}, fh, protocol=4)
    for i, info in data["arch2infos"].items():
        with bz2.open(folder / f"{i:06d}.pickle.pbz2", "wb") as fh:
            pickle.dump({"12": info["less"], "200": info["full"]}, fh, protocol=4)
    size = sum(p.stat().st_size for p in folder.iterdir())
    out = iter(range(10**6))
    t = _time(lambda: import_nb201(folder, tmp / f"nats{next(out)}", progress=False,
                                   workers=1), repeat)
    per = t / n
    print(f"NATS folder: {size / n / 1e3:.0f} kB/arch compressed (random numbers compress "
          f"worse than real ones), {1e3 * per:.1f} ms/arch in one process -> "
          f"{per * FULL:.0f} s for 15,625; with {workers} processes ~{per * FULL / workers:.0f} s")


def bench_file(path: Path, tmp: Path) -> None:
    from bo_nas.importers import import_nb201

    t = time.perf_counter()
    written = import_nb201(path, tmp, progress=True)
    dt = time.perf_counter() - t
    print(f"{path}: {dt:.0f} s, {len(written)} files written to {tmp / 'nb201'}")


def main(argv: Sequence[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=20, help="architectures in the miniature")
    parser.add_argument("--repeat", type=int, default=3, help="timings; the best is kept")
    parser.add_argument("--nats", action="store_true", help="also time a NATS-Bench folder")
    parser.add_argument("--file", type=Path, help="time the import of this official file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.file is not None:
            bench_file(args.file, Path(tmp))
            return 0
        bench_pth(args.archs, args.repeat, Path(tmp))
        if args.nats:
            bench_nats(args.archs, args.repeat, Path(tmp), min(8, os.cpu_count() or 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
