r"""Gaussian-process Bayesian optimisation over a discrete candidate pool."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
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
from gpytorch.utils.warnings import NumericalWarning

from bo_nas._history import History
from bo_nas._surrogate import make_tw_gp
from bo_nas._threads import torch_threads
from bo_nas.encodings import Architecture, CategoricalEncoder, TWEncoder
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import PoolConfig, as_pool_config, candidate_pool

logger = logging.getLogger(__name__)

Acquisition = Literal["logei", "ucb", "ts"]
Target = Literal["log-error", "accuracy"]
Features = Literal["tw", "tw-positions", "tw-ngrams", "categorical"]

_TS_MAX_POOL = 2000
# Up to this many observations a GP is fitted with one thread (see `torch_threads`).
_SINGLE_THREAD_MAX = 1000
# Hyper-parameters are fitted on at most this many observations (a random subset drawn
# from the campaign's stream), then the GP conditions on all of them. A handful of
# hyper-parameters is well determined by hundreds of points, while each likelihood
# step on n points costs O(n^2 d) for the kernel and O(n^3) for the solve: on 5,000
# points a fit would take minutes.
_FIT_MAX = 300
# Noise floors tried, relative to the prior variance, when the training covariance is
# not numerically positive definite.
_JITTERS = (1e-6, 1e-4, 1e-2)


@dataclass(frozen=True)
class GPConfig:
    r"""Settings of `GPStrategy`.

    Attributes:
        acquisition: ``"ts"`` (Thompson sampling, default): the argmax over the pool
            of one draw :math:`f \sim p(f \mid \mathcal{D})` from the joint posterior;
            ``"logei"``: log expected improvement,
            :math:`\log \mathbb{E}[\max(f(x) - y^*, 0)]`; ``"ucb"``:
            :math:`\mu + \sqrt{\beta}\,\sigma`. On NB-201 CIFAR-10 log-EI settles in a
            local basin in one trial in five (its exploration of unseen regions vanishes
            once the fitted mean sits far below the incumbent), while a joint draw keeps
            sampling them; on CIFAR-100 both find the optimum.
        features: ``"tw-positions"`` (position-aware TW), ``"tw"`` (op histogram and
            degree blocks), ``"tw-ngrams"`` (plus op 2-grams), or ``"categorical"``
            (op index per slot with BoTorch's Hamming ``CategoricalKernel``: the
            baseline a BoTorch user would build). ``None`` picks the space's default.
        n_init: Random architectures before the first model.
        ucb_beta: Exploration weight β of UCB, :math:`\mu + \sqrt{\beta}\,\sigma`.
        target: What the GP models: ``"log-error"`` (default),
            :math:`y = -\log(100.1 - \mathrm{acc})`, or ``"accuracy"`` (the validation
            accuracy itself). Both rank architectures alike; on the log scale the few
            broken cells (10 % accuracy) no longer dominate the standardised targets, so
            the differences among good cells are not fitted away as noise.
        pool: How candidates are generated.
    """

    acquisition: Acquisition = "ts"
    features: Features | None = None
    n_init: int = 10
    ucb_beta: float = 2.0
    target: Target = "log-error"
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
        if self.target not in ("log-error", "accuracy"):
            raise ValueError(f"target: expected 'log-error' or 'accuracy', got {self.target!r}")


def _warp(accuracy: float, target: Target) -> float:
    """The modelled value of a validation accuracy (%); monotone increasing."""
    if target == "accuracy":
        return accuracy
    return -math.log(100.1 - min(accuracy, 100.0))


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
    sampling (the default) the GP is conditioned on its own mean at the pending points
    (variance shrinks there, the mean stays) and each pick is one joint posterior draw,
    excluding picks already made.

    Args:
        config: A `GPConfig`; keyword arguments build one when omitted.

    Example:
        >>> strategy = GPStrategy()                     # Thompson sampling
        >>> strategy = GPStrategy(acquisition="logei")  # log expected improvement
        >>> campaign = Campaign(NB201Space(), evaluator, strategy, seed=0)  # doctest: +SKIP
    """

    name = "gp-tw"

    def __init__(self, config: GPConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ValueError("pass either config or keyword settings, not both")
        if "pool" in kwargs:
            kwargs["pool"] = as_pool_config(kwargs["pool"])
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
            "target": c.target,
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
            values = [_warp(t.value, self.config.target) for t in complete]
            model = self._fit([t.arch for t in complete], values, gen)
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
        r"""Fit the GP's hyper-parameters by marginal likelihood; never raises.

        Warm-starts from the previous fit. With more than ``_FIT_MAX`` observations the
        hyper-parameters are fitted on a random subset (drawn from ``gen``) and the
        returned GP conditions on all observations. Whatever the data (duplicate
        inputs, constant targets, a single point, extreme hyper-parameters), the
        returned model has a usable posterior: when the training covariance
        :math:`K + \sigma^2 I` cannot be factorised, the noise floor is raised step by
        step (jitter :math:`\sigma^2 \ge j \cdot \mathrm{mean\,diag}\,K` for
        :math:`j \in` ``_JITTERS``), then the previous hyper-parameters are restored,
        then the defaults; each step is logged as a warning.
        """
        X = self._encode(archs)
        Y = torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
        previous = _finite_state(self._hypers)
        model = self._build(X, Y)
        _load_hypers(model, previous)
        # BoTorch restarts a failed fit from prior samples drawn with torch's global
        # generator; fork it and seed from the campaign's stream so fits reproduce
        # without disturbing the caller's global state.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
            target = model
            if len(X) > _FIT_MAX:
                idx = torch.randperm(len(X), generator=gen)[:_FIT_MAX].sort().values
                target = self._build(X[idx], Y[idx])
                _load_hypers(target, previous)
            try:
                # At most _FIT_MAX points: one thread is fastest (see `torch_threads`).
                with torch_threads(1 if len(target.train_targets) <= _SINGLE_THREAD_MAX
                                   else torch.get_num_threads()):
                    fit_gpytorch_mll(ExactMarginalLogLikelihood(target.likelihood, target))
            except Exception as exc:  # a failed fit keeps the previous hyper-parameters
                logger.warning("GP fit failed (%s); keeping previous hyper-parameters", exc)
                _load_hypers(target, previous)
            if target is not model:
                _load_hypers(model, _hypers_of(target))
            model.eval()
            model = _ensure_usable(model, previous, lambda: self._build(X, Y))
        self._hypers = _hypers_of(model)
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
            return self._thompson(condition_on_pending(model, X_pending), X_pool, q, gen)
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


def condition_on_pending(model: SingleTaskGP, X_pending: torch.Tensor | None) -> SingleTaskGP:
    """The model conditioned on believing its posterior mean at ``X_pending`` (no refit).

    Args:
        model: A fitted model in eval mode.
        X_pending: `p x d` features, or ``None``.

    Returns:
        ``model`` itself when nothing is pending, else a fantasy model whose mean equals
        ``model``'s everywhere and whose variance is reduced near the pending points.
    """
    if X_pending is None or len(X_pending) == 0:
        return model
    with torch.no_grad():
        believed = model.posterior(X_pending).mean  # also fills the prediction cache
        return model.condition_on_observations(X_pending, believed)


def _hypers_of(model: SingleTaskGP) -> dict[str, Any]:
    """The fitted (raw) hyper-parameters, JSON-compatible; outcome transform excluded."""
    return {
        k: v.detach().cpu().tolist()
        for k, v in model.named_parameters()
        if "outcome_transform" not in k
    }


def _finite_state(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """``state`` when every value is finite, else ``None`` (a diverged fit is no start)."""
    if not state:
        return None
    try:
        ok = all(bool(torch.isfinite(torch.as_tensor(v, dtype=torch.float64)).all())
                 for v in state.values())
    except (TypeError, ValueError, RuntimeError):
        ok = False
    if not ok:
        logger.warning("stored GP hyper-parameters are not finite; starting from defaults")
    return state if ok else None


def _load_hypers(model: SingleTaskGP, state: dict[str, Any] | None) -> bool:
    """Load raw hyper-parameters saved by `_hypers_of`; ``False`` if they do not fit."""
    if not state:
        return False
    try:
        model.load_state_dict(
            {k: torch.tensor(v, dtype=torch.float64) for k, v in state.items()}, strict=False
        )
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        logger.debug("warm start skipped: %s", exc)
        return False
    return True


def _usable(model: SingleTaskGP) -> bool:
    """Whether the posterior can be computed: the training covariance factorises (GPyTorch
    adds up to 1e-6 of jitter itself before it gives up) and the predictions at a few
    training inputs are finite. Builds the model's prediction caches (the one Cholesky
    factorisation of the training covariance), which the acquisition then reuses."""
    X = model.train_inputs[0]
    Y = model.outcome_transform.untransform(model.train_targets.view(-1, 1))[0]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # GPyTorch's warnings that it clamped negative variances or added jitter
            # mean the factorisation is dominated by round-off: treat them as failures.
            warnings.simplefilter("error", NumericalWarning)
            post = model.posterior(X[: min(len(X), 8)])
            mean, var = post.mean, post.variance
    except (RuntimeError, ValueError, NumericalWarning) as exc:  # NotPSDError: RuntimeError
        logger.debug("GP posterior failed: %s", exc)
        return False
    if not (torch.isfinite(mean).all() and torch.isfinite(var).all()):
        return False
    # At training inputs the posterior mean stays near the data; far outside it the
    # solve has amplified round-off (a near-singular covariance that still factorised).
    spread = float(Y.max() - Y.min()) + float(Y.abs().max()) * 1e-3 + 1e-9
    return bool(((mean >= Y.min() - 10 * spread) & (mean <= Y.max() + 10 * spread)).all())


def _ensure_usable(
    model: SingleTaskGP,
    previous: dict[str, Any] | None,
    rebuild: Callable[[], SingleTaskGP],
) -> SingleTaskGP:
    """Return ``model`` or a repaired GP on the same data whose posterior is usable.

    Escalation: raise the noise floor (jitter) through ``_JITTERS`` relative to the
    mean prior variance; then restore the ``previous`` hyper-parameters; then the
    defaults of ``rebuild()`` with the largest jitter. Each step is logged.
    """
    if _usable(model):
        return model
    candidates: list[tuple[str, SingleTaskGP]] = [("fitted", model)]
    if previous is not None:
        restored = rebuild()
        if _load_hypers(restored, previous):
            candidates.append(("previous", restored))
    candidates.append(("default", rebuild()))
    for label, m in candidates:
        m.eval()
        if label != "fitted" and _usable(m):
            logger.warning(
                "GP covariance not positive definite; fell back to the %s hyper-parameters",
                label,
            )
            return m
        with torch.no_grad():
            scale = m.covar_module(m.train_inputs[0][:1]).to_dense().mean().abs()
            scale = float(scale) if torch.isfinite(scale) and scale > 0 else 1.0
        for j in _JITTERS:
            floor = j * scale
            with torch.no_grad():
                m.likelihood.noise = torch.clamp_min(m.likelihood.noise, floor)
            m.train()  # drops the prediction caches built with the old noise
            m.eval()
            if _usable(m):
                logger.warning(
                    "GP covariance not positive definite with the %s hyper-parameters; "
                    "raised the noise floor to %.1e (jitter)",
                    label,
                    floor,
                )
                return m
        logger.warning(
            "GP covariance not positive definite with the %s hyper-parameters even with "
            "jitter %.0e",
            label,
            _JITTERS[-1],
        )
    logger.warning("GP posterior unusable; proceeding with default hyper-parameters")
    return candidates[-1][1]


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
