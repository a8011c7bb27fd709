"""Surrogate fit time on many observations: `fit_tw_gp` on 5,000 NB-201 cells.

Fits the engine's surrogate (`bo_nas.fit_tw_gp`: hyper-parameters on a random subset of
300, then conditioned on all points) on ``--n`` random NB-201 cells with their CIFAR-10
validation accuracies (modelled as log error, as campaigns do), and, in the same run,
the exact fit (every point in the marginal likelihood) on ``--n-exact`` cells, the most an
exact fit does in a campaign. Prints both times, their ratio, and the Kendall tau of
each posterior mean on 1,000 held-out cells, so speed is not bought with accuracy.
Needs ``$BO_NAS_DATA_DIR`` (or ``--data-dir``).

    python -m benchmarks.bench_fit                  # 5,000 vs exact on 1,000
    python -m benchmarks.bench_fit --n 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats

from bo_nas._surrogate import fit_tw_gp, make_tw_gp
from bo_nas.evaluators import NB201Benchmark
from bo_nas.spaces import NB201Space


def _fit(X: torch.Tensor, Y: torch.Tensor, block_sizes: Sequence[int], max_fit: int,
         seed: int) -> tuple[float, object]:
    start = time.perf_counter()
    model = fit_tw_gp(make_tw_gp(X, Y, block_sizes), max_fit_points=max_fit,
                      generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # the posterior's first use: the full factorisation
        model.posterior(X[:1])
    return time.perf_counter() - start, model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="observations of the large fit")
    parser.add_argument("--n-exact", type=int, default=1000,
                        help="observations of the exact fit it is compared with")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    space = NB201Space()
    bench = NB201Benchmark(args.dataset, data_dir=args.data_dir)
    enc = space.encoder()
    rng = np.random.default_rng(0)
    archs = space.sample_many(args.n + 1000, rng)
    val = np.array([bench(a).val_accuracy for a in archs])
    y = -np.log(100.1 - np.minimum(val, 100.0))
    X = torch.as_tensor(enc.encode(archs), dtype=torch.float64)
    Y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)
    X_test, test = X[args.n:], val[args.n:]

    print(f"fit_tw_gp on NB-201 {args.dataset}, {torch.get_num_threads()} torch thread(s)")
    rows = []
    for r in range(args.repeats):
        t_big, big = _fit(X[: args.n], Y[: args.n], enc.block_sizes, 300, r)
        t_exact, exact = _fit(X[: args.n_exact], Y[: args.n_exact], enc.block_sizes,
                              args.n_exact, r)
        rows.append((t_big, t_exact))
        with torch.no_grad():
            tau_big = stats.kendalltau(big.posterior(X_test).mean.squeeze(-1), test)[0]
            tau_exact = stats.kendalltau(exact.posterior(X_test).mean.squeeze(-1), test)[0]
        print(f"  repeat {r}: {args.n} points (subset fit) {t_big:.1f} s, tau {tau_big:.3f}; "
              f"{args.n_exact} points (exact fit) {t_exact:.1f} s, tau {tau_exact:.3f}; "
              f"ratio {t_big / t_exact:.2f}")
    big_t = float(np.median([a for a, _ in rows]))
    exact_t = float(np.median([b for _, b in rows]))
    print(f"median: {args.n} points {big_t:.1f} s, exact {args.n_exact} points {exact_t:.1f} s, "
          f"ratio {big_t / exact_t:.2f}")
    return 0 if math.isfinite(big_t) else 1


if __name__ == "__main__":
    sys.exit(main())
