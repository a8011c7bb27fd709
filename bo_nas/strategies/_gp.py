r"""Gaussian-process Bayesian optimisation over a discrete candidate pool."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from botorch.acquisition import (
    LogExpectedImprovement,
    qLogExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels import CategoricalKernel
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf_discrete
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo_nas._history import History
from bo_nas._surrogate import make_tw_gp
from bo_nas._threads import torch_threads
from bo_nas.encodings import Architecture, CategoricalEncoder, TWEncoder
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import PoolConfig, candidate_pool

logger = logging.getLogger(__name__)

Acquisition = Literal["logei", "ucb", "ts"]
Features = Literal["tw", "tw-positions", "tw-ngrams", "categorical"]

_TS_MAX_POOL = 2000
# Up to this many observations a GP is fitted with one thread (see `torch_threads`).
_SINGLE_THREAD_MAX = 1000


@dataclass(frozen=True)
class GPConfig:
    """Settings of `GPStrategy`.

    Attributes:
        acquisition: ``"logei"`` (log expected improvement, default), ``"ucb"`` or
            ``"ts"`` (Thompson sampling from the joint posterior over the pool).
        features: ``"tw-positions"`` (position-aware TW), ``"tw"`` (op histogram and
            degree blocks), ``"tw-ngrams"`` (plus op 2-grams), or ``"categorical"``
            (op index per slot with BoTorch's Hamming ``CategoricalKernel``: the
            baseline a BoTorch user would build). ``None`` picks the space's default.
        n_init: Random architectures before the first model.
        ucb_beta: Exploration weight β of UCB, :math:`\\mu + \\sqrt{\beta}\\,\\sigma`.
        pool: How candidates are generated.
    """

    acquisition: Acquisition = "logei"
    features: Features | None = None
    n_init: int = 10
    ucb_beta: float = 2.0
    pool: PoolConfig = field(default_factory=PoolConfig)

    def __post_init__(self) -> None:
        if self.acquisition not in ("logei", "ucb", "ts"):
            raise ValueError(
                f"acquisition: expected 'logei', 'ucb' or 'ts', got {self.acquisition!r}"
            )
        if self.features not in (None, "tw", "tw-positions", "tw-ngrams", "categorical"):
            raise ValueError(
                "features: expected 'tw', 'tw-positions', 'tw-ngrams' or 'categorical', "
                f"got {self.features!r}"
            )
        if not isinstance(self.n_init, int) or self.n_init < 1:
            raise ValueError(f"n_init: expected an integer >= 1, got {self.n_init!r}")
        if not (isinstance(self.ucb_beta, (int, float)) and self.ucb_beta >= 0):
            raise ValueError(f"ucb_beta: expected a number >= 0, got {self.ucb_beta!r}")
        if not isinstance(self.pool, PoolConfig):
            raise ValueError(f"pool: expected a PoolConfig, got {self.pool!r}")


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from ``rng`` (advances ``rng`` by one draw)."""
    return torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))


class GPStrategy(Strategy):
    r"""Bayesian optimisation with a GP surrogate on tree-Wasserstein features.

    Each call fits ``SingleTaskGP(covar = Scale(TW))`` on the complete trials
    (standardised validation accuracies; hyper-parameters by marginal likelihood,
    warm-started from the previous fit), builds a candidate pool (mutations of the
    incumbents plus random samples, minus everything proposed), and picks the best
    candidates by the acquisition. Pending trials enter as ``X_pending`` (log-EI, UCB),
    so batches and asynchronous proposals do not collapse onto one point; for Thompson
    sampling each pick is one joint posterior draw, excluding picks already made.

    Args:
        config: A `GPConfig`; keyword arguments build one when omitted.

    Example:
        >>> strategy = GPStrategy(acquisition="logei")
        >>> campaign = Campaign(NB201Space(), evaluator, strategy, seed=0)  # doctest: +SKIP
    """

    name = "gp-tw"

    def __init__(self, config: GPConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ValueError("pass either config or keyword settings, not both")
        if "pool" in kwargs and isinstance(kwargs["pool"], dict):
            kwargs["pool"] = PoolConfig(**kwargs["pool"])
        if config is not None and not isinstance(config, GPConfig):
            raise ValueError(f"config: expected a GPConfig, got {config!r}")
        self.config = config or GPConfig(**kwargs)
        if self.config.features == "categorical":
            self.name = "gp-hamming"
        self._features: dict[str, np.ndarray] = {}
        self._hypers: dict[str, list] | None = None

    # --- protocol -----------------------------------------------------------------------

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self._features.clear()
        features = self.config.features
        positional = space.encoder(positions=None).slots is not None
        if features is None:
            features = "tw-positions" if positional else "tw"
        if features == "categorical":
            pos = space.encoder(positions=True)
            self.encoder: TWEncoder | CategoricalEncoder = CategoricalEncoder(
                tuple(space.op_tree.leaves), pos.slots, pos.n_slots, pos.absent  # type: ignore[arg-type]
            )
        else:
            self.encoder = space.encoder(
                positions=features == "tw-positions", ngrams=features == "tw-ngrams"
            )
        self._feature_kind = features

    def get_state(self) -> dict[str, Any]:
        return {"hypers": self._hypers}

    def set_state(self, state: dict[str, Any]) -> None:
        self._hypers = state.get("hypers")

    def to_config(self) -> dict[str, Any]:
        c = self.config
        return {
            "name": self.name,
            "acquisition": c.acquisition,
            "features": c.features,
            "n_init": c.n_init,
            "ucb_beta": c.ucb_beta,
            "pool": {
                "top_k": c.pool.top_k,
                "n_random": c.pool.n_random,
                "two_step": c.pool.two_step,
                "whole_space": c.pool.whole_space,
            },
        }

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        complete = history.complete
        if len(complete) < self.config.n_init:
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        pool = candidate_pool(self.space, history, rng, self.config.pool)
        if not pool:
            return []
        gen = torch_generator(rng)
        threads = 1 if len(complete) <= _SINGLE_THREAD_MAX else torch.get_num_threads()
        with torch_threads(threads):
            model = self._fit([t.arch for t in complete], [t.value for t in complete], gen)
            X_pool = self._encode(pool)
            X_pending = (
                self._encode([t.arch for t in history.pending]) if history.pending else None
            )
            idx = self._select(model, X_pool, X_pending, min(n, len(pool)), gen)
        return [pool[i] for i in idx]

    # --- internals ----------------------------------------------------------------------

    def _encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        rows = []
        for a in archs:
            f = self._features.get(a.key)
            if f is None:
                f = self.encoder.encode_one(a)
                self._features[a.key] = f
            rows.append(f)
        return torch.as_tensor(np.stack(rows), dtype=torch.float64)

    def _build(self, X: torch.Tensor, Y: torch.Tensor) -> SingleTaskGP:
        if self._feature_kind == "categorical":
            covar = ScaleKernel(CategoricalKernel(ard_num_dims=X.shape[-1]))
            return SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
        return make_tw_gp(X, Y, self.encoder.block_sizes)

    def _fit(
        self, archs: Sequence[Architecture], values: Sequence[float], gen: torch.Generator
    ) -> SingleTaskGP:
        X = self._encode(archs)
        Y = torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
        model = self._build(X, Y)
        if self._hypers is not None:
            try:
                model.load_state_dict(
                    {k: torch.tensor(v, dtype=torch.float64) for k, v in self._hypers.items()},
                    strict=False,
                )
            except (RuntimeError, KeyError) as exc:
                logger.debug("warm start skipped: %s", exc)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        # BoTorch restarts a failed fit from prior samples drawn with torch's global
        # generator; fork it and seed from the campaign's stream so fits reproduce
        # without disturbing the caller's global state.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
            try:
                fit_gpytorch_mll(mll)
            except Exception as exc:  # a failed fit keeps the previous hyper-parameters
                logger.warning("GP fit failed (%s); keeping previous hyper-parameters", exc)
        model.eval()
        self._hypers = {
            k: v.detach().cpu().tolist()
            for k, v in model.state_dict().items()
            if "raw_" in k and "outcome_transform" not in k
        }
        return model

    def _select(
        self,
        model: SingleTaskGP,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        gen: torch.Generator,
    ) -> list[int]:
        acq_name = self.config.acquisition
        if acq_name == "ts":
            return self._thompson(model, X_pool, q, gen)
        if acq_name == "logei":
            best_f = model.train_targets.max()
            # train_targets are standardised; EI needs the incumbent in original units.
            best_f = model.outcome_transform.untransform(best_f.view(1, 1))[0].max()
            if q == 1 and X_pending is None:
                # Closed form: no Monte-Carlo noise and no sampler cost for the common case.
                acq = LogExpectedImprovement(model, best_f=best_f)
            else:
                acq = qLogExpectedImprovement(model, best_f=best_f, X_pending=X_pending)
        else:
            acq = qUpperConfidenceBound(model, beta=self.config.ucb_beta, X_pending=X_pending)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
                picks, _ = optimize_acqf_discrete(acq, q=q, choices=X_pool, unique=True)
        return _match_rows(X_pool, picks)

    def _thompson(
        self, model: SingleTaskGP, X_pool: torch.Tensor, q: int, gen: torch.Generator
    ) -> list[int]:
        with torch.no_grad():
            post = model.posterior(X_pool)
            mean = post.mean.squeeze(-1)
            std = post.variance.clamp_min(0).sqrt().squeeze(-1)
        cand = torch.arange(len(X_pool))
        if len(cand) > _TS_MAX_POOL:
            # A joint draw over thousands of points costs a cubic Cholesky; candidates far
            # below the best UCB are almost never the sample's argmax.
            cand = torch.topk(mean + 3 * std, _TS_MAX_POOL).indices
        with torch.no_grad():
            post = model.posterior(X_pool[cand])
            cov = post.mvn.covariance_matrix
            mu = post.mean.squeeze(-1)
            jitter = 1e-8 * cov.diagonal().mean().clamp_min(1e-12)
            eye = torch.eye(len(cand), dtype=cov.dtype)
            for _ in range(6):
                chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
                if int(info) == 0:
                    break
                jitter *= 10
            picks: list[int] = []
            for _ in range(q):
                z = torch.randn(len(cand), generator=gen, dtype=cov.dtype)
                draw = mu + chol @ z
                if picks:
                    draw[torch.tensor(picks)] = -math.inf
                picks.append(int(torch.argmax(draw)))
        return [int(cand[i]) for i in picks]


def _match_rows(X: torch.Tensor, rows: torch.Tensor) -> list[int]:
    """Indices in ``X`` of each row of ``rows`` (first match, each index used once)."""
    used: set[int] = set()
    out: list[int] = []
    for r in rows:
        hits = torch.nonzero((r == X).all(-1)).flatten().tolist()
        hit = next(h for h in hits if h not in used)
        used.add(hit)
        out.append(hit)
    return out
