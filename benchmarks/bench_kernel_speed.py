"""Speed of the full pairwise TW kernel matrix on NAS-Bench-201 cells.

Compares, for ``--n`` distinct random NB-201 cells with the default (position-aware)
features:

* ``TreeWassersteinKernel`` forward (one ``torch.cdist(p=1)`` on block-scaled features),
  and the raw ``torch.cdist`` alone, each the median of ``--repeats`` runs;
* exact optimal transport per pair: ``ot.emd2`` on the position tree plus ``ot.emd2`` on
  the depth chain for each degree measure, timed on ``--ot-pairs`` random pairs and
  extrapolated to all n(n-1)/2 pairs;
* a straightforward Python loop per pair over the tree's edges,
  :math:`\\sum_e w_e |\\mu(\\Gamma(e)) - \\nu(\\Gamma(e))|` with subtree masses summed on the
  fly (plus the 1-D CDF loops for the degrees), timed on ``--loop-pairs`` pairs and
  extrapolated likewise.

The baselines are extrapolated over n(n-1)/2 pairs (they could use symmetry) while the
kernel computes all n^2 entries, which favours the baselines. Every baseline's values
are checked against the kernel's on the sampled pairs. Feature encoding (once per cell,
shared by every method in practice) is reported separately.

    python -m benchmarks.bench_kernel_speed            # 2,000 cells
    python -m benchmarks.bench_kernel_speed --quick    # small sizes
    python -m benchmarks.bench_kernel_speed --n 5000 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np
import ot
import torch
from tqdm import tqdm

from bo_nas.encodings import Architecture, nb201_canonical_ops
from bo_nas.encodings._tw_features import depths
from bo_nas.kernels import TreeWassersteinKernel
from bo_nas.spaces import NB201Space

N_POS = 6


def _progress(it, **kw):
    return tqdm(it, disable=not sys.stderr.isatty(), leave=False, **kw)


def _median_time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up: allocator, thread pool, kernel selection
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class _ProductTree:
    """root → position p → (p, op-tree node): the tree of the position block."""

    def __init__(self, space: NB201Space) -> None:
        op_tree = space.op_tree
        g = nx.DiGraph()
        for p in range(N_POS):
            g.add_edge("root", ("pos", p), weight=1.0)
            for u, v, w in op_tree.tree.edges(data="weight"):
                g.add_edge(("pos", p) if u == op_tree.root else (p, u), (p, v), weight=w)
        self.nodes = list(g.nodes)
        self.index = {v: i for i, v in enumerate(self.nodes)}
        und = g.to_undirected()
        dist = dict(nx.all_pairs_dijkstra_path_length(und, weight="weight"))
        self.metric = np.array([[dist[u][v] for v in self.nodes] for u in self.nodes])
        # For the loop baseline: each edge (weight, node indices of the subtree below it).
        self.edges = [
            (w, [self.index[x] for x in (nx.descendants(g, v) | {v})])
            for _, v, w in g.edges(data="weight")
        ]

    def measure(self, arch: Architecture, space: NB201Space) -> np.ndarray:
        m = np.zeros(len(self.nodes))
        for p, op in enumerate(nb201_canonical_ops(space.edge_ops(arch))):
            m[self.index[("pos", p) if op == "none" else (p, op)]] += 1.0 / N_POS
        return m


def _degree_measures(arch: Architecture, n_depth: int) -> tuple[np.ndarray, np.ndarray]:
    g = arch.pruned
    d = depths(arch)
    inm, outm = np.zeros(n_depth), np.zeros(n_depth)
    if g.number_of_edges() == 0:
        inm[0] = outm[0] = 1.0
        return inm, outm
    for v in g:
        inm[d[v]] += g.in_degree(v)
        outm[d[v]] += g.out_degree(v)
    return inm / inm.sum(), outm / outm.sum()


def _loop_tw(mu: np.ndarray, nu: np.ndarray, edges: Sequence[tuple[float, list[int]]]) -> float:
    total = 0.0
    for w, below in edges:
        a = 0.0
        b = 0.0
        for i in below:
            a += mu[i]
            b += nu[i]
        total += w * abs(a - b)
    return total


def _loop_w1(mu: np.ndarray, nu: np.ndarray) -> float:
    total, fa, fb = 0.0, 0.0, 0.0
    for i in range(len(mu) - 1):
        fa += mu[i]
        fb += nu[i]
        total += abs(fa - fb)
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000,
                        help="number of distinct NB-201 cells (at most 8,765)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of the kernel")
    parser.add_argument("--ot-pairs", type=int, default=300, help="pairs timed with ot.emd2")
    parser.add_argument("--loop-pairs", type=int, default=3000,
                        help="pairs timed with the Python loop")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--device", default="cpu", help="torch device for the kernel")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.ot_pairs, args.loop_pairs = 300, 3, 50, 300

    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    space = NB201Space()
    enc = space.encoder()
    archs = space.sample_many(args.n, rng)
    if len(archs) < args.n:
        parser.error(f"--n: the space has only {len(archs)} distinct cells to sample here")
    t0 = time.perf_counter()
    feats = enc.encode(archs)
    t_encode = time.perf_counter() - t0

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    x = torch.as_tensor(feats, dtype=dtype, device=device)
    kernel = TreeWassersteinKernel(enc.block_sizes).to(device=device, dtype=dtype)
    kernel.lengthscale = torch.ones_like(kernel.lengthscale)
    with torch.no_grad():
        t_kernel = _median_time(lambda: kernel(x).to_dense(), args.repeats, sync)
        t_cdist = _median_time(lambda: torch.cdist(x, x, p=1), args.repeats, sync)
        K = kernel(x).to_dense().cpu().double().numpy()
    # With unit lengthscales -log k is the plain sum of the blocks' TW distances.
    tw_ours = -np.log(np.clip(K, 1e-300, None))

    tree = _ProductTree(space)
    n_depth = enc.max_depth
    chain = np.abs(np.subtract.outer(np.arange(n_depth), np.arange(n_depth))).astype(float)
    pos = [tree.measure(a, space) for a in archs]
    deg = [_degree_measures(a, n_depth) for a in archs]

    def pairs(k: int) -> np.ndarray:
        p = rng.integers(args.n, size=(k, 2))
        return p[p[:, 0] != p[:, 1]]

    ot_pairs, loop_pairs = pairs(args.ot_pairs), pairs(args.loop_pairs)
    err_ot = err_loop = 0.0
    t0 = time.perf_counter()
    for i, j in _progress(ot_pairs, desc="ot.emd2"):
        d = ot.emd2(pos[i], pos[j], tree.metric)
        d += ot.emd2(deg[i][0], deg[j][0], chain) + ot.emd2(deg[i][1], deg[j][1], chain)
        err_ot = max(err_ot, abs(d - tw_ours[i, j]))
    t_ot = (time.perf_counter() - t0) / len(ot_pairs)
    t0 = time.perf_counter()
    for i, j in _progress(loop_pairs, desc="python loop"):
        d = _loop_tw(pos[i], pos[j], tree.edges)
        d += _loop_w1(deg[i][0], deg[j][0]) + _loop_w1(deg[i][1], deg[j][1])
        err_loop = max(err_loop, abs(d - tw_ours[i, j]))
    t_loop = (time.perf_counter() - t0) / len(loop_pairs)

    n_pairs = args.n * (args.n - 1) // 2
    rows = [
        ("TreeWassersteinKernel forward", t_kernel, "measured, median"),
        ("torch.cdist(p=1) alone", t_cdist, "measured, median"),
        ("per-pair Python loop", t_loop * n_pairs, f"{len(loop_pairs)} pairs, extrapolated"),
        ("per-pair ot.emd2 (exact OT)", t_ot * n_pairs, f"{len(ot_pairs)} pairs, extrapolated"),
    ]
    print(f"Full TW matrix for {args.n} NB-201 cells ({n_pairs:,} pairs), features d={enc.dim} "
          f"{enc.block_sizes}, {args.dtype} on {device}, torch threads "
          f"{torch.get_num_threads()}")
    print(f"feature encoding (once per cell): {t_encode:.3f} s")
    print(f"{'method':32s} {'time (s)':>12s} {'x kernel':>10s}  how")
    for name, t, how in rows:
        print(f"{name:32s} {t:12.4f} {t / t_kernel:10.1f}  {how}")
    print(f"max |baseline - kernel| distance: ot.emd2 {err_ot:.2e}, loop {err_loop:.2e}")
    speedup = t_ot * n_pairs / t_kernel
    print(f"ratio ot.emd2 / kernel = {speedup:,.0f}x (target >= 1000x: "
          f"{'PASS' if speedup >= 1000 else 'FAIL'}); "
          f"ratio loop / kernel = {t_loop * n_pairs / t_kernel:,.0f}x")
    if args.n == 2000:
        print(f"2000x2000 kernel matrix in {t_kernel:.4f} s (target < 0.2 s: "
              f"{'PASS' if t_kernel < 0.2 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
