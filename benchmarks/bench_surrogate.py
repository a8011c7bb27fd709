"""Surrogate quality on NAS-Bench-201: rank correlation of the GP posterior mean.

For each dataset, training size and seed: draw ``--n-test`` held-out cells and a
disjoint training set of random cells (the largest size; smaller sizes are its
prefixes), fit a GP on validation accuracy and score the posterior mean on the held-out
cells by Kendall's tau and Spearman's rho against the true validation accuracy.

Kernels:

* ``tw``: ``ScaleKernel(TreeWassersteinKernel)`` on the space's default TW features
  (``NB201Space().encoder()``: position-aware op measures + in/out-degree), fitted by
  ``bo_nas._surrogate.make_tw_gp`` / ``fit_tw_gp``;
* ``rbf``: BoTorch's ``SingleTaskGP`` defaults (RBF with ARD and its dimension-scaled
  priors) on the one-hot encoding of the 6 edge ops (30 features), as a BoTorch user
  would set it up without TW.

Needs ``$BO_NAS_DATA_DIR`` (or ``--data-dir``).

    python -m benchmarks.bench_surrogate                 # 2 datasets x 4 sizes x 10 seeds
    python -m benchmarks.bench_surrogate --quick
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy import stats
from tqdm import tqdm

from bo_nas._surrogate import fit_tw_gp, make_tw_gp
from bo_nas.encodings import NB201_OPS, parse_nb201
from bo_nas.evaluators import NB201Benchmark
from bo_nas.spaces import NB201Space

KERNELS = ("tw", "rbf")


def one_hot(strings: Sequence[str]) -> np.ndarray:
    """`n x 30`: for each of the 6 edges, a one-hot of its op."""
    index = {op: i for i, op in enumerate(NB201_OPS)}
    out = np.zeros((len(strings), 6 * len(NB201_OPS)))
    for r, s in enumerate(strings):
        for e, op in enumerate(parse_nb201(s)):
            out[r, e * len(NB201_OPS) + index[op]] = 1.0
    return out


def fit_predict(kernel: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                block_sizes: Sequence[int]) -> np.ndarray:
    X = torch.as_tensor(x_train, dtype=torch.float64)
    Y = torch.as_tensor(y_train, dtype=torch.float64).unsqueeze(-1)
    if kernel == "tw":
        gp = fit_tw_gp(make_tw_gp(X, Y, block_sizes))
    else:
        gp = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        gp.eval()
    with torch.no_grad():
        return gp.posterior(torch.as_tensor(x_test, dtype=torch.float64)).mean.squeeze(-1).numpy()


_BENCHES: dict[tuple[str, str | None], NB201Benchmark] = {}


def run_seed(task: tuple[str, int, str | None, int, tuple[int, ...], tuple[str, ...], int]
             ) -> list[tuple[str, int, str, float, float, float]]:
    """Every training size and kernel for one (dataset, seed): rows of
    ``(dataset, n_train, kernel, tau, rho, seconds)``."""
    dataset, seed, data_dir, n_test, sizes, kernels, threads = task
    if threads:
        torch.set_num_threads(threads)
    bench = _BENCHES.get((dataset, data_dir))
    if bench is None:
        bench = _BENCHES[(dataset, data_dir)] = NB201Benchmark(dataset, data_dir, hardware=False)
    table = bench.all_results()
    space = NB201Space()
    enc = space.encoder()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table.strings))
    test, train = order[:n_test], order[n_test : n_test + max(sizes)]
    y = np.asarray(table.val_accuracy)

    def rows(idx: np.ndarray, kernel: str) -> np.ndarray:
        strings = [table.strings[i] for i in idx]
        if kernel == "tw":
            return enc.encode([space.from_string(s) for s in strings])
        return one_hot(strings)

    out = []
    x_test = {k: rows(test, k) for k in kernels}
    x_train = {k: rows(train, k) for k in kernels}
    for n_train in sizes:
        for kernel in kernels:
            t0 = time.perf_counter()
            mean = fit_predict(kernel, x_train[kernel][:n_train], y[train[:n_train]],
                               x_test[kernel], enc.block_sizes)
            dt = time.perf_counter() - t0
            tau = stats.kendalltau(mean, y[test]).statistic
            rho = stats.spearmanr(mean, y[test]).statistic
            out.append((dataset, n_train, kernel, float(tau), float(rho), dt))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["cifar10", "cifar100"])
    parser.add_argument("--train-sizes", nargs="+", type=int, default=[25, 50, 100, 200])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--data-dir", default=None, help="default: $BO_NAS_DATA_DIR")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes, one (dataset, seed) each; torch uses 1 thread "
                             "per worker when > 1")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_sizes, args.seeds, args.n_test = [25, 50], 2, 300

    t_start = time.perf_counter()
    tasks = [
        (d, s, args.data_dir, args.n_test, tuple(args.train_sizes), tuple(args.kernels),
         1 if args.jobs > 1 else 0)
        for d in args.datasets for s in range(args.seeds)
    ]
    results: dict[tuple[str, int, str], list[tuple[float, float, float]]] = defaultdict(list)
    bar = tqdm(total=len(tasks), disable=not sys.stderr.isatty())
    if args.jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
            outputs = pool.map(run_seed, tasks)
            for rows_ in outputs:
                for dataset, n, kernel, tau, rho, dt in rows_:
                    results[(dataset, n, kernel)].append((tau, rho, dt))
                bar.update()
    else:
        for task in tasks:
            for dataset, n, kernel, tau, rho, dt in run_seed(task):
                results[(dataset, n, kernel)].append((tau, rho, dt))
            bar.update()
    bar.close()

    print(f"GP posterior mean vs true validation accuracy on {args.n_test} held-out NB-201 "
          f"cells; mean ± std over {args.seeds} seeds")
    print(f"{'dataset':9s} {'n':>4s} {'kernel':6s} {'Kendall tau':>15s} {'Spearman rho':>15s} "
          f"{'fit+predict s':>13s}")
    for dataset in args.datasets:
        for n_train in args.train_sizes:
            for kernel in args.kernels:
                r = np.array(results[(dataset, n_train, kernel)])
                print(f"{dataset:9s} {n_train:4d} {kernel:6s} "
                      f"{r[:, 0].mean():7.3f} ± {r[:, 0].std():5.3f} "
                      f"{r[:, 1].mean():7.3f} ± {r[:, 1].std():5.3f} {r[:, 2].mean():13.2f}")
            if set(KERNELS) <= set(args.kernels):
                tw = np.array(results[(dataset, n_train, "tw")])[:, 0]
                rbf = np.array(results[(dataset, n_train, "rbf")])[:, 0]
                print(f"{'':9s} {'':4s} {'tw-rbf':6s} {np.mean(tw - rbf):+7.3f} Kendall tau "
                      f"(TW better in {int(np.sum(tw > rbf))}/{len(tw)} seeds)")
    print(f"total wall time {time.perf_counter() - t_start:.0f} s with --jobs {args.jobs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
