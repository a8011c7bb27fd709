r"""The quality k-DPP batch rule on the GP posterior."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.models.model import Model

from bo_nas._settings import check_int, check_number
from bo_nas.batch import KDPP, greedy_map_kdpp, quality_kernel

from ._base import SelectionRule
from ._pool import acquisition_values, condition_on_pending, incumbent, screen, seed_from

#: The fields of a stored `QualityKDPP` before ``rank``, ``kernel`` and ``pending``.
_OLD_FIELDS = frozenset({"quality", "alpha", "map", "jitter", "top_m", "beta"})


@dataclass(frozen=True)
class QualityKDPP(SelectionRule):
    r"""A batch drawn from a quality k-DPP: :math:`P(S) \propto \det L_S` with
    :math:`L = \operatorname{diag}(q)\,\tilde\Sigma\,\operatorname{diag}(q)`, where
    :math:`\tilde\Sigma` is the GP's prior kernel (``kernel="prior"``, the default) or
    the full posterior covariance of the latent function (``"posterior"``) over the
    ``top_m`` candidates (best by log-EI), in standardised units, each given the pending
    points (the prior kernel conditioned on them as noise-free observations). Sampled
    exactly (`bo_nas.batch.KDPP.sample`) or, with ``map=True``, its greedy MAP.

    Conditioning on the pending set :math:`A` (believed at its mean) is exact: the k-DPP
    conditioned on containing :math:`A` has kernel
    :math:`L_{\bar A} - L_{\bar A A} L_A^{-1} L_{A \bar A}`, the quality-scaled
    covariance given noise-free observations at :math:`A`.

    Args:
        quality: :math:`\log q_i` is :math:`\alpha\,\tilde\mu_i` (``"mean"``),
            :math:`\alpha\,(\tilde\mu_i + \sqrt\beta\,\tilde\sigma_i)` (``"ucb"``),
            :math:`\alpha \log \mathrm{EI}_i` (``"ei"``) or :math:`\alpha\,\tilde f_i` for
            one joint posterior draw :math:`\tilde f` over the candidates (``"sample"``:
            Thompson sampling's exploration inside the DPP). Large :math:`\alpha` tends
            to top-k, :math:`\alpha = 0` to a pure diversity DPP.
        alpha: Quality exponent. The default 5 (with ``top_m=100``) is what an NB-201
            study on tuning seeds favoured (B = 10, seeds 0–19, the prior kernel): at 100
            evaluations 20/20 trials at the optimum on CIFAR-100 and 19/20 on CIFAR-10,
            against 15/20 and 12/20 with :math:`\alpha = 3` over 300 candidates (with
            :math:`\alpha = 1` the batches lean too far towards diversity).
        map: Greedy MAP instead of sampling (deterministic given the model).
        jitter: Relative diagonal jitter on :math:`\tilde\Sigma`.
        top_m: Candidates in the DPP (100 by default: with 300 or the whole pool, the
            DPP spends more of each batch on candidates that are diverse but poor).
        beta: UCB weight of ``quality="ucb"``.
        rank: How the ``top_m`` candidates are chosen from the pool: by log-EI
            (``"logei"``), by UCB :math:`\mu + 3\sigma` (``"ucb"``), or by one posterior
            draw over the pool (``"sample"``).
        kernel: The DPP's similarity: the GP's prior kernel on the candidates
            (``"prior"``, the default) or the posterior covariance (``"posterior"``, the
            default before). With the posterior, candidates near the data look alike
            (little variance left), so the batch spreads to where the model is unsure
            and spends evaluations there; the prior kernel keeps the diversity about the
            architectures themselves. On NB-201 (B = 10, tuning seeds 0–19) it found the
            optimum in 20/20 (CIFAR-10) and 19/20 (CIFAR-100) trials at 150 evaluations,
            against 10/20 and 17/20.
        pending: Pending points conditioned on at their posterior mean (``"mean"``) or
            at one draw of the posterior there (``"sample"``: fantasies).
        alpha_start: With a value, :math:`\alpha` follows a schedule over the number
            :math:`n` of observations the model holds: more diversity early, more
            quality late, :math:`\alpha_n = \alpha_0 + (\alpha - \alpha_0)
            \min(n / n_r, 1)` with :math:`\alpha_0` = ``alpha_start`` and :math:`n_r` =
            ``alpha_ramp``. ``None`` (the default) keeps :math:`\alpha` fixed.
        alpha_ramp: :math:`n_r`, the observations at which the schedule reaches
            ``alpha``.

    With one pick at a time (asynchronous campaigns) item :math:`i` is picked with
    probability :math:`\propto q_i^2 \tilde\sigma_i^2` given the pending ones.
    """

    rule = "kdpp"
    preset = "gp-tw-kdpp"

    quality: Literal["mean", "ucb", "ei"] = "mean"
    alpha: float = 5.0
    map: bool = False
    jitter: float = 1e-6
    top_m: int = 100
    beta: float = 2.0
    rank: Literal["logei", "ucb", "sample"] = "logei"
    kernel: Literal["posterior", "prior"] = "prior"
    pending: Literal["mean", "sample"] = "mean"
    alpha_start: float | None = None
    alpha_ramp: int = 100

    @classmethod
    def stored_defaults(cls, settings: dict[str, Any]) -> dict[str, Any]:
        # A complete configuration stored before `kernel` existed ran on the posterior.
        if settings.keys() >= _OLD_FIELDS and "kernel" not in settings:
            return {**settings, "kernel": "posterior"}
        return settings

    def __post_init__(self) -> None:
        if self.quality not in ("mean", "ucb", "ei", "sample"):
            raise ValueError(
                f"quality: expected 'mean', 'ucb', 'ei' or 'sample', got {self.quality!r}"
            )
        for name, allowed in (("rank", ("logei", "ucb", "sample")),
                              ("kernel", ("posterior", "prior")),
                              ("pending", ("mean", "sample"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got "
                                 f"{getattr(self, name)!r}")
        check_number("alpha", self.alpha)
        if not isinstance(self.map, bool):
            raise ValueError(f"map: expected true or false, got {self.map!r}")
        check_number("jitter", self.jitter)
        check_int("top_m", self.top_m)
        check_number("beta", self.beta)
        if self.alpha_start is not None:
            check_number("alpha_start", self.alpha_start)
        check_int("alpha_ramp", self.alpha_ramp)

    def alpha_at(self, n: int) -> float:
        """The quality exponent with ``n`` observations (the schedule of ``alpha_start``)."""
        if self.alpha_start is None:
            return self.alpha
        return self.alpha_start + (self.alpha - self.alpha_start) * min(n / self.alpha_ramp, 1.0)

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        rng = np.random.default_rng(seed_from(generator))
        fantasy = (_sampled_fantasy(model, X_pending, rng) if self.pending == "sample"
                   else condition_on_pending(model, X_pending))
        cand = self._candidates(model, fantasy, X_pool, X_pending, max(self.top_m, q), rng)
        X = X_pool[cand]
        with torch.no_grad():
            latent = fantasy(X)  # the GP's own (standardised) units
            mean = latent.mean.numpy()
            cov = latent.covariance_matrix.numpy()
        alpha = self.alpha_at(_observations(model))
        if self.quality == "mean":
            logq = alpha * mean
        elif self.quality == "ucb":
            std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            logq = alpha * (mean + math.sqrt(self.beta) * std)
        elif self.quality == "sample":
            logq = alpha * _draw(mean, cov, rng)
        else:
            # Output units differ from standardised ones by a factor on EI, which scales
            # every quality alike: a k-DPP does not see it.
            acq = LogExpectedImprovement(fantasy, best_f=incumbent(model, X_pending))
            logq = alpha * acquisition_values(acq, X).numpy()
        if self.kernel == "prior":
            cov = _prior_given_pending(model, X, X_pending, self.jitter)
        L = quality_kernel(cov, logq, jitter=self.jitter)
        if self.map:
            picks = greedy_map_kdpp(L, q, quality=logq)
        else:
            picks = KDPP.from_kernel(L, quality=logq).sample(q, rng)
        return [int(cand[i]) for i in picks]

    def _candidates(
        self,
        model: Model,
        fantasy: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        m: int,
        rng: np.random.Generator,
    ) -> torch.Tensor:
        if len(X_pool) <= m or self.rank == "logei":
            return screen(model, X_pool, X_pending, m)
        with torch.no_grad():
            post = fantasy(X_pool)
            if self.rank == "ucb":
                score = post.mean + 3.0 * post.variance.clamp_min(0).sqrt()
            else:
                score = torch.as_tensor(_draw(post.mean.numpy(),
                                              post.covariance_matrix.numpy(), rng))
        return torch.topk(score, m).indices


def _observations(model: Model) -> int:
    """The number of observations a `SingleTaskGP`-like model was fitted on."""
    inputs = getattr(model, "train_inputs", None)
    return int(inputs[0].shape[-2]) if inputs else 0


def _prior_given_pending(
    model: Model, X: torch.Tensor, X_pending: torch.Tensor | None, jitter: float
) -> np.ndarray:
    r"""The GP's prior kernel on ``X``, conditioned on containing the pending set
    :math:`A` when there is one: :math:`K_{XX} - K_{XA} K_{AA}^{-1} K_{AX}`, the k-DPP
    conditioned on :math:`A` (so a batch stays apart from what is already running)."""
    with torch.no_grad():
        if X_pending is None or len(X_pending) == 0:
            return model.covar_module(X).to_dense().numpy()
        K = model.covar_module(torch.cat([X, X_pending])).to_dense().numpy()
    n = len(X)
    K_xx, K_xa, K_aa = K[:n, :n], K[:n, n:], K[n:, n:]
    K_aa = K_aa + jitter * max(float(np.mean(np.diag(K_aa))), 1e-12) * np.eye(len(K_aa))
    return K_xx - K_xa @ np.linalg.solve(K_aa, K_xa.T)


def _draw(mean: np.ndarray, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of N(mean, cov), through an eigendecomposition: posterior covariances of
    near-duplicate candidates are singular, where a Cholesky factor fails."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return mean + v @ (np.sqrt(np.clip(w, 0.0, None)) * rng.standard_normal(len(mean)))


def _sampled_fantasy(
    model: Model, X_pending: torch.Tensor | None, rng: np.random.Generator
) -> Model:
    """``model`` conditioned on one joint posterior draw at the pending points."""
    if X_pending is None or len(X_pending) == 0:
        return model
    with torch.no_grad():
        post = model.posterior(X_pending)
        mean = post.mean.squeeze(-1).numpy()
        cov = post.distribution.covariance_matrix.numpy()
        y = torch.as_tensor(_draw(mean, cov, rng), dtype=X_pending.dtype).unsqueeze(-1)
        return model.condition_on_observations(X_pending, y)
