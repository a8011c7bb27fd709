r"""NSGA-II: elitist multi-objective evolution by non-dominated sorting and crowding.

Deb, Pratap, Agarwal, Meyarivan. A fast and elitist multiobjective genetic algorithm:
NSGA-II. IEEE Transactions on Evolutionary Computation 6(2), 2002.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bo_nas._history import History, Trial
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult
from bo_nas.objectives import Constraint, feasible, metric_value, outcome_matrix
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import NeighbourCache
from ._prior import check_warmup, prior_design

#: Tournaments tried for one child before falling back to a random sample.
_MAX_ATTEMPTS = 50


def non_dominated_fronts(Y: np.ndarray) -> list[np.ndarray]:
    r"""Deb's fast non-dominated sort, in the maximisation convention.

    Row :math:`a` dominates :math:`b` when :math:`a \ge b` in every column and
    :math:`a > b` in one. Front 0 holds the rows no row dominates; front :math:`k` the
    rows dominated only by rows of fronts :math:`< k`. Identical rows share a front.

    Args:
        Y: Outcomes of shape `n x m`, larger is better; no NaN.

    Returns:
        The fronts in order, each the ascending row indices of its members; together
        they partition `range(n)`.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y: expected shape n x m, got {Y.shape}")
    if np.isnan(Y).any():
        raise ValueError("Y: expected no NaN (rank incomplete rows separately)")
    n = len(Y)
    ge = np.ones((n, n), dtype=bool)
    gt = np.zeros((n, n), dtype=bool)
    # One column at a time keeps the memory at n x n, not n x n x m.
    for col in Y.T:
        ge &= col[:, None] >= col[None, :]
        gt |= col[:, None] > col[None, :]
    dominates = ge & gt  # [a, b]: a dominates b
    count = dominates.sum(axis=0)
    placed = np.zeros(n, dtype=bool)
    fronts: list[np.ndarray] = []
    current = np.flatnonzero(count == 0)
    while current.size:
        fronts.append(current)
        placed[current] = True
        count = count - dominates[current].sum(axis=0)
        current = np.flatnonzero((count == 0) & ~placed)
    return fronts


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    r"""NSGA-II's crowding distance of the members of one front.

    With the rows sorted by column :math:`j` (stably, so ties keep their row order),
    :math:`y_{(1),j} \le \dots \le y_{(n),j}`, the member at position :math:`k` gets

    .. math::

        d = \sum_j \frac{y_{(k+1),j} - y_{(k-1),j}}{y_{(n),j} - y_{(1),j}},

    the half-perimeter of the cuboid its neighbours span, normalised per objective; a
    column with no spread adds nothing. The first and last member in any column get
    :math:`d = \infty`, so the extremes of the front always survive.

    Args:
        Y: Finite outcomes of the front, shape `n x m`.

    Returns:
        Distances of shape `n`.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y: expected shape n x m, got {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError("Y: expected finite values")
    n = len(Y)
    d = np.zeros(n)
    if n == 0:
        return d
    for col in Y.T:
        order = np.argsort(col, kind="stable")
        f = col[order]
        span = f[-1] - f[0]
        if n > 2 and span > 0:
            d[order[1:-1]] += (f[2:] - f[:-2]) / span
        d[order[0]] = d[order[-1]] = np.inf
    return d


def _violation(result: EvaluationResult, constraints: Sequence[Constraint]) -> float:
    r""":math:`\sum_c \max(0, g_c) / |b_c|` over the constraints, with :math:`g_c` the
    amount by which the metric passes the bound :math:`b_c` (divided by 1 where
    :math:`b_c = 0`); infinite when a constrained metric is missing."""
    total = 0.0
    for c in constraints:
        v = metric_value(result, c.metric)
        if v is None or math.isnan(v):
            return math.inf
        gap = v - c.bound if c.op == "<=" else c.bound - v
        # Relative to the bound, so that bounds in different units add up.
        total += max(0.0, gap) / (abs(c.bound) or 1.0)
    return total


@dataclass(frozen=True)
class NSGA2Settings:
    """Settings of `NSGA2` (see there)."""

    population_size: int = 50
    tournament_size: int = 2
    mutation_steps: int = 1
    warmup: str = "random"

    def __post_init__(self) -> None:
        check_warmup(self.warmup)
        for label in ("population_size", "tournament_size", "mutation_steps"):
            v = getattr(self, label)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{label}: expected an integer >= 1, got {v!r}")
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"tournament_size: expected at most population_size ({self.population_size}), "
                f"got {self.tournament_size}"
            )


class NSGA2(Strategy):
    r"""NSGA-II over the campaign's objectives: non-dominated sorting, crowding,
    tournaments and mutation.

    No state is kept: at each call every complete trial is ranked and the population
    is the best ``population_size`` of them by NSGA-II's survival rule, so it is elitist
    over the whole history. The ranking sorts the outcomes (`outcome_matrix`,
    maximisation) into non-dominated fronts (`non_dominated_fronts`); trials that break
    a constraint, or lack an objective's metric, rank after every feasible one, in
    fronts of equal total violation, smallest first (Deb's constrained domination).
    Whole fronts enter in order; of the first that does not fit, the members with the
    largest crowding distance (`crowding_distance`) do,

    .. math::

        d_i = \sum_j \frac{y_{(k_i+1),j} - y_{(k_i-1),j}}{y_{\max,j} - y_{\min,j}},
        \qquad d = \infty \text{ at each column's extremes},

    with :math:`k_i` the position of member :math:`i` in the front sorted by objective
    :math:`j`. Ties go to the younger trial.

    Until ``population_size`` architectures have been proposed, proposals are random
    samples. Each child comes from one tournament: ``tournament_size`` members drawn
    without replacement; the winner has the lowest front, then the largest crowding
    distance, then the highest trial number; it is mutated by ``mutation_steps`` moves.
    A child already proposed is discarded and the tournament redrawn (with one step the
    child is a uniform choice among the parent's unproposed neighbours); after 50
    tournaments a random architecture is proposed instead. With one objective this is
    tournament evolution on it.

    Args:
        population_size: N, the population the tournaments draw from.
        tournament_size: Members per tournament (2: Deb's binary tournament).
        mutation_steps: Moves per mutation.
        warmup: ``"random"``, or ``"zero-cost"``: the initial population is the
            best-scored architectures (`prior_design`) when the campaign has zero-cost
            scores.

    Example:
        >>> Campaign(NB201Space(), NB201Benchmark("cifar10"), NSGA2(), seed=0,
        ...          objectives=["val_accuracy", "params:min"]).run(100)  # doctest: +SKIP

    Reference: Deb, Pratap, Agarwal, Meyarivan. A fast and elitist multiobjective genetic
    algorithm: NSGA-II. IEEE Transactions on Evolutionary Computation 6(2), 2002.
    """

    name = "nsga2"
    Settings = NSGA2Settings
    settings: NSGA2Settings
    multi_objective = True

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self._neighbours = NeighbourCache(space)

    def population(self, history: History) -> list[Trial]:
        """The members, best first: front by front, crowding within a front."""
        return self._survivors(history)[0]

    def _survivors(self, history: History) -> tuple[list[Trial], np.ndarray, np.ndarray]:
        """The population, and each member's front index and crowding distance."""
        trials = sorted((t for t in history.complete if t.result is not None),
                        key=lambda t: t.number)
        results = [t.result for t in trials if t.result is not None]
        Y = outcome_matrix(results, self.objectives)
        ok = ~np.isnan(Y).any(axis=1)
        ok &= np.array([feasible(r, self.constraints) for r in results], dtype=bool)
        good = np.flatnonzero(ok)
        fronts = [good[f] for f in non_dominated_fronts(Y[good])]
        bad = np.flatnonzero(~ok)
        if bad.size:
            v = np.array([math.inf if np.isnan(Y[i]).any()
                          else _violation(results[i], self.constraints) for i in bad])
            fronts += [bad[v == level] for level in np.unique(v)]
        rank = np.empty(len(trials), dtype=int)
        crowd = np.zeros(len(trials))
        for r, f in enumerate(fronts):
            rank[f] = r
            # Rows missing an objective have no place in its order: they stay at 0.
            if np.isfinite(Y[f]).all():
                crowd[f] = crowding_distance(Y[f])
        keep: list[int] = []
        for f in fronts:
            room = self.settings.population_size - len(keep)
            if room <= 0:
                break
            best = sorted((int(i) for i in f), key=lambda i: (-crowd[i], -trials[i].number))
            keep.extend(best[:room])
        return [trials[i] for i in keep], rank[keep], crowd[keep]

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        seen = set(history.keys)
        out: list[Architecture] = []
        n_random = max(0, min(n, self.settings.population_size - len(history)))
        if self.settings.warmup == "zero-cost" and self.scores is not None:
            first = prior_design(self.space, self.scores, history, n_random, rng)
        else:
            first = self.space.sample_many(n_random, rng, exclude=[t.arch for t in history])
        for a in first:
            seen.add(a.key)
            out.append(a)
        if len(out) == n:
            return out
        population, rank, crowd = self._survivors(history)
        while len(out) < n:
            child = self._child(population, rank, crowd, seen, rng) if population else None
            if child is None:
                extra = self.space.sample_many(1, rng, exclude=[*(t.arch for t in history), *out])
                if not extra:
                    break
                child = extra[0]
            seen.add(child.key)
            out.append(child)
        return out

    def _child(
        self,
        population: list[Trial],
        rank: np.ndarray,
        crowd: np.ndarray,
        seen: set[str],
        rng: np.random.Generator,
    ) -> Architecture | None:
        s = min(self.settings.tournament_size, len(population))
        for _ in range(_MAX_ATTEMPTS):
            picks = rng.choice(len(population), size=s, replace=False)
            win = min((int(i) for i in picks),
                      key=lambda i: (rank[i], -crowd[i], -population[i].number))
            parent = population[win]
            if self.settings.mutation_steps == 1:
                # A uniform neighbour redrawn until unseen is a uniform unseen neighbour.
                fresh = [a for a in self._neighbours(parent.arch) if a.key not in seen]
                if fresh:
                    return fresh[int(rng.integers(len(fresh)))]
                continue
            child = self.space.mutate(parent.arch, rng, steps=self.settings.mutation_steps)
            if child.key not in seen:
                return child
        return None
