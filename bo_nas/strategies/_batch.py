r"""Batch selection on the GP posterior over a discrete pool.

Every strategy here is a `GPStrategy` (same encoding, fitting and candidate pool) whose
selection step picks ``q`` candidates jointly:

* ``gp-tw-kdpp`` — a quality k-DPP, :math:`L = \operatorname{diag}(q)\,\Sigma\,
  \operatorname{diag}(q)` with :math:`\Sigma` the full posterior covariance over the
  candidates, sampled exactly (or its greedy MAP with ``map=True``);
* ``gp-topk`` — the ``q`` best by the single-point acquisition (no diversity);
* ``gp-kb`` — Kriging believer: best by log-EI, then its posterior mean is believed as
  an observation (no refit) and the next is chosen, ``q`` times;
* ``gp-bucb`` — GP-BUCB: UCB with the variance updated by conditioning on the picks,
  the mean left unchanged (Desautels et al. 2014);
* ``gp-ts-batch`` — ``q`` joint posterior draws over the pool, the argmax of each,
  distinct;
* ``gp-qlognei`` — BoTorch's ``qLogNoisyExpectedImprovement`` by sequential greedy
  selection (``optimize_acqf_discrete(q=q)``).

Pending architectures (asynchronous proposals, or a batch still running) are taken into
account by conditioning the GP on them with their posterior mean believed as the value
(``condition_on_observations``). This leaves the mean unchanged and shrinks the variance
near them. For the k-DPP it is exact conditioning: with :math:`L` built on the joint
covariance, the k-DPP conditioned on containing the pending set :math:`A` has kernel
:math:`L_{\bar A} - L_{\bar A A} L_A^{-1} L_{A \bar A}`, the quality-scaled posterior
covariance given noise-free observations at :math:`A`. ``gp-qlognei`` passes them as
``X_pending`` instead.

All scoring is done in the model's standardised units (outcome transform), where the
incumbent is :math:`\max_i \tilde y_i` over the observed and believed values; the
joint covariance is computed on the ``top_m`` candidates ranked by the config's
single-point acquisition (UCB when ``acquisition`` is ``"ucb"``, else log-EI),
so pools of thousands cost one diagonal posterior plus one `top_m x top_m` covariance.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.models import SingleTaskGP
from botorch.optim import optimize_acqf_discrete
from botorch.sampling import SobolQMCNormalSampler
from scipy import special

from bo_nas.batch import KDPP, greedy_map_kdpp, quality_kernel

from ._gp import GPConfig, GPStrategy, condition_on_pending

logger = logging.getLogger(__name__)

Quality = Literal["mean", "ucb", "ei"]
_CHUNK = 4096


# --- posterior over the pool ----------------------------------------------------------


@dataclass(frozen=True)
class PoolPosterior:
    r"""Posterior over the top-`M` candidates, in standardised units, given pending.

    Attributes:
        index: `M` positions in the pool, best single-point acquisition first.
        mean: `M` posterior means :math:`\tilde\mu`.
        cov: `M x M` posterior covariance :math:`\tilde\Sigma` of the latent function.
        noise: Observation-noise variance (standardised), used when believing picks.
        best_f: Incumbent :math:`\max \tilde y` (observed and believed pending values).
        beta: UCB weight :math:`\beta` (:math:`\tilde\mu + \sqrt\beta\,\tilde\sigma`).
    """

    index: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    noise: float
    best_f: float
    beta: float

    @property
    def std(self) -> np.ndarray:
        """`M` posterior standard deviations."""
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))


def pool_posterior(
    model: SingleTaskGP,
    X_pool: torch.Tensor,
    X_pending: torch.Tensor | None,
    *,
    top_m: int,
    rank_by: Literal["logei", "ucb"],
    beta: float,
) -> PoolPosterior:
    """Rank the pool by a single-point acquisition and return the top-`M` joint posterior.

    Args:
        model: Fitted `SingleTaskGP` (eval mode) with a ``Standardize`` outcome transform
            (without one, units are taken as already standardised).
        X_pool: `N x d` candidate features.
        X_pending: `p x d` pending features or ``None``.
        top_m: `M`, how many candidates keep a joint covariance.
        rank_by: Ranking acquisition.
        beta: UCB weight.
    """
    y_mean, y_std = _standardisation(model)
    fmodel = condition_on_pending(model, X_pending)
    best_f = float(model.train_targets.max())  # train_targets are standardised
    if fmodel is not model:
        with torch.no_grad():
            believed = float(model.posterior(X_pending).mean.max())
        best_f = max(best_f, (believed - y_mean) / y_std)
    noise = float(model.likelihood.noise.detach().mean())
    with torch.no_grad():
        means, stds = [], []
        for start in range(0, len(X_pool), _CHUNK):
            post = fmodel.posterior(X_pool[start : start + _CHUNK])
            means.append(post.mean.squeeze(-1))
            stds.append(post.variance.clamp_min(0).sqrt().squeeze(-1))
        mu = ((torch.cat(means) - y_mean) / y_std).numpy()
        sd = (torch.cat(stds) / y_std).numpy()
        score = log_ei(mu, sd, best_f) if rank_by == "logei" else mu + math.sqrt(beta) * sd
        m = min(len(X_pool), top_m)
        index = np.argsort(-score, kind="stable")[:m]
        joint = fmodel.posterior(X_pool[torch.as_tensor(index)])
        mean = ((joint.mean.squeeze(-1) - y_mean) / y_std).numpy()
        cov = (joint.mvn.covariance_matrix / y_std**2).numpy()
    cov = 0.5 * (cov + cov.T)
    return PoolPosterior(index, mean, cov, noise, best_f, beta)


def _standardisation(model: SingleTaskGP) -> tuple[float, float]:
    tf = getattr(model, "outcome_transform", None)
    if tf is None or not hasattr(tf, "means"):
        return 0.0, 1.0
    return float(tf.means.squeeze()), float(tf.stdvs.squeeze())


def log_ei(mean: np.ndarray, std: np.ndarray, best_f: float) -> np.ndarray:
    r"""Log expected improvement, :math:`\log\big(\sigma\,h(z)\big)`,
    :math:`z = (\mu - f^*)/\sigma`, :math:`h(z) = \varphi(z) + z\,\Phi(z)`.

    For :math:`z < 0`, :math:`h(z) = \varphi(z)\,(1 - |z|\,R(|z|))` with the Mills ratio
    :math:`R(t) = \sqrt{\pi/2}\,\mathrm{erfcx}(t/\sqrt2)`, so the log stays finite far in
    the tail where EI itself underflows. ``std = 0`` gives ``log(max(mu - f*, 0))``.
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    out = np.empty_like(mean)
    zero = std <= 0
    with np.errstate(divide="ignore"):
        out[zero] = np.log(np.clip(mean[zero] - best_f, 0.0, None))
    s = std[~zero]
    z = (mean[~zero] - best_f) / s
    log_phi = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
    h = np.empty_like(z)
    pos = z >= 0
    zp = z[pos]
    h[pos] = np.log(np.exp(log_phi[pos]) + zp * special.ndtr(zp))
    t = -z[~pos]
    mills = math.sqrt(math.pi / 2) * special.erfcx(t / math.sqrt(2))
    h[~pos] = log_phi[~pos] + np.log1p(-np.minimum(t * mills, 1.0 - 1e-300))
    out[~zero] = np.log(s) + h
    return out


def believe(cov: np.ndarray, j: int, noise: float) -> np.ndarray:
    r"""Covariance after observing item ``j`` with noise variance ``noise`` (any value):

    :math:`\Sigma' = \Sigma - \Sigma_{:j}\Sigma_{j:} / (\Sigma_{jj} + \sigma^2)`.
    The value does not matter for the covariance; believing the mean leaves the mean
    unchanged, so this one rank-one update is the whole refit-free fantasy.
    """
    c = cov[:, j]
    return cov - np.outer(c, c) / (c[j] + noise)


# --- strategies ---------------------------------------------------------------------------


class BatchGPStrategy(GPStrategy):
    """Base of the batch strategies: the pool posterior, then `_choose`.

    Args:
        config: A `GPConfig`; keyword settings of `GPConfig` build one when omitted.
        top_m: Candidates (best by the single-point acquisition) that get a joint
            covariance; at least the batch size is always used.
    """

    name = "gp-batch"
    _extra: ClassVar[tuple[str, ...]] = ("top_m",)

    def __init__(self, config: GPConfig | None = None, *, top_m: int = 300, **kwargs: Any):
        super().__init__(config, **kwargs)
        if isinstance(top_m, bool) or not isinstance(top_m, int) or top_m < 1:
            raise ValueError(f"top_m: expected an integer >= 1, got {top_m!r}")
        self.top_m = top_m
        self.name = type(self).name  # GPStrategy renames categorical runs; keep ours

    def to_config(self) -> dict[str, Any]:
        cfg = super().to_config()
        cfg["name"] = self.name
        cfg.update({k: getattr(self, k) for k in self._extra})
        return cfg

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._extra)
        return f"{type(self).__name__}({extra})"

    def _select(
        self,
        model: SingleTaskGP,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        gen: torch.Generator,
    ) -> list[int]:
        # Thompson sampling has no single-point score of its own: rank by log-EI.
        rank_by: Literal["logei", "ucb"] = (
            "ucb" if self.config.acquisition == "ucb" else "logei"
        )
        post = pool_posterior(
            model, X_pool, X_pending, top_m=max(self.top_m, q), rank_by=rank_by,
            beta=self.config.ucb_beta,
        )
        picks = self._choose(post, q, gen)
        return [int(post.index[i]) for i in picks]

    def _choose(self, post: PoolPosterior, q: int, gen: torch.Generator) -> list[int]:
        """Positions in ``post.index`` of the batch (distinct, ``q`` of them)."""
        raise NotImplementedError


class TopKStrategy(BatchGPStrategy):
    """The ``q`` best candidates by the single-point acquisition (given pending)."""

    name = "gp-topk"

    def _choose(self, post: PoolPosterior, q: int, gen: torch.Generator) -> list[int]:
        return list(range(q))


class KrigingBelieverStrategy(BatchGPStrategy):
    r"""Kriging believer: argmax log-EI, believe :math:`y_j = \tilde\mu_j`, repeat.

    Believing the mean keeps every posterior mean, shrinks the covariance by `believe`
    and raises the incumbent to :math:`\max(f^*, \tilde\mu_j)`.
    """

    name = "gp-kb"

    def _choose(self, post: PoolPosterior, q: int, gen: torch.Generator) -> list[int]:
        cov, best = post.cov.copy(), post.best_f
        picks: list[int] = []
        for _ in range(q):
            score = log_ei(post.mean, np.sqrt(np.clip(np.diag(cov), 0.0, None)), best)
            score[picks] = -np.inf
            j = int(np.argmax(score))
            picks.append(j)
            best = max(best, float(post.mean[j]))
            cov = believe(cov, j, post.noise)
        return picks


class BUCBStrategy(BatchGPStrategy):
    r"""GP-BUCB: argmax :math:`\tilde\mu + \sqrt\beta\,\tilde\sigma_{t}` where
    :math:`\tilde\sigma_t` is conditioned on the picks so far (mean unchanged)."""

    name = "gp-bucb"

    def _choose(self, post: PoolPosterior, q: int, gen: torch.Generator) -> list[int]:
        cov = post.cov.copy()
        picks: list[int] = []
        for _ in range(q):
            score = post.mean + math.sqrt(post.beta) * np.sqrt(np.clip(np.diag(cov), 0, None))
            score[picks] = -np.inf
            j = int(np.argmax(score))
            picks.append(j)
            cov = believe(cov, j, post.noise)
        return picks


class ThompsonBatchStrategy(BatchGPStrategy):
    """``q`` joint posterior draws over the top-`M` candidates; the argmax of each draw
    among the candidates not yet picked."""

    name = "gp-ts-batch"

    def _choose(self, post: PoolPosterior, q: int, gen: torch.Generator) -> list[int]:
        cov = torch.as_tensor(post.cov)
        eye = torch.eye(len(cov), dtype=cov.dtype)
        jitter = 1e-8 * max(float(cov.diagonal().mean()), 1e-12)
        for _ in range(8):  # near-duplicate candidates make the covariance singular
            chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
            if int(info) == 0:
                break
            jitter *= 10
        mu = torch.as_tensor(post.mean)
        picks: list[int] = []
        for _ in range(q):
            draw = mu + chol @ torch.randn(len(mu), generator=gen, dtype=cov.dtype)
            if picks:
                draw[torch.tensor(picks)] = -math.inf
            picks.append(int(torch.argmax(draw)))
        return picks


class QLogNEIStrategy(BatchGPStrategy):
    """BoTorch's ``qLogNoisyExpectedImprovement`` with sequential greedy selection over
    the top-`M` candidates; pending points enter as ``X_pending``.

    Args:
        mc_samples: Quasi-Monte-Carlo samples of the acquisition.
    """

    name = "gp-qlognei"
    _extra = ("top_m", "mc_samples")

    def __init__(
        self, config: GPConfig | None = None, *, top_m: int = 300, mc_samples: int = 128,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, top_m=top_m, **kwargs)
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, int) or mc_samples < 1:
            raise ValueError(f"mc_samples: expected an integer >= 1, got {mc_samples!r}")
        self.mc_samples = mc_samples

    def _select(
        self,
        model: SingleTaskGP,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        gen: torch.Generator,
    ) -> list[int]:
        post = pool_posterior(
            model, X_pool, X_pending, top_m=max(self.top_m, q), rank_by="logei",
            beta=self.config.ucb_beta,
        )
        choices = X_pool[torch.as_tensor(post.index)]
        seed = int(torch.randint(2**62, (1,), generator=gen))
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=seed)
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            warnings.simplefilter("ignore")
            torch.manual_seed(seed)  # baseline pruning draws from the global generator
            acq = qLogNoisyExpectedImprovement(
                model, X_baseline=model.train_inputs[0], sampler=sampler, X_pending=X_pending
            )
            picks, _ = optimize_acqf_discrete(acq, q=q, choices=choices, unique=True)
        out: list[int] = []
        used: set[int] = set()
        for row in picks:  # map rows back; identical feature rows are used once each
            hits = torch.nonzero((choices == row).all(-1)).flatten().tolist()
            hit = next(h for h in hits if h not in used)
            used.add(hit)
            out.append(int(post.index[hit]))
        return out


@dataclass(frozen=True)
class QualitySpec:
    r"""The quality :math:`q_i` of a quality k-DPP, as :math:`\log q_i`.

    * ``"mean"``: :math:`\alpha\,\tilde\mu_i` (exp of the standardised mean);
    * ``"ucb"``: :math:`\alpha\,(\tilde\mu_i + \sqrt\beta\,\tilde\sigma_i)`;
    * ``"ei"``: :math:`\alpha \log \mathrm{EI}_i` (:math:`q = \mathrm{EI}^\alpha`).

    All are monotone in the mean; ``alpha`` trades quality against diversity (large
    ``alpha`` tends to top-k, ``alpha = 0`` to a pure diversity DPP on :math:`\Sigma`).
    """

    kind: Quality = "mean"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("mean", "ucb", "ei"):
            raise ValueError(f"quality: expected 'mean', 'ucb' or 'ei', got {self.kind!r}")
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha)
                and self.alpha >= 0):
            raise ValueError(f"alpha: expected a finite number >= 0, got {self.alpha!r}")

    def log_quality(self, post: PoolPosterior) -> np.ndarray:
        if self.kind == "mean":
            return self.alpha * post.mean
        if self.kind == "ucb":
            return self.alpha * (post.mean + math.sqrt(post.beta) * post.std)
        return self.alpha * log_ei(post.mean, post.std, post.best_f)


class KDPPStrategy(BatchGPStrategy):
    r"""Batch by a quality k-DPP on the posterior: :math:`P(S) \propto \det L_S`,
    :math:`L = \operatorname{diag}(q)\,\tilde\Sigma\,\operatorname{diag}(q)`, sampled
    exactly (`bo_nas.batch.KDPP.sample`) or, with ``map=True``, its greedy MAP.

    Args:
        quality: ``"mean"``, ``"ucb"`` or ``"ei"`` (see `QualitySpec`).
        alpha: Quality exponent :math:`\alpha`. The default 3 is what an NB-201 study
            favoured (B = 10, 150 evaluations: with :math:`\alpha = 1` the batches leaned
            so far towards diversity that no trial on CIFAR-100 found the optimum, against
            4/5 with :math:`\alpha = 3`; ``benchmarks/bench_batch.py``).
        map: Greedy MAP instead of sampling (deterministic given the model).
        jitter: Relative diagonal jitter on :math:`\tilde\Sigma`.
        top_m: Candidates in the DPP (the best by the single-point acquisition).

    With one proposal at a time (asynchronous campaigns) this picks item :math:`i` with
    probability :math:`\propto q_i^2 \tilde\sigma_i^2` given the pending ones.
    """

    name = "gp-tw-kdpp"
    _extra = ("top_m", "quality", "alpha", "map", "jitter")

    def __init__(
        self,
        config: GPConfig | None = None,
        *,
        quality: Quality = "mean",
        alpha: float = 3.0,
        map: bool = False,
        jitter: float = 1e-6,
        top_m: int = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, top_m=top_m, **kwargs)
        self._quality = QualitySpec(quality, alpha)
        if not isinstance(map, bool):
            raise ValueError(f"map: expected a bool, got {map!r}")
        if not (isinstance(jitter, (int, float)) and jitter >= 0):
            raise ValueError(f"jitter: expected a number >= 0, got {jitter!r}")
        self.quality, self.alpha, self.map, self.jitter = quality, alpha, map, jitter

    def _choose(self, post: PoolPosterior, q: int, gen: torch.Generator) -> list[int]:
        logq = self._quality.log_quality(post)
        L = quality_kernel(post.cov, logq, jitter=self.jitter)
        if self.map:
            return greedy_map_kdpp(L, q, quality=logq).tolist()
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
        return KDPP.from_kernel(L, quality=logq).sample(q, rng).tolist()


BATCH_STRATEGIES: dict[str, type[BatchGPStrategy]] = {
    cls.name: cls
    for cls in (
        KDPPStrategy,
        TopKStrategy,
        KrigingBelieverStrategy,
        BUCBStrategy,
        ThompsonBatchStrategy,
        QLogNEIStrategy,
    )
}
