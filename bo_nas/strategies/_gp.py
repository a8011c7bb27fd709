r"""Gaussian-process Bayesian optimisation over a discrete candidate pool."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from botorch.models import SingleTaskGP

from bo_nas._front import pareto_front
from bo_nas._history import History, Trial
from bo_nas._random import torch_generator
from bo_nas._settings import check_int
from bo_nas._surrogate import (
    budget_input,
    fit_tw_gp,
    gp_hyperparameters,
    make_categorical_gp,
    make_tw_gp,
)
from bo_nas._threads import torch_threads
from bo_nas.encodings import Architecture, CategoricalEncoder, TWEncoder
from bo_nas.objectives import Constraint, CostSource, Objective, feasible, outcome_matrix
from bo_nas.selection import (
    EHVI,
    ParetoProblem,
    ParetoRule,
    SelectionRule,
    ThompsonSampling,
)
from bo_nas.spaces import SearchSpace, SubsetSpace, distinct_networks
from bo_nas.zero_cost._combine import rank_score

from ._base import Strategy
from ._outcomes import (
    MetricModel,
    feasibility,
    fit_metric_model,
    keep_feasible,
    known_values,
    reference_point,
)
from ._pool import PoolConfig, candidate_pool
from ._prior import ZeroCostPrior, filter_pool, prior_design

logger = logging.getLogger(__name__)

Target = Literal["log-error", "accuracy"]
Features = Literal["tw", "tw-positions", "tw-ngrams", "categorical"]

# Up to this many observations the whole proposal runs with one thread (see
# `torch_threads`).
_SINGLE_THREAD_MAX = 1000
#: ``refit="auto"`` with fidelities: re-fit after 10 % more rung results.
MF_REFIT = 0.1


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
        refit: Re-fit the hyper-parameters when the observations have grown by this
            fraction since the last fit; in between, the GP conditions on the new data
            with the last fit's hyper-parameters. ``0`` fits at every proposal;
            ``"auto"`` (default) is 0 for one fidelity and `MF_REFIT` with fidelities,
            where every rung result is an observation and a proposal comes with nearly
            each of them (the fit was three quarters of a multi-fidelity campaign's time).
    """

    selector: SelectionRule = field(default_factory=ThompsonSampling)
    features: Features | None = None
    n_init: int = 10
    target: Target = "log-error"
    pool: PoolConfig = field(default_factory=PoolConfig)
    prior: ZeroCostPrior | None = field(default_factory=ZeroCostPrior)
    refit: float | Literal["auto"] = "auto"

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
        if self.refit != "auto" and (
            isinstance(self.refit, bool) or not isinstance(self.refit, (int, float))
            or not math.isfinite(self.refit) or self.refit < 0
        ):
            raise ValueError(f"refit: expected a number >= 0 or 'auto', got {self.refit!r}")


def _warp(accuracy: float, target: Target) -> float:
    """The modelled value of a validation accuracy (%); monotone increasing."""
    if target == "accuracy":
        return accuracy
    return -math.log(100.1 - min(accuracy, 100.0))


def _unwarp(y: torch.Tensor, target: Target) -> torch.Tensor:
    """Inverse of `_warp`: accuracies (%) of modelled values."""
    if target == "accuracy":
        return y
    return 100.1 - torch.exp(-y)


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
        >>> strategy = GPStrategy(selector=QualityKDPP())  # k-DPP batches
    """

    Settings = GPSettings
    settings: GPSettings
    multi_objective = True

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
        # Observations of the last hyper-parameter fit (see ``GPSettings.refit``).
        self._fitted_n: int | None = None
        # Warm starts of the GPs of measured objectives and constraints, by metric.
        self._outcome_hypers: dict[str, dict] = {}
        # Known-cost rows of pool cells, by cell object (see `known_values`).
        self._known: dict[int, tuple[Any, np.ndarray]] = {}
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

    def use_objectives(
        self,
        objectives: tuple[Objective, ...],
        constraints: tuple[Constraint, ...] = (),
        costs: CostSource | None = None,
    ) -> None:
        if len(objectives) < 2 and isinstance(self.selector, ParetoRule):
            raise ValueError(
                f"selector {self.selector.rule!r} is for several objectives; this campaign "
                f"has one ({objectives[0]}): give more objectives or another rule"
            )
        super().use_objectives(objectives, constraints, costs)
        self._known.clear()

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"hypers": self._hypers, "design_seed": self._design_seed}
        if self._fitted_n is not None:
            state["fitted_n"] = self._fitted_n
        if self._outcome_hypers:
            state["outcome_hypers"] = dict(self._outcome_hypers)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        self._hypers = state.get("hypers")
        outcome = state.get("outcome_hypers")
        self._outcome_hypers = dict(outcome) if isinstance(outcome, dict) else {}
        seed = state.get("design_seed")
        self._design_seed = int(seed) if isinstance(seed, int) else None
        fitted = state.get("fitted_n")
        self._fitted_n = int(fitted) if isinstance(fitted, int) else None

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        complete = history.complete
        prior = self._prior
        rungs = self.rungs
        # Observations (architecture, accuracy, epochs): with fidelities, every rung
        # result of every trial, the budget an input of the GP (MOBSTER's model).
        if rungs is not None:
            obs = [(t.arch, r.val_accuracy, b) for t in history for b, r in t.rungs.items()]
        else:
            obs = [(t.arch, float(t.value), None) for t in complete]  # type: ignore[arg-type]
        if len({a.key for a, _, _ in obs}) < self.settings.n_init:
            if prior is not None and prior.design:
                if self._design_seed is None:
                    self._design_seed = int(rng.integers(2**63))
                return prior_design(self.space, self.scores, history, n, rng,  # type: ignore[arg-type]
                                    prior.design_candidates, sample_seed=self._design_seed)
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        parents = None
        if len(self.objectives) > 1:
            # Around the whole front, not only the most accurate: the trade-off is the goal.
            front = pareto_front(history, self.objectives, self.constraints)
            top = history.top(self.settings.pool.top_k)
            parents = list({t.number: t for t in [*front, *top]}.values())
        if rungs is not None:
            # Incumbents of a multi-fidelity search: the best at the highest rung reached,
            # then the best at the rungs below.
            ranked = sorted((t for t in history if t.rungs),
                            key=lambda t: (-max(t.rungs), -t.rungs[max(t.rungs)].val_accuracy,
                                           t.number))
            parents = ranked[: self.settings.pool.top_k]
        config = self.settings.pool
        if config.whole_space == "auto":
            whole = len(self.objectives) > 1 and _enumerable(self.space)
            config = dataclasses.replace(config, whole_space=whole)
        pool = candidate_pool(self.space, history, rng, config, parents=parents)
        if len(self.objectives) > 1:
            # A cell that computes nothing is the cheapest in every cost, so to a
            # hypervolume rule it looks like the front's cheap end, and its chance-level
            # result then drags down the model's view of every sparse cell near it.
            pool = [a for a in pool if not self.space.disconnected(a)]
        if prior is not None and prior.pool_fraction < 1:
            random_part = min(self.settings.pool.n_random, len(pool))
            pool = filter_pool(pool, random_part, self._combined(pool), prior.pool_fraction)
        if not pool:
            return []
        gen = torch_generator(rng)
        threads = 1 if len(complete) <= _SINGLE_THREAD_MAX else torch.get_num_threads()
        with torch_threads(threads):
            train = [a for a, _, _ in obs]
            pending = [t.arch for t in history.pending]
            score = None
            if prior is not None and _uses_mean(prior, self.scores):
                # One rank transform over everything this proposal compares.
                score = self._combined(train + pool + pending)
            z_train = z_pool = z_pending = None
            if rungs is not None:
                final = rungs[-1]
                # New candidates are ranked at the final budget.
                z_train = [budget_input(b, final) for _, _, b in obs]
                z_pool = [1.0] * len(pool)
                z_pending = [budget_input(t.budget or final, final) for t in history.pending]
            X_train = self._encode(train, _part(score, 0, len(train)), z_train)
            X_pool = self._encode(pool, _part(score, len(train), len(pool)), z_pool)
            X_pending = (
                self._encode(pending, _part(score, len(train) + len(pool), len(pending)),
                             z_pending)
                if pending else None
            )
            multi = len(self.objectives) > 1
            known = set(self.costs.names) if self.costs is not None and multi else set()
            model = None
            if not multi or any(o.metric == "val_accuracy" and o.metric not in known
                                for o in self.objectives):
                values = [_warp(v, self.settings.target) for _, v, _ in obs]
                model = self._fit_X(X_train, values, gen, score_mean=score is not None,
                                    budget=rungs is not None)
            measured = [c.metric for c in self.constraints]
            if multi:
                measured += [o.metric for o in self.objectives
                             if o.metric != "val_accuracy" and o.metric not in known]
            make = self._maker(score is not None)
            metric_models = {
                m: fit_metric_model(m, complete, X_train, make, self._outcome_hypers, gen)
                for m in dict.fromkeys(measured)
            }
            keep = torch.arange(len(pool))
            q = min(n, len(pool))
            if self.constraints:
                pof = feasibility(self.constraints, metric_models, X_pool)
                keep = keep_feasible(pof, q)
            if multi:
                problem = self._pareto_problem(
                    complete, [pool[int(i)] for i in keep], pending, model, metric_models
                )
                idx = self._pareto_rule.select_pareto(
                    problem, X_pool[keep], X_pending, min(q, len(keep)), gen
                )
            else:
                assert model is not None
                idx = self.selector.select(model, X_pool[keep], X_pending, min(q, len(keep)),
                                           gen)
        return [pool[int(keep[i])] for i in idx]

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
        return self._fit_X(self._encode(archs, scores), values, generator,
                           score_mean=scores is not None)

    # --- internals ----------------------------------------------------------------------

    def _maker(
        self, score_mean: bool, budget: bool = False
    ) -> Callable[[torch.Tensor, torch.Tensor], SingleTaskGP]:
        """Builds this strategy's kind of GP from inputs and `n x 1` targets."""
        if self._feature_kind == "categorical":
            return lambda X, Y: make_categorical_gp(X, Y, budget=budget)
        return lambda X, Y: make_tw_gp(X, Y, self.encoder.block_sizes, score_mean=score_mean,
                                       budget=budget)

    def _fit_X(
        self, X: torch.Tensor, values: Sequence[float], generator: torch.Generator,
        *, score_mean: bool, budget: bool = False,
    ) -> SingleTaskGP:
        Y = torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
        refit = self.settings.refit
        growth = (MF_REFIT if budget else 0.0) if refit == "auto" else float(refit)
        n = len(values)
        optimise = (self._hypers is None or self._fitted_n is None
                    or n >= self._fitted_n * (1.0 + growth) or n < self._fitted_n)
        model = fit_tw_gp(self._maker(score_mean, budget)(X, Y), warm_start=self._hypers,
                          generator=generator, optimise=optimise)
        self._hypers = gp_hyperparameters(model)
        if optimise:
            self._fitted_n = n
        return model

    @property
    def _pareto_rule(self) -> ParetoRule:
        """The rule for several objectives: the selector when it is one, else expected
        hypervolume improvement (`EHVI`)."""
        rule = self.selector
        return rule if isinstance(rule, ParetoRule) else EHVI()

    def _pareto_problem(
        self,
        complete: Sequence[Trial],
        pool: Sequence[Architecture],
        pending: Sequence[Architecture],
        model: SingleTaskGP | None,
        metric_models: Mapping[str, MetricModel | None],
    ) -> ParetoProblem:
        objectives = self.objectives
        costs = self.costs
        models: list[Any] = []
        maps: list[Callable[[torch.Tensor], torch.Tensor]] = []
        for o in objectives:
            sign = -1.0 if o.minimize else 1.0
            if costs is not None and o.metric in costs.names:
                models.append(None)
                maps.append(lambda z: z)
            elif o.metric == "val_accuracy":
                target = self.settings.target
                models.append(model)
                maps.append(lambda y, s=sign, t=target: s * _unwarp(y, t))
            else:
                mm = metric_models.get(o.metric)
                if mm is None:
                    raise ValueError(
                        f"objective {o.metric}: fewer than two results report a cost "
                        f"{o.metric!r}, so it cannot be modelled; check the evaluator's costs"
                    )
                models.append(mm.model)
                maps.append(lambda z, s=sign, mm=mm: s * mm.to_metric(z))
        ok = [t.result for t in complete
              if t.result is not None and feasible(t.result, self.constraints)]
        Y = torch.as_tensor(outcome_matrix(ok, objectives), dtype=torch.float64)
        Y = Y.reshape(-1, len(objectives))
        ref = reference_point(objectives, Y)
        if not torch.isfinite(ref).all():
            # Nothing observed meets the constraints: the front of all results decides.
            every = torch.as_tensor(
                outcome_matrix([t.result for t in complete], objectives), dtype=torch.float64
            ).reshape(-1, len(objectives))
            ref = torch.where(torch.isfinite(ref), ref, reference_point(objectives, every))
        return ParetoProblem(
            models=models,
            to_metric=maps,
            known_pool=known_values(objectives, costs, pool, self._known),
            known_pending=known_values(objectives, costs, pending) if pending else None,
            Y=Y,
            ref_point=ref,
            observed=len(complete) + len(pending),
        )

    @property
    def _prior(self) -> ZeroCostPrior | None:
        """The prior in force: the setting, when the campaign has scores."""
        prior = self.settings.prior
        if prior is None or self.scores is None or self._feature_kind == "categorical":
            return None
        return prior

    def _combined(self, archs: Sequence[Architecture]) -> np.ndarray:
        """`rank_score` of the distinct ``archs`` among themselves (one per
        architecture, however often it appears), raw scores cached by key."""
        missing = [a for a in {a.key: a for a in archs}.values() if a.key not in self._scores]
        if missing:
            assert self.scores is not None
            for a, row in zip(missing, self.scores.scores(missing), strict=True):
                self._scores[a.key] = row
        keys = list(dict.fromkeys(a.key for a in archs))
        ranks = dict(zip(keys, rank_score(np.stack([self._scores[k] for k in keys]))))
        return np.asarray([ranks[a.key] for a in archs])

    def _encode(
        self,
        archs: Sequence[Architecture],
        scores: np.ndarray | None = None,
        budgets: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """Features of ``archs``, then the budget input (multi-fidelity), then the
        prior score, as columns."""
        rows = []
        for a in archs:
            f = self._features.get(a.key)
            if f is None:
                f = self.encoder.encode_one(a)
                self._features[a.key] = f
            rows.append(f)
        X = np.stack(rows)
        if budgets is not None:
            X = np.column_stack([X, np.asarray(budgets, dtype=float)])
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


#: Spaces with at most this many cells are scored whole in a multi-objective search.
_WHOLE_SPACE_MAX = 20_000


def _enumerable(space: SearchSpace) -> bool:
    """Whether ``space`` (or the space it cuts down) lists its cells and is small."""
    if isinstance(space, SubsetSpace):
        return len(space) <= _WHOLE_SPACE_MAX
    n = distinct_networks(getattr(space, "base", space))
    return n is not None and n <= _WHOLE_SPACE_MAX


def _part(values: np.ndarray | None, start: int, size: int) -> np.ndarray | None:
    return None if values is None else values[start:start + size]
