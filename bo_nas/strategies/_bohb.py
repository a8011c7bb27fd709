r"""BOHB's model (Falkner et al. 2018) over architectures: a TPE-style density ratio.

BOHB pairs Hyperband's promotions with a tree-Parzen estimator: at the highest budget
with enough observations it splits the results into good and bad ones, fits a kernel
density to each, and proposes where good is likely and bad is not. Promotions are the
campaign's business (ASHA / Hyperband); this module is only the proposal half.

Densities live on the space's tree-Wasserstein embedding (`SearchSpace.encoder`): the TW
distance there is an L1 distance, so the natural kernel is a Laplace kernel on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist, pdist
from scipy.special import logsumexp

from bo_nas._history import History, TrialState
from bo_nas._settings import check_int, check_number
from bo_nas.encodings import Architecture, DARTSEncoder, TWEncoder
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import NeighbourCache

#: The budget of a result measured at full fidelity (a trial without ``budget``): above
#: every epoch count, so a full-fidelity result is modelled first.
FULL_BUDGET = math.inf

#: Share of each acquisition pool drawn uniformly rather than from the good density:
#: where the good density is broad (few, scattered good points) a cell far from all of
#: them can still have the best ratio, and mutations alone would never find it.
_RANDOM_CANDIDATE_SHARE = 0.25
#: Mutation steps of one draw from a good kernel are geometric with this parameter
#: (P(k) = p (1-p)^(k-1)), capped below: a Laplace kernel's mass decays exponentially
#: with distance, and each move adds roughly one move's distance.
_STEP_P = 0.5
_MAX_STEPS = 4
#: Points of a group used to estimate its median pairwise distance: beyond this the
#: median barely moves and pdist's cost grows quadratically.
_MAX_BANDWIDTH_POINTS = 400
#: Bandwidth floor where every observation has the same features (any value works then:
#: all distances are zero).
_TINY = 1e-9
#: Cells whose move lists the strategy's `NeighbourCache` keeps.
_MOVE_MEMO_SIZE = 1024
#: Draws per random proposal before giving up on finding an unproposed cell (the same
#: allowance as `SearchSpace.sample_many` gives one sample).
_RANDOM_TRIES = 120


@dataclass(frozen=True)
class BOHBSettings:
    """Settings of `BOHBStrategy` (see there)."""

    min_points: int = 8
    gamma: float = 0.15
    n_candidates: int = 64
    random_fraction: float = 1 / 3
    bandwidth_factor: float = 0.5
    min_bandwidth: float = 0.2

    def __post_init__(self) -> None:
        # Two points at least: one good and one bad, or the ratio is undefined.
        check_int("min_points", self.min_points, low=2)
        check_int("n_candidates", self.n_candidates)
        for label in ("gamma", "random_fraction"):
            v = getattr(self, label)
            check_number(label, v)
            if float(v) > 1.0:
                raise ValueError(f"{label}: expected a number in [0, 1], got {v!r}")
        if not 0.0 < float(self.gamma) < 1.0:
            raise ValueError(f"gamma: expected a number in (0, 1), got {self.gamma!r}")
        for label in ("bandwidth_factor", "min_bandwidth"):
            v = getattr(self, label)
            check_number(label, v)
            if float(v) <= 0.0:
                raise ValueError(f"{label}: expected a positive number, got {v!r}")


@dataclass(frozen=True)
class Observation:
    """One result a model may use: ``arch`` reached ``value`` at ``budget`` epochs
    (`FULL_BUDGET` for a full-fidelity result); ``number`` is its trial's."""

    arch: Architecture
    budget: float
    value: float
    number: int


def observations(
    history: History, full_budget: float = FULL_BUDGET
) -> dict[float, list[Observation]]:
    """Every result of ``history`` by budget, each list in trial order.

    A trial contributes each of its ``rungs`` (whatever its state: a paused or even a
    failed trial's lower rungs were measured); a trial without rungs contributes its
    result when complete, at ``trial.budget`` or, without one, at ``full_budget``
    (`FULL_BUDGET`, or a multi-fidelity campaign's final rung, which is the same
    training).
    """
    out: dict[float, list[Observation]] = {}
    for t in history:
        if t.rungs:
            pairs = [(float(b), r) for b, r in t.rungs.items()]
        elif t.state is TrialState.COMPLETE and t.result is not None:
            budget = full_budget if t.budget is None else float(t.budget)
            pairs = [(budget, t.result)]
        else:
            continue
        for budget, result in pairs:
            obs = Observation(t.arch, budget, float(result.val_accuracy), t.number)
            out.setdefault(budget, []).append(obs)
    return out


def model_budget(by_budget: dict[float, list[Observation]], min_points: int) -> float | None:
    """The largest budget with at least ``min_points`` observations, ``None`` if none."""
    enough = [b for b, obs in by_budget.items() if len(obs) >= min_points]
    return max(enough) if enough else None


def n_good(n: int, gamma: float) -> int:
    r"""Size of the good group among ``n >= 2`` observations:
    :math:`\min(n - 1, \max(1, \lceil \gamma n \rceil))`.

    BOHB takes :math:`\max(d + 1, \lfloor \gamma n \rfloor)`, a rule for continuous KDEs
    whose bandwidth is per dimension; on a 6-50 dimensional embedding d + 1 would make
    the good group most of a small history. The ceiling keeps the group from being empty
    early on (8 points, γ = 0.15: 2 good), and the cap leaves one bad point at least.
    """
    # The epsilon keeps 0.15 * 60 = 9.000000000000002 from rounding up to 10.
    return min(n - 1, max(1, math.ceil(gamma * n - 1e-9)))


class LaplaceKDE:
    r"""A kernel density on an L1 (tree-Wasserstein) embedding, up to a constant factor:

    .. math::
        \hat p(x) \propto \frac1n \sum_{i=1}^n \exp\big(-\lVert \phi(x) - \phi(x_i)
        \rVert_1 / h\big).

    The kernel is not normalised: its mass over a discrete space depends on h (and only
    weakly on the centre), a constant per density that cancels from the ranking of
    candidates by :math:`\log l - \log g`, the only use made of it.

    Args:
        centres: ``n x D`` embeddings of the points.
        bandwidth: h > 0.
    """

    def __init__(self, centres: np.ndarray, bandwidth: float) -> None:
        if centres.ndim != 2 or len(centres) == 0:
            raise ValueError("centres: expected a non-empty n x D matrix")
        if not bandwidth > 0:
            raise ValueError(f"bandwidth: expected a positive number, got {bandwidth!r}")
        self.centres = centres
        self.bandwidth = float(bandwidth)

    def log_density(self, X: np.ndarray) -> np.ndarray:
        """:math:`\\log \\hat p` at each row of ``X`` (``m x D``), up to the constant."""
        d = cdist(np.atleast_2d(X), self.centres, metric="cityblock")
        return logsumexp(-d / self.bandwidth, axis=1) - math.log(len(self.centres))


def median_distance(X: np.ndarray) -> float:
    """Median L1 distance over the pairs of rows of ``X`` (0 for fewer than two rows);
    at most `_MAX_BANDWIDTH_POINTS` rows, evenly spaced, enter."""
    if len(X) < 2:
        return 0.0
    if len(X) > _MAX_BANDWIDTH_POINTS:
        # Evenly spaced rows keep the estimate deterministic without using the rng.
        X = X[np.linspace(0, len(X) - 1, _MAX_BANDWIDTH_POINTS).astype(int)]
    return float(np.median(pdist(X, metric="cityblock")))


@dataclass(frozen=True)
class BOHBModel:
    """The fitted model at one budget: the good and bad densities and their points."""

    budget: float
    good: list[Observation]
    bad: list[Observation]
    #: l, the density of the good observations.
    good_kde: LaplaceKDE
    #: g, the density of the bad ones.
    bad_kde: LaplaceKDE

    def log_ratio(self, X: np.ndarray) -> np.ndarray:
        r""":math:`\log l(x) - \log g(x)` for embeddings ``X``: TPE's acquisition (Bergstra
        et al. 2011 show it is monotone in expected improvement)."""
        return self.good_kde.log_density(X) - self.bad_kde.log_density(X)


class BOHBStrategy(Strategy):
    r"""BOHB's density-ratio proposals, on tree-Wasserstein features of architectures.

    *Observations* (`observations`): every rung result of every trial, and each
    full-fidelity result at a budget above all epoch counts (at the final rung when the
    campaign gave its rungs through `use_fidelity`). The *model budget* b* is the
    largest budget with at least ``min_points`` observations; until one exists every
    proposal is a uniform sample (`SearchSpace.sample`).

    *Model.* The n observations at b* are ranked by validation accuracy (ties: earlier
    trial first); the top :math:`n_l = \min(n-1, \max(1, \lceil\gamma n\rceil))` are
    good, the rest bad. On the space's default TW embedding φ (`SearchSpace.encoder`)
    each group gets a Laplace-kernel density (`LaplaceKDE`)

    .. math::
        l(x) \propto \frac1{n_l}\sum_{i \in \text{good}} e^{-d(x, x_i)/h_l},\qquad
        d(x, x') = \lVert\phi(x) - \phi(x')\rVert_1 = d_{TW}(x, x'),

    and g likewise over the bad group, with

    .. math::
        h = \max\big(\text{bandwidth\_factor} \cdot \operatorname{med}_{i<j \in
        \text{group}} d(x_i, x_j),\; \text{min\_bandwidth} \cdot
        \operatorname{med}_{i<j \le n} d(x_i, x_j)\big),

    the median heuristic within the group, floored at a share of the spread of all n
    observations so that one point (or a tight cluster) is a bump, not a spike.

    *Proposals.* Each is, with probability ``random_fraction`` (BOHB's 1/3), a uniform
    sample; otherwise the best of an acquisition pool of ``n_candidates`` cells under
    :math:`\log l(x) - \log g(x)`: three quarters drawn from l (a uniform good point,
    mutated by k moves, P(k) = 2^{-k} capped at 4: the discrete analogue of sampling
    its Laplace kernel), a quarter uniform samples. A cell already in the history (any
    state) or in the batch is never proposed; a pool with nothing new falls back to a
    uniform sample. The model is fitted once per `propose` call; pending trials only
    exclude their cells (BOHB does not impute them). No state is kept: everything is
    rebuilt from the history, and all randomness comes from ``rng``.

    Args:
        min_points: Observations a budget needs to be modelled (>= 2). BOHB's d + 1
            would be 7-51 on TW embeddings; 8 gives two good points at γ = 0.15 and is
            reached by the first rung of a small Hyperband bracket.
        gamma: Share of the observations at b* that are good (BOHB's 15 %).
        n_candidates: Acquisition pool per proposal (BOHB's 64).
        random_fraction: Share of proposals that are uniform samples (BOHB's 1/3).
        bandwidth_factor: Multiplier of a group's median pairwise TW distance. At 0.5 a
            point at the median distance weighs e^-2 of a coincident one: the density
            follows the group's cluster without being flat over it.
        min_bandwidth: Floor of h as a share of the median pairwise distance of all
            observations at b*. On NB-201 that median is about 2.2, so the floor is
            about 0.45, below a typical one-op change (about 0.7): a lone good point
            still lends weight to its neighbours.

    Reference: Falkner, Klein, Hutter. BOHB: robust and efficient hyperparameter
    optimization at scale. ICML 2018. Bergstra, Bardenet, Bengio, Kégl. Algorithms for
    hyper-parameter optimization. NeurIPS 2011.
    """

    name = "bohb"
    Settings = BOHBSettings
    settings: BOHBSettings

    def __init__(self, settings: BOHBSettings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._features: dict[str, np.ndarray] = {}

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self.encoder: TWEncoder | DARTSEncoder = space.encoder()
        self._features = {}
        # A space that overrides `_step` draws one move without listing them all (DARTS,
        # constrained spaces), which a memo of full lists would only make dearer.
        lists_moves = type(space)._step is SearchSpace._step
        # Good points parent most candidates at every proposal; building a cell space's
        # move list costs far more than scoring it, so the lists are kept.
        self._memo: NeighbourCache | None = (
            NeighbourCache(space, _MOVE_MEMO_SIZE, space._moves) if lists_moves else None
        )

    # --- model --------------------------------------------------------------------------

    def embed(self, archs: Sequence[Architecture], cache: bool = True) -> np.ndarray:
        """TW embeddings of ``archs`` (``len(archs) x D``), kept by canonical key when
        ``cache`` (observed cells recur at every fit; candidates mostly do not, and on a
        large space keeping them would grow without bound)."""
        rows = []
        for a in archs:
            f = self._features.get(a.key)
            if f is None:
                f = np.asarray(self.encoder.encode_one(a), dtype=float)
                if cache:
                    self._features[a.key] = f
            rows.append(f)
        if not rows:
            return np.zeros((0, self.encoder.dim))
        return np.stack(rows)

    def fit(self, history: History) -> BOHBModel | None:
        """The model at the model budget, or ``None`` while no budget has ``min_points``."""
        # In a multi-fidelity campaign (`Strategy.use_fidelity`) a result without a budget
        # (told, or imported) was trained as long as the final rung: model them together.
        rungs = getattr(self, "rungs", None)
        full = float(rungs[-1]) if rungs else FULL_BUDGET
        by_budget = observations(history, full)
        budget = model_budget(by_budget, self.settings.min_points)
        if budget is None:
            return None
        ranked = sorted(by_budget[budget], key=lambda o: (-o.value, o.number))
        k = n_good(len(ranked), self.settings.gamma)
        good, bad = ranked[:k], ranked[k:]
        X_good = self.embed([o.arch for o in good])
        X_bad = self.embed([o.arch for o in bad])
        floor = self.settings.min_bandwidth * median_distance(np.vstack([X_good, X_bad]))
        return BOHBModel(
            budget=budget,
            good=good,
            bad=bad,
            good_kde=LaplaceKDE(X_good, self._bandwidth(X_good, floor)),
            bad_kde=LaplaceKDE(X_bad, self._bandwidth(X_bad, floor)),
        )

    def _bandwidth(self, X: np.ndarray, floor: float) -> float:
        return max(self.settings.bandwidth_factor * median_distance(X), floor, _TINY)

    # --- proposals ----------------------------------------------------------------------

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        model = self.fit(history)
        if model is None:
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        seen = set(history.keys)
        out: list[Architecture] = []
        for _ in range(n):
            pick: Architecture | None = None
            if rng.random() >= self.settings.random_fraction:
                pick = self._best_candidate(model, seen, rng)
            if pick is None:
                pick = self._fresh_sample(seen, rng)
            if pick is None:  # the space is exhausted (or nearly so)
                break
            seen.add(pick.key)
            out.append(pick)
        return out

    def candidates(self, model: BOHBModel, rng: np.random.Generator) -> list[Architecture]:
        """One acquisition pool: draws from the good density, then uniform samples
        (repeats and proposed cells included; `propose` filters them)."""
        n_random = round(self.settings.n_candidates * _RANDOM_CANDIDATE_SHARE)
        pool: list[Architecture] = []
        for _ in range(self.settings.n_candidates - n_random):
            parent = model.good[int(rng.integers(len(model.good)))].arch
            steps = min(int(rng.geometric(_STEP_P)), _MAX_STEPS)
            pool.append(self._mutate(parent, steps, rng))
        pool.extend(self.space.sample(rng) for _ in range(n_random))
        return pool

    def _mutate(self, arch: Architecture, steps: int, rng: np.random.Generator) -> Architecture:
        """`SearchSpace.mutate`, with the move lists memoised where the space lists them."""
        if self._memo is None:
            return self.space.mutate(arch, rng, steps=steps)
        current = arch
        for _ in range(steps):
            step = self.space._step(current, rng, self._memo)
            if step is None:
                break
            current = step
        return current

    def _best_candidate(
        self, model: BOHBModel, seen: set[str], rng: np.random.Generator
    ) -> Architecture | None:
        fresh: dict[str, Architecture] = {}
        for a in self.candidates(model, rng):
            if a.key not in seen:
                fresh.setdefault(a.key, a)
        if not fresh:
            return None
        archs = list(fresh.values())
        scores = model.log_ratio(self.embed(archs, cache=False))
        # argmax takes the first of equal scores: pool order, itself fixed by the rng.
        return archs[int(np.argmax(scores))]

    def _fresh_sample(self, seen: set[str], rng: np.random.Generator) -> Architecture | None:
        for _ in range(_RANDOM_TRIES):
            a = self.space.sample(rng)
            if a.key not in seen:
                return a
        return None
