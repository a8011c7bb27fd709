"""Zero-cost scores computed by bo-nas: throughput and agreement with NAS-Bench-201.

For ``--cells`` random NAS-Bench-201 cells of the published zero-cost table
(``nb201/nb201_zc_proxies_cifar10.csv``), `NetworkScores` builds each network at the
benchmark's size (C=16, N=5, 10 classes) and computes nwot, synflow, jacov and
grad_kernel. Printed per measure: scores per second on the chosen device (network
construction timed separately), the Spearman correlation with the table's matching
column (grad_kernel against ``grad_norm``, the nearest published gradient score), and
with the CIFAR-10 validation accuracy (``nb201_cifar10-valid.csv``, 200 epochs); the
table's own column against the same accuracy is shown for reference.

CIFAR images are not available offline, so the data-based scores (nwot, jacov,
grad_kernel) use a minibatch of ``--dataset synthetic`` (uniform random 3x32x32 images,
random labels) unless ``--dataset cifar10 --data-dir DIR`` is given; SynFlow needs no
data. The table used real CIFAR-10 minibatches, so only synflow can be expected to agree
closely.

Needs ``$BO_NAS_DATA_DIR`` (or ``--data-dir-bench``).

    python -m benchmarks.bench_zero_cost                       # 200 cells, CPU
    python -m benchmarks.bench_zero_cost --cells 20 --batch-size 16
    python -m benchmarks.bench_zero_cost --device cuda
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from bo_nas.evaluators._tables import DATA_DIR_ENV
from bo_nas.spaces import NB201Space
from bo_nas.training import load_dataset, resolve_device, synthetic_dataset
from bo_nas.zero_cost import _measures
from bo_nas.zero_cost._network_scores import NETWORK_SCORES, NetworkScores

#: Table column each computed score is compared with.
TABLE_COLUMN = {"nwot": "nwot", "synflow": "synflow", "jacov": "jacov",
                "grad_kernel": "grad_norm"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < 3:
        return float("nan")
    return float(stats.spearmanr(x[keep], y[keep]).statistic)


def _grad_method_timing(src: NetworkScores, archs: list, batch_size: int,
                        device: torch.device) -> str:
    """Seconds per score of grad_kernel's three methods on a few networks."""
    images, labels = src.images[:batch_size], src.labels
    assert labels is not None
    labels = labels[:batch_size]
    nets = [src.network(a) for a in archs]
    parts = []
    for method in ("mean", "vmap", "loop"):
        _measures.grad_kernel(nets[0], images[:2], labels[:2], method=method)  # warm-up
        t0 = time.perf_counter()
        for net in nets:
            _measures.grad_kernel(net, images, labels, method=method)
        if device.type == "cuda":
            torch.cuda.synchronize()
        parts.append(f"{method} {(time.perf_counter() - t0) / len(nets):.2f} s")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--cells", type=int, default=200, help="NB-201 cells scored")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch of the data scores")
    p.add_argument("--dataset", default="synthetic", choices=["synthetic", "cifar10"])
    p.add_argument("--data-dir", default=None, help="folder of the CIFAR-10 python batches")
    p.add_argument("--data-dir-bench", default=os.environ.get(DATA_DIR_ENV),
                   help=f"benchmark tables (default ${DATA_DIR_ENV})")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells-per-stage", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="cell sample, minibatch and weights")
    p.add_argument("--timing-cells", type=int, default=2,
                   help="cells on which grad_kernel's mean/vmap/loop methods are timed")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if not args.data_dir_bench:
        p.error(f"set ${DATA_DIR_ENV} or pass --data-dir-bench")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    root = Path(args.data_dir_bench) / "nb201"

    zc_rows = _read_csv(root / "nb201_zc_proxies_cifar10.csv")
    acc = {r["arch str"]: float(r["validation accuracy"])
           for r in _read_csv(root / "nb201_cifar10-valid.csv")}
    picked = np.random.default_rng(args.seed).choice(len(zc_rows), args.cells, replace=False)
    rows = [zc_rows[i] for i in picked]
    space = NB201Space()
    archs = [space.from_string(r["net_str"]) for r in rows]
    val = np.array([acc.get(r["net_str"], np.nan) for r in rows])

    if args.dataset == "synthetic":
        data = synthetic_dataset(max(1024, 2 * args.batch_size), (3, 32, 32), 10, seed=args.seed)
        batch_note = (f"{args.batch_size} synthetic images (uniform random uint8 3x32x32, "
                      "normalised; random labels): NOT CIFAR-10")
    else:
        data = load_dataset("cifar10", args.data_dir)
        batch_note = f"{args.batch_size} CIFAR-10 training images"
    src = NetworkScores.from_dataset(
        space, data, args.batch_size, torch.Generator().manual_seed(args.seed),
        channels=args.channels, cells_per_stage=args.cells_per_stage, seed=args.seed,
        device=str(device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name}), torch threads {torch.get_num_threads()}")
    print(f"network: NB-201 C={args.channels} N={args.cells_per_stage}, 10 classes, "
          f"{args.cells} cells of the zero-cost table (seed {args.seed})")
    print(f"minibatch (nwot, jacov, grad_kernel): {batch_note}; synflow: all-ones input")

    warm = src.network(archs[0])  # first-call costs (thread pools, kernels) not timed
    _measures.naswot(warm, src.images)
    _measures.jacov(warm, src.images)
    warm_builds = src.builds
    t0 = time.perf_counter()
    ours = src.scores(archs)
    wall = time.perf_counter() - t0
    n = len(archs)

    print()
    print(f"{'score':<12} {'scores/s':>9} {'table column':>13} {'rho(table)':>11} "
          f"{'rho(val acc)':>13} {'table rho(val)':>15}")
    for j, score in enumerate(NETWORK_SCORES):
        col = TABLE_COLUMN[score]
        published = np.array([float(r[col]) for r in rows])
        rate = n / src.seconds[score] if src.seconds[score] > 0 else float("inf")
        print(f"{score:<12} {rate:9.2f} {col:>13} {_spearman(ours[:, j], published):11.3f} "
              f"{_spearman(ours[:, j], val):13.3f} {_spearman(published, val):15.3f}")
    print()
    print(f"network builds: {src.builds - warm_builds} in {src.seconds['build']:.1f} s "
          f"({n / src.seconds['build']:.1f}/s); all four scores: {n / wall:.2f} cells/s "
          f"({wall:.1f} s)")
    print("non-finite scores: " + ", ".join(
        f"{s} {int((~np.isfinite(ours[:, j])).sum())}" for j, s in enumerate(NETWORK_SCORES)))
    k = min(args.timing_cells, n)
    if k:
        m = min(16, args.batch_size)
        print(f"grad_kernel seconds per score by method ({k} cells, first {m} images): "
              f"{_grad_method_timing(src, archs[:k], m, device)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
