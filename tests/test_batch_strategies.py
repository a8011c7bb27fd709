"""Batch strategies on the GP posterior: the posterior they use against BoTorch's own
conditioning, their choices on hand-made posteriors, and whole campaigns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from scipy import stats

from bo_nas._registry import strategy_from_config
from bo_nas.campaign import Campaign
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator
from bo_nas.spaces import NB201Space
from bo_nas.strategies import (
    BUCBStrategy,
    KDPPStrategy,
    KrigingBelieverStrategy,
    PoolConfig,
    ThompsonBatchStrategy,
    TopKStrategy,
)
from bo_nas.strategies._batch import (
    BATCH_STRATEGIES,
    PoolPosterior,
    believe,
    log_ei,
    pool_posterior,
)

# --- a small GP with known hyper-parameters (no fit: deterministic and fast) ------------


@pytest.fixture(scope="module")
def model() -> SingleTaskGP:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(15, 3, generator=g, dtype=torch.float64)
    Y = 70 + 6 * torch.sin(4 * X.sum(-1, keepdim=True))
    gp = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
    gp.covar_module.lengthscale = 0.4
    gp.likelihood.noise = 1e-2
    gp.eval()
    return gp


def _std(gp: SingleTaskGP) -> float:
    return float(gp.outcome_transform.stdvs.squeeze())


def _mean0(gp: SingleTaskGP) -> float:
    return float(gp.outcome_transform.means.squeeze())


def test_pool_posterior_equals_botorch_conditioning(model: SingleTaskGP) -> None:
    g = torch.Generator().manual_seed(1)
    pool = torch.rand(40, 3, generator=g, dtype=torch.float64)
    pending = torch.rand(3, 3, generator=g, dtype=torch.float64)
    pool[7] = pending[0]  # a candidate identical to a pending point
    post = pool_posterior(model, pool, pending, top_m=40, rank_by="ucb", beta=2.0)

    with torch.no_grad():
        believed = model.posterior(pending).mean
        oracle = model.condition_on_observations(pending, believed)
        o = oracle.posterior(pool)
        mu = (o.mean.squeeze(-1).numpy() - _mean0(model)) / _std(model)
        cov = o.mvn.covariance_matrix.numpy() / _std(model) ** 2
        prior_var = model.posterior(pool).variance.squeeze(-1).numpy() / _std(model) ** 2
        plain_mu = (model.posterior(pool).mean.squeeze(-1).numpy() - _mean0(model)) / _std(model)
    ucb = mu + math.sqrt(2.0) * np.sqrt(np.diag(cov))
    np.testing.assert_array_equal(post.index, np.argsort(-ucb, kind="stable"))
    idx = post.index
    np.testing.assert_allclose(post.cov, cov[np.ix_(idx, idx)], atol=1e-9)
    np.testing.assert_allclose(post.mean, mu[idx], atol=1e-9)
    # Believing the mean leaves the mean unchanged and only shrinks variances ...
    np.testing.assert_allclose(mu, plain_mu, atol=1e-9)
    assert (np.diag(cov) <= prior_var + 1e-12).all()
    # ... to the noise level at a pending point: v * s2 / (v + s2) <= s2.
    assert cov[7, 7] <= post.noise + 1e-12
    # The joint covariance is full, not its diagonal.
    off = post.cov - np.diag(np.diag(post.cov))
    assert np.abs(off).max() > 0.05 * np.diag(post.cov).max()


def test_top_m_restricts_to_best_by_log_ei(model: SingleTaskGP) -> None:
    pool = torch.rand(50, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    post = pool_posterior(model, pool, None, top_m=8, rank_by="logei", beta=2.0)
    with torch.no_grad():
        p = model.posterior(pool)
        mu = (p.mean.squeeze(-1).numpy() - _mean0(model)) / _std(model)
        sd = p.variance.sqrt().squeeze(-1).numpy() / _std(model)
    score = log_ei(mu, sd, float(model.train_targets.max()))
    assert post.cov.shape == (8, 8)
    assert set(post.index.tolist()) == set(np.argsort(-score)[:8].tolist())


def test_believe_equals_sequential_botorch_conditioning(model: SingleTaskGP) -> None:
    pool = torch.rand(12, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    post = pool_posterior(model, pool, None, top_m=12, rank_by="ucb", beta=2.0)
    picks = [4, 0, 9]
    cov = post.cov
    for j in picks:
        cov = believe(cov, j, post.noise)
    X = pool[torch.as_tensor(post.index)]
    with torch.no_grad():
        model.posterior(X[picks])
        oracle = model.condition_on_observations(X[picks], model.posterior(X[picks]).mean)
        want = oracle.posterior(X).mvn.covariance_matrix.numpy() / _std(model) ** 2
    np.testing.assert_allclose(cov, want, atol=1e-9)


def test_log_ei_against_closed_form_and_tail() -> None:
    mean = np.linspace(-6, 6, 49)
    std = np.full_like(mean, 1.3)
    z = mean / std
    direct = np.log(std * (stats.norm.pdf(z) + z * stats.norm.cdf(z)))
    np.testing.assert_allclose(log_ei(mean, std, 0.0), direct, rtol=1e-9, atol=1e-10)
    # Far tail: EI underflows, log EI ~ log phi(z) - 2 log|z| - 3/z^2 stays finite.
    zt = np.array([-40.0, -200.0])
    tail = log_ei(zt, np.ones(2), 0.0)
    approx = stats.norm.logpdf(zt) - 2 * np.log(-zt) - 3 / zt**2
    np.testing.assert_allclose(tail, approx, rtol=1e-6)
    assert log_ei(np.array([2.0, -1.0]), np.zeros(2), 0.0).tolist() == [math.log(2.0), -math.inf]


# --- choices on a hand-made posterior ----------------------------------------------------


def _twins() -> PoolPosterior:
    """Items 0 and 1 are the same point (correlation 1) and the best; 2 and 3 independent."""
    cov = np.eye(4)
    cov[0, 1] = cov[1, 0] = 1.0
    return PoolPosterior(
        index=np.arange(4), mean=np.array([1.0, 1.0, 0.5, 0.0]), cov=cov,
        noise=1e-4, best_f=0.8, beta=2.0,
    )


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_diversity_on_duplicates() -> None:
    post = _twins()
    assert TopKStrategy()._choose(post, 2, _gen()) == [0, 1]  # no diversity
    assert KrigingBelieverStrategy()._choose(post, 2, _gen()) == [0, 2]
    assert BUCBStrategy()._choose(post, 2, _gen()) == [0, 2]
    assert sorted(KDPPStrategy(map=True)._choose(post, 2, _gen())) == [0, 2]
    sampled = [sorted(KDPPStrategy()._choose(post, 2, _gen(s))) for s in range(200)]
    assert [0, 1] not in sampled  # det L_{01} is only the jitter
    for s in range(20):
        picks = ThompsonBatchStrategy()._choose(post, 3, _gen(s))
        assert len(set(picks)) == 3


def test_kdpp_quality_transforms_and_reproducibility() -> None:
    post = _twins()
    for quality in ("mean", "ucb", "ei"):
        for alpha in (0.0, 1.0, 3.0):
            s = KDPPStrategy(quality=quality, alpha=alpha)
            a, b = s._choose(post, 3, _gen(5)), s._choose(post, 3, _gen(5))
            assert a == b and len(set(a)) == 3
    # A batch as large as the pool returns all of it.
    assert sorted(KDPPStrategy()._choose(post, 4, _gen())) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="quality"):
        KDPPStrategy(quality="lcb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_m"):
        TopKStrategy(top_m=0)


# --- whole campaigns --------------------------------------------------------------------


class ConvCount(Evaluator):
    """A deterministic toy objective on NB-201 cells: convolutions help, ``none`` hurts."""

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        ops = arch.ops
        val = 60 + 5 * ops.count("nor_conv_3x3") + 2 * ops.count("nor_conv_1x1")
        val += 0.3 * (int(arch.key[:4], 16) % 7)  # breaks ties without randomness
        return EvaluationResult(val_accuracy=min(val, 100.0), test_accuracy=min(val, 100.0))

    def to_config(self) -> dict[str, Any]:
        return {"kind": "conv-count"}


_SMALL = {"n_init": 6, "pool": PoolConfig(top_k=2, n_random=40, two_step=2), "top_m": 60}


@pytest.fixture(scope="module")
def fitted() -> tuple[Any, SingleTaskGP, torch.Tensor, torch.Tensor]:
    """One TW-GP fitted by the strategy's own code on NB-201 cells, a pool, pending rows."""
    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = space.sample_many(60, rng, exclude=[])
    ev = ConvCount()
    base = KDPPStrategy(**_SMALL)  # type: ignore[arg-type]
    base.setup(space)
    model = base._fit(archs[:10], [ev(a).val_accuracy for a in archs[:10]], _gen(0))
    return base, model, base._encode(archs[13:]), base._encode(archs[10:13])


@pytest.mark.parametrize("name", sorted(BATCH_STRATEGIES))
def test_select_on_fitted_tw_gp(name: str, fitted: tuple[Any, ...]) -> None:
    base, model, X_pool, X_pending = fitted
    extra = {"mc_samples": 32} if name == "gp-qlognei" else {}
    strategy = BATCH_STRATEGIES[name](**_SMALL, **extra)
    strategy.setup(base.space)
    for pending in (None, X_pending):
        picks = strategy._select(model, X_pool, pending, 5, _gen(1))
        assert len(picks) == 5 and len(set(picks)) == 5
        assert all(0 <= i < len(X_pool) for i in picks)
        assert picks == strategy._select(model, X_pool, pending, 5, _gen(1))
    cfg = strategy.to_config()
    assert cfg["name"] == name
    assert strategy_from_config(cfg).to_config() == cfg


def test_campaign_batches() -> None:
    strategy = KrigingBelieverStrategy(**_SMALL)  # type: ignore[arg-type]
    with Campaign(NB201Space(), ConvCount(), strategy, seed=3) as c:
        # 4 + 4 random, then one model-based batch of 4 (one GP fit keeps this fast)
        history = c.run(12, batch_size=4)
    assert len(history) == 12 and len(history.complete) == 12
    assert len(history.keys) == 12  # nothing proposed twice


def test_kdpp_campaign_reproducible_and_asynchronous() -> None:
    def run(budget: int, asynchronous: bool) -> list[str]:
        s = KDPPStrategy(quality="ei", **_SMALL)  # type: ignore[arg-type]
        with Campaign(NB201Space(), ConvCount(), s, seed=11) as c:
            h = c.run(budget, batch_size=3, asynchronous=asynchronous)
            assert len(h.complete) == budget
        return [t.arch.key for t in h]

    assert run(9, False) == run(9, False)
    keys = run(8, True)  # single proposals conditioned on two pending ones
    assert len(set(keys)) == 8


def test_sequential_thompson_sampling_conditions_on_pending(model: SingleTaskGP) -> None:
    """Two candidates: an unexplored one (A, wide posterior) and a training input whose
    mean lies about one posterior sd of A above A's mean. A wins the draws where its
    spread carries it over; once A is pending its draws collapse to its mean and it no
    longer wins."""
    from bo_nas.strategies import GPStrategy

    far = torch.full((1, 3), 3.0, dtype=torch.float64)
    X = model.train_inputs[0]
    with torch.no_grad():
        post = model.posterior(far)
        target = post.mean.squeeze() + post.variance.sqrt().squeeze()
        b = int(torch.argmin((model.posterior(X).mean.squeeze(-1) - target).abs()))
    pool = torch.cat([far, X[b : b + 1]])
    strategy = GPStrategy(acquisition="ts")

    def wins(pending: torch.Tensor | None) -> int:
        return sum(strategy._select(model, pool, pending, 1, _gen(s)) == [0] for s in range(200))

    assert wins(None) >= 20
    assert wins(far) <= 2
