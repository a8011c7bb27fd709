r"""Gaussian-process Bayesian optimisation over a discrete candidate pool."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from botorch.models import SingleTaskGP

from bo_nas._history import History
from bo_nas._random import torch_generator
from bo_nas._settings import check_int
from bo_nas._surrogate import (
    fit_tw_gp,
    gp_hyperparameters,
    make_categorical_gp,
    make_tw_gp,
)
from bo_nas._threads import torch_threads
from bo_nas.encodings import Architecture, CategoricalEncoder, TWEncoder
from bo_nas.selection import SelectionRule, ThompsonSampling
from bo_nas.spaces import SearchSpace
from bo_nas.zero_cost._combine import rank_score

from ._base import Strategy
from ._pool import PoolConfig, candidate_pool
from ._prior import ZeroCostPrior, filter_pool, prior_design

logger = logging.getLogger(__name__)

Target = Literal["log-error", "accuracy"]
Features = Literal["tw", "tw-positions", "tw-ngrams", "categorical"]

# Up to this many observations the whole proposal runs with one thread (see
# `torch_threads`).
_SINGLE_THREAD_MAX = 1000


@dataclass(frozen=True)
class GPSettings:
    r"""Settings of `GPStrategy`.

    Attributes:
        selector: The selection rule (`bo_nas.selection`): `ThompsonSampling` by
            default; `LogEI`, `UCB`, `TopK`, `KrigingBeliever`, `BUCB`, `QLogNEI`,
            `QualityKDPP`, or a rule of your own.
        features: ``"tw-positions"`` (position-aware TW), ``"tw"`` (op histogram and
            degree blocks), ``"tw-ngrams"`` (plus op 2-grams), or ``"categorical"``
            (op index per slot with BoTorch's Hamming ``CategoricalKernel``: the
            baseline a BoTorch user would build). ``None`` picks the space's default.
        n_init: Random architectures before the first model.
        target: What the GP models: ``"log-error"`` (default),
            :math:`y = -\log(100.1 - \mathrm{acc})`, or ``"accuracy"`` (the validation
            accuracy itself). Both rank architectures alike; on the log scale the few
            broken cells (10 % accuracy) no longer dominate the standardised targets, so
            the differences among good cells are not fitted away as noise.
        pool: How candidates are generated.
        prior: How zero-cost scores are used when the campaign has them
            (`ZeroCostPrior`: an initial design by score and a prior mean linear in the
            score, by default); ``None`` (``false`` in TOML and on the command line)
            ignores them.
    """

    selector: SelectionRule = field(default_factory=ThompsonSampling)
    features: Features | None = None
    n_init: int = 10
    target: Target = "log-error"
    pool: PoolConfig = field(default_factory=PoolConfig)
    prior: ZeroCostPrior | None = field(default_factory=ZeroCostPrior)

    def __post_init__(self) -> None:
        if not isinstance(self.selector, SelectionRule):
            raise ValueError(f"selector: expected a SelectionRule, got {self.selector!r}")
        if self.features not in (None, "tw", "tw-positions", "tw-ngrams", "categorical"):
            raise ValueError(
                "features: expected 'tw', 'tw-positions', 'tw-ngrams' or 'categorical', "
                f"got {self.features!r}"
            )
        check_int("n_init", self.n_init)
        if not isinstance(self.pool, PoolConfig):
            raise ValueError(f"pool: expected a PoolConfig, got {self.pool!r}")
        if isinstance(self.prior, bool):
            # TOML and the command line have no null: ``prior = false`` turns it off.
            object.__setattr__(self, "prior", ZeroCostPrior() if self.prior else None)
        if self.prior is not None and not isinstance(self.prior, ZeroCostPrior):
            raise ValueError(
                f"prior: expected a ZeroCostPrior, None, true or false, got {self.prior!r}"
            )
        if self.target not in ("log-error", "accuracy"):
            raise ValueError(f"target: expected 'log-error' or 'accuracy', got {self.target!r}")


def _warp(accuracy: float, target: Target) -> float:
    """The modelled value of a validation accuracy (%); monotone increasing."""
    if target == "accuracy":
        return accuracy
    return -math.log(100.1 - min(accuracy, 100.0))


class GPStrategy(Strategy):
    r"""Bayesian optimisation with a GP surrogate on tree-Wasserstein features.

    Each proposal fits ``SingleTaskGP(covar = Scale(TW))`` on the complete trials with
    `fit_tw_gp` (warm-started from the previous fit), builds a candidate pool (mutations
    of the incumbents plus random samples, minus everything proposed) and hands the
    fitted model, the pool and the pending trials to the selection rule.

    Args:
        settings: A `GPSettings`; keyword arguments (its fields) build one when omitted.
        name: The name shown in stores and tables; by default the rule's preset
            (``gp-tw`` for Thompson sampling, ``gp-tw-kdpp`` for the k-DPP, ...).

    Example:
        >>> from bo_nas.selection import LogEI, QualityKDPP
        >>> strategy = GPStrategy()                           # Thompson sampling
        >>> strategy = GPStrategy(selector=LogEI())           # log expected improvement
        >>> strategy = GPStrategy(selector=QualityKDPP(alpha=3.0))  # k-DPP batches
    """

    Settings = GPSettings
    settings: GPSettings

    def __init__(
        self, settings: GPSettings | None = None, *, name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(settings, **kwargs)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        self.name = name or self.settings.selector.preset
        self._features: dict[str, np.ndarray] = {}
        self._scores: dict[str, np.ndarray] = {}
        self._hypers: dict[str, list] | None = None
        # Seed of the random candidates the zero-cost design ranks (computed scores),
        # drawn at the first design proposal and kept with the strategy's state.
        self._design_seed: int | None = None

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> GPStrategy:
        return cls(**without_legacy_prior(settings))

    @property
    def selector(self) -> SelectionRule:
        """The selection rule."""
        return self.settings.selector

    # --- protocol -----------------------------------------------------------------------

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self._features.clear()
        self._scores.clear()
        features = self.settings.features
        if features is None:
            positional = space.encoder(positions=None).slots is not None
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
        return {"hypers": self._hypers, "design_seed": self._design_seed}

    def set_state(self, state: dict[str, Any]) -> None:
        self._hypers = state.get("hypers")
        seed = state.get("design_seed")
        self._design_seed = int(seed) if isinstance(seed, int) else None

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        complete = history.complete
        prior = self._prior
        if len(complete) < self.settings.n_init:
            if prior is not None and prior.design:
                if self._design_seed is None:
                    self._design_seed = int(rng.integers(2**63))
                return prior_design(self.space, self.scores, history, n, rng,  # type: ignore[arg-type]
                                    prior.design_candidates, sample_seed=self._design_seed)
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        pool = candidate_pool(self.space, history, rng, self.settings.pool)
        if prior is not None and prior.pool_fraction < 1:
            random_part = min(self.settings.pool.n_random, len(pool))
            pool = filter_pool(pool, random_part, self._combined(pool), prior.pool_fraction)
        if not pool:
            return []
        gen = torch_generator(rng)
        threads = 1 if len(complete) <= _SINGLE_THREAD_MAX else torch.get_num_threads()
        with torch_threads(threads):
            train = [t.arch for t in complete]
            pending = [t.arch for t in history.pending]
            score = None
            if prior is not None and _uses_mean(prior, self.scores):
                # One rank transform over everything this proposal compares.
                score = self._combined(train + pool + pending)
            values = [_warp(t.value, self.settings.target) for t in complete]
            model = self.fit(train, values, gen, scores=_part(score, 0, len(train)))
            X_pool = self._encode(pool, _part(score, len(train), len(pool)))
            X_pending = (
                self._encode(pending, _part(score, len(train) + len(pool), len(pending)))
                if pending else None
            )
            idx = self.selector.select(model, X_pool, X_pending, min(n, len(pool)), gen)
        return [pool[i] for i in idx]

    def fit(
        self,
        archs: Sequence[Architecture],
        values: Sequence[float],
        generator: torch.Generator,
        *,
        scores: np.ndarray | None = None,
    ) -> SingleTaskGP:
        """The surrogate on ``archs`` with modelled ``values``, fitted by `fit_tw_gp`
        from the previous fit's hyper-parameters (which it then remembers); with
        ``scores`` (one prior score per architecture), a GP whose prior mean is linear
        in them (`ScoreMean`)."""
        X = self._encode(archs, scores)
        Y = torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
        model = (make_categorical_gp(X, Y) if self._feature_kind == "categorical"
                 else make_tw_gp(X, Y, self.encoder.block_sizes,
                                 score_mean=scores is not None))
        model = fit_tw_gp(model, warm_start=self._hypers, generator=generator)
        self._hypers = gp_hyperparameters(model)
        return model

    # --- internals ----------------------------------------------------------------------

    @property
    def _prior(self) -> ZeroCostPrior | None:
        """The prior in force: the setting, when the campaign has scores."""
        prior = self.settings.prior
        if prior is None or self.scores is None or self._feature_kind == "categorical":
            return None
        return prior

    def _combined(self, archs: Sequence[Architecture]) -> np.ndarray:
        """`rank_score` of ``archs`` among themselves, raw scores cached by key."""
        missing = [a for a in dict.fromkeys(archs) if a.key not in self._scores]
        if missing:
            assert self.scores is not None
            for a, row in zip(missing, self.scores.scores(missing), strict=True):
                self._scores[a.key] = row
        return rank_score(np.stack([self._scores[a.key] for a in archs]))

    def _encode(
        self, archs: Sequence[Architecture], scores: np.ndarray | None = None
    ) -> torch.Tensor:
        rows = []
        for a in archs:
            f = self._features.get(a.key)
            if f is None:
                f = self.encoder.encode_one(a)
                self._features[a.key] = f
            rows.append(f)
        X = np.stack(rows)
        if scores is not None:
            X = np.column_stack([X, scores])
        return torch.as_tensor(X, dtype=torch.float64)


def _uses_mean(prior: ZeroCostPrior, source: object) -> bool:
    if prior.mean is None:
        return bool(getattr(source, "free", False))
    return prior.mean


def without_legacy_prior(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings``, with ``prior=None`` when they are a complete stored configuration
    from before priors existed: a campaign resumes with the search it started with."""
    out = dict(settings)
    if out.keys() >= _STORED_KEYS and "prior" not in out:
        out["prior"] = None
    return out


# What every stored configuration of `GPSettings` has held since settings were stored.
_STORED_KEYS = frozenset({"selector", "features", "n_init", "target", "pool"})


def _part(values: np.ndarray | None, start: int, size: int) -> np.ndarray | None:
    return None if values is None else values[start:start + size]
