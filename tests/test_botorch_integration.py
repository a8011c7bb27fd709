"""The TW kernel inside stock BoTorch: `SingleTaskGP`, `fit_gpytorch_mll`, qLogEI over a pool.

Targets are NAS-Bench-201 validation accuracies (skipped without the data directory).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.acquisition.logei import qLogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf_discrete
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy import stats

from bo_nas._surrogate import fit_tw_gp, make_tw_gp
from bo_nas.evaluators import NB201Benchmark
from bo_nas.kernels import TreeWassersteinKernel
from bo_nas.spaces import NB201Space


@pytest.fixture(scope="module")
def problem(data_dir: Path) -> dict:
    space = NB201Space()
    enc = space.encoder()
    bench = NB201Benchmark("cifar10", data_dir, hardware=False)
    archs = space.sample_many(550, np.random.default_rng(0))
    train, pool = archs[:50], archs[50:]
    y = [bench.evaluate(a).val_accuracy for a in archs]
    return {
        "enc": enc,
        "pool": pool,
        "X": torch.as_tensor(enc.encode(train)),
        "Y": torch.tensor(y[:50], dtype=torch.float64).unsqueeze(-1),
        "choices": torch.as_tensor(enc.encode(pool)),
        "y_pool": np.array(y[50:]),
    }


def _mll(gp: SingleTaskGP) -> float:
    gp.train()
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    with torch.no_grad():
        out = mll(gp(*gp.train_inputs), gp.train_targets).item()
    gp.eval()
    return out


def _check_batch(gp: SingleTaskGP, problem: dict) -> None:
    choices = problem["choices"]
    acq = qLogExpectedImprovement(gp, best_f=gp.outcome_transform(problem["Y"])[0].max())
    cand, value = optimize_acqf_discrete(acq, q=4, choices=choices)
    assert cand.shape == (4, choices.shape[-1]) and torch.isfinite(value).all()
    # Every candidate is one row of the pool, and they are 4 different cells.
    rows = [int(torch.nonzero((choices == c).all(-1)).squeeze()) for c in cand]
    cells = [problem["pool"][r] for r in rows]
    assert len(set(rows)) == 4 and len({a.key for a in cells}) == 4


def test_single_task_gp_built_directly(problem: dict) -> None:
    enc = problem["enc"]
    gp = SingleTaskGP(
        problem["X"], problem["Y"],
        covar_module=ScaleKernel(TreeWassersteinKernel(enc.block_sizes)),
        outcome_transform=Standardize(m=1),
    )
    before = _mll(gp)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    gp.eval()
    assert _mll(gp) > before
    ls = gp.covar_module.base_kernel.lengthscale
    assert ls.shape == (1, len(enc.block_sizes)) and torch.isfinite(ls).all()
    _check_batch(gp, problem)
    # The fitted surrogate ranks held-out cells far better than chance.
    with torch.no_grad():
        mean = gp.posterior(problem["choices"]).mean.squeeze(-1).numpy()
    assert stats.spearmanr(mean, problem["y_pool"]).statistic > 0.4


def test_make_tw_gp_and_fit_tw_gp(problem: dict) -> None:
    gp = fit_tw_gp(make_tw_gp(problem["X"], problem["Y"], problem["enc"].block_sizes))
    assert not gp.training
    with torch.no_grad():
        post = gp.posterior(problem["choices"][:5])
    assert post.mean.shape == (5, 1) and (post.variance > 0).all()
