r"""Zero-cost priors: how a search uses scores known before any training.

Two parts, each a setting of `ZeroCostPrior`:

* **The initial design** (`prior_design`): instead of random architectures, the best by
  the combined score (`bo_nas.zero_cost.rank_score`) among a large candidate set (the
  whole space when it can be enumerated and the scores are free, else a random sample),
  skipping any candidate one mutation away from one already chosen or evaluated, so the
  design is not ten relatives of one cell.
* **A prior mean** for the GP, linear in the combined score,
  :math:`m(a) = c + w\,s(a)`, its weight fitted with the kernel by marginal likelihood
  (`bo_nas._surrogate.make_tw_gp` with ``score_mean=True``): where no architecture has
  been evaluated the posterior falls back on the scores instead of the constant.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bo_nas._history import History
from bo_nas._settings import check_int
from bo_nas.encodings import Architecture
from bo_nas.spaces import SearchSpace
from bo_nas.zero_cost._combine import rank_score
from bo_nas.zero_cost._source import ScoreSource

# Candidates scored for the initial design when the whole space is not: the N = 100 of
# NASWOT's "score N random cells, train the best" (each costs a network built and run).
_DESIGN_SAMPLE = 100


@dataclass(frozen=True)
class ZeroCostPrior:
    r"""How the GP strategy uses zero-cost scores, when the campaign has any.

    Attributes:
        design: Choose the initial architectures by score (else at random).
        design_candidates: Candidates the design ranks; ``None`` = the whole space when
            it can be enumerated and the scores cost nothing (tables), else 100 random
            architectures (computed scores build and run each network).
        mean: Give the GP a prior mean linear in the combined score. ``None`` (default):
            when the scores cost nothing (tables); computed scores would build and run
            every candidate of every proposal's pool.
        pool_fraction: Keep only this best-scored fraction of the random part of each
            candidate pool (1 = keep all).
    """

    design: bool = True
    design_candidates: int | None = None
    mean: bool | None = None
    pool_fraction: float = 1.0

    def __post_init__(self) -> None:
        for name in ("design", "mean"):
            if not isinstance(getattr(self, name), bool) and (name, getattr(self, name)) != (
                "mean", None
            ):
                raise ValueError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        if self.design_candidates is not None:
            check_int("design_candidates", self.design_candidates)
        f = self.pool_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ValueError(f"pool_fraction: expected a number in (0, 1], got {f!r}")


def prior_design(
    space: SearchSpace,
    source: ScoreSource,
    history: History,
    n: int,
    rng: np.random.Generator,
    candidates: int | None = None,
    exclude: Sequence[Architecture] = (),
    sample_seed: int | None = None,
) -> list[Architecture]:
    """The ``n`` best-scored architectures not in ``history`` (nor ``exclude``) and not
    one mutation away from any architecture in them or chosen before them
    (`ZeroCostPrior.design`).

    Where the scores are computed, the candidates are random architectures; with
    ``sample_seed`` they are the same ones at every call (drawn from that seed, those
    already known left out), so a design built over several proposals scores one sample
    once instead of a new sample each time."""
    known = [*(t.arch for t in history), *exclude]
    ident = _network_id(space)
    seen = {ident(a) for a in known}
    if candidates is None and getattr(source, "free", False) and _enumerable(space):
        networks, ids, table = _scored_space(space, source)
        keep = [i for i, k in enumerate(ids) if k not in seen]
        pool = [networks[i] for i in keep]
        raw = table[keep]
    else:
        if sample_seed is None:
            pool = space.sample_many(candidates or _DESIGN_SAMPLE, rng, exclude=known)
        else:
            drawn = space.sample_many(candidates or _DESIGN_SAMPLE,
                                      np.random.default_rng(sample_seed))
            pool = [a for a in drawn if ident(a) not in seen]
        # Each network once: ranks are among networks, not among ways of writing one.
        pool = list({ident(a): a for a in pool}.values())
        raw = source.scores(pool) if pool else np.zeros((0, len(source.names)))
    if not pool:
        return []
    order = np.argsort(-rank_score(raw), kind="stable")
    near: set[str] = set()
    for arch in known:
        near.update(ident(b) for b in space.neighbours(arch))
    chosen: list[Architecture] = []
    taken: set[str] = set()
    for i in order:
        arch = pool[int(i)]
        if ident(arch) in taken or ident(arch) in near:
            continue
        chosen.append(arch)
        taken.add(ident(arch))
        near.update(ident(b) for b in space.neighbours(arch))
        if len(chosen) == n:
            return chosen
    # A space too small to keep every choice apart: fill with the best of the rest.
    for i in order:
        arch = pool[int(i)]
        if ident(arch) not in taken:
            chosen.append(arch)
            taken.add(ident(arch))
            if len(chosen) == n:
                break
    return chosen


def _network_id(space: SearchSpace) -> Callable[[Architecture], str]:
    """What identifies a network: ``arch.key``, or a cheaper equivalent the space offers
    (NB-201's canonical string: equal exactly when the keys are), since hashing all
    15,625 cells' graphs costs seconds."""
    canonical = getattr(space, "canonical_string", None)
    return canonical if callable(canonical) else (lambda a: a.key)


def filter_pool(
    pool: Sequence[Architecture], random_part: int, scores: np.ndarray, fraction: float
) -> list[Architecture]:
    """``pool`` with only the best ``fraction`` (by ``scores``) of its last
    ``random_part`` entries (the random samples); the mutations of incumbents stay."""
    if fraction >= 1 or random_part <= 0:
        return list(pool)
    head = len(pool) - random_part
    tail = np.arange(head, len(pool))
    keep = max(1, round(fraction * len(tail)))
    best = tail[np.argsort(-scores[tail], kind="stable")[:keep]]
    return list(pool[:head]) + [pool[int(i)] for i in np.sort(best)]


def check_warmup(value: object) -> None:
    """``ValueError`` unless ``value`` names a warm-up of the baselines."""
    if value not in WARMUPS:
        raise ValueError(f"warmup: expected one of {list(WARMUPS)}, got {value!r}")


#: How a baseline draws its first architectures: at random, or the zero-cost design
#: (`prior_design`) when the campaign has scores (Abdelfattah et al., ICLR 2021).
WARMUPS = ("random", "zero-cost")


_Scored = dict[str, tuple[list[Architecture], list[str], np.ndarray]]
_SCORED: weakref.WeakKeyDictionary[SearchSpace, _Scored] = weakref.WeakKeyDictionary()


def _scored_space(
    space: SearchSpace, source: ScoreSource
) -> tuple[list[Architecture], list[str], np.ndarray]:
    """Every distinct network of an enumerable space, its `_network_id` and its raw
    scores, kept per space and source: a campaign asks for its design one architecture
    at a time."""
    from ._pool import _enumerated

    by_source = _SCORED.setdefault(space, {})
    hit = by_source.get(source.fingerprint)
    if hit is None:
        ident = _network_id(space)
        by_id = {ident(a): a for a in _enumerated(space)}
        networks = list(by_id.values())
        hit = by_source[source.fingerprint] = (networks, list(by_id), source.scores(networks))
    return hit


def _enumerable(space: SearchSpace) -> bool:
    try:
        next(iter(space.enumerate()))
    except (NotImplementedError, StopIteration):
        return False
    return True
