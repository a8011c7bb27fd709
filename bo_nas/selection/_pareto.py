r"""Selection rules for several objectives: hypervolume improvement over a pool.

A multi-objective campaign hands these rules one `ParetoProblem`: per objective either a
fitted GP (on its modelled scale) or the exact values of a cost known before evaluating,
the observed outcomes, and a reference point. Every outcome is in the maximisation
convention on the metric's own scale (a cost negated), so the hypervolume the rules
improve is the one `bo_nas.objectives.hypervolume` reports.

The hypervolume improvement of an outcome :math:`y` over the current front is a sum over
the boxes :math:`[l_c, u_c]` that partition the non-dominated region above the
reference point (BoTorch's ``NondominatedPartitioning``):

.. math::

    \mathrm{HVI}(y) = \sum_c \prod_{k=1}^{m} \big[\min(y_k, u_{c,k}) - l_{c,k}\big]_+ .
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from botorch.acquisition.analytic import _log_ei_helper
from botorch.models.model import Model
from botorch.utils.multi_objective.box_decompositions import NondominatedPartitioning
from gpytorch.utils.warnings import NumericalWarning

from bo_nas._settings import check_int, check_number

from ._base import SelectionRule
from ._pool import CHUNK, best_excluding, condition_on_pending, joint_draws, seed_from


@dataclass
class ParetoProblem:
    """What a multi-objective rule sees.

    Attributes:
        models: Per objective, a fitted GP in eval mode, or ``None`` for an objective
            whose pool values are known exactly (``known``).
        to_metric: Per objective, the map from the GP's modelled scale to the signed
            metric (identity for a known objective).
        known_pool: `N x m` signed metric values of the pool, NaN where modelled.
        known_pending: `p x m` the same for the pending points (``None`` without any).
        Y: `n x m` signed metrics of the observed trials that meet every constraint.
        ref_point: `m` reference point (signed metric scale).
        observed: Trials complete or pending when the rule is asked, so pick ``k`` of
            the batch is the campaign's ``observed + k``-th (for rules that take turns,
            e.g. `EHVI`'s ``ends``).
    """

    models: Sequence[Model | None]
    to_metric: Sequence[Callable[[torch.Tensor], torch.Tensor]]
    known_pool: torch.Tensor
    known_pending: torch.Tensor | None
    Y: torch.Tensor
    ref_point: torch.Tensor
    observed: int = 0

    @property
    def m(self) -> int:
        return len(self.models)


class ParetoRule(SelectionRule):
    """A rule for several objectives: `select_pareto` instead of `select`."""

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        raise ValueError(
            f"selection rule {self.rule!r} is for campaigns with several objectives; "
            "give the campaign objectives=[...] or choose a one-objective rule"
        )

    def select_pareto(
        self,
        problem: ParetoProblem,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:  # pragma: no cover - abstract in effect
        """Indices of ``q`` distinct picks of the pool."""
        raise NotImplementedError


def hypercells(Y: torch.Tensor, ref_point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper corners (`C x m` each) of the boxes partitioning the region above
    ``ref_point`` that ``Y`` does not dominate."""
    Y = Y[torch.isfinite(Y).all(dim=-1)]
    Y = Y[(ref_point < Y).all(dim=-1)]
    if len(Y) == 0:
        lower = ref_point.unsqueeze(0)
        return lower, torch.full_like(lower, math.inf)
    part = NondominatedPartitioning(ref_point=ref_point, Y=Y)
    bounds = part.get_hypercell_bounds()
    return bounds[0], bounds[1]


def hv_improvement(values: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """HVI of each outcome in ``values`` (`... x m`) over the front whose non-dominated
    region is the boxes ``lower``/``upper`` (`C x m`): shape `...`."""
    v = values.unsqueeze(-2)  # ... x 1 x m
    side = (torch.minimum(v, upper) - lower).clamp_min(0.0)
    return side.prod(dim=-1).sum(dim=-1)


def _normal_grid(s: int, dtype: torch.dtype) -> torch.Tensor:
    """``s`` standard-normal quantiles at the midpoints of equal-probability bins: a
    deterministic quadrature of :math:`\\mathbb E[g(Z)]` for one Gaussian outcome."""
    p = (torch.arange(s, dtype=dtype) + 0.5) / s
    return torch.special.ndtri(p)


def posterior_marginals(model: Model, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Posterior mean and standard deviation of an exact GP at each row of ``X``, on
    the outcome scale, without a joint covariance:

    .. math::

        \mu(x) = m(x) + k_{xX}\,(K + \sigma^2 I)^{-1} (y - m_X), \qquad
        v(x) = k(x, x) - \lVert L^{-1} k_{Xx} \rVert^2, \quad LL^\top = K + \sigma^2 I,

    then BoTorch's outcome transform undone. One Cholesky factor for the whole pool:
    GPyTorch's batched one-point posteriors cost about 20× more on 15,625 cells.
    Works for `SingleTaskGP`-like models (``train_inputs``, ``mean_module``,
    ``covar_module``, a Gaussian likelihood), fantasy models included.
    """
    Xt = model.train_inputs[0]  # type: ignore[attr-defined]
    yt = model.train_targets  # type: ignore[attr-defined]
    with torch.no_grad():
        K = model.covar_module(Xt).to_dense()  # type: ignore[attr-defined]
        noise = model.likelihood.noise.reshape(-1)  # type: ignore[attr-defined]
        K = K + torch.diag_embed(noise.expand(len(Xt)))
        L, jitter = None, 0.0
        scale = float(K.diagonal().mean().abs()) or 1.0
        for jitter in (0.0, 1e-8, 1e-6, 1e-4):
            L, info = torch.linalg.cholesky_ex(K + jitter * scale * torch.eye(len(K),
                                                                             dtype=K.dtype))
            if int(info) == 0:
                break
        assert L is not None
        alpha = torch.cholesky_solve((yt - model.mean_module(Xt)).unsqueeze(-1), L)  # type: ignore[attr-defined]
        means, variances = [], []
        for i in range(0, len(X), CHUNK):
            Xc = X[i : i + CHUNK]
            Ks = model.covar_module(Xc, Xt).to_dense()  # type: ignore[attr-defined]
            mean = model.mean_module(Xc) + (Ks @ alpha).squeeze(-1)  # type: ignore[attr-defined]
            V = torch.linalg.solve_triangular(L, Ks.T, upper=False)
            prior = model.covar_module(Xc, diag=True)  # type: ignore[attr-defined]
            means.append(mean)
            variances.append((prior - (V * V).sum(0)).clamp_min(0.0))
        mean, var = torch.cat(means), torch.cat(variances)
        transform = getattr(model, "outcome_transform", None)
        if transform is not None:
            m, v = transform.untransform(mean.unsqueeze(-1), var.unsqueeze(-1))
            mean, var = m.squeeze(-1), v.squeeze(-1)
    return mean, var.clamp_min(0.0).sqrt()


def _marginals(
    problem: ParetoProblem, X: torch.Tensor, X_pending: torch.Tensor | None
) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """Per modelled objective, posterior mean and standard deviation at ``X`` given the
    pending points (believed at their mean)."""
    out: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    for model in problem.models:
        if model is None:
            out.append(None)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumericalWarning)
            out.append(posterior_marginals(condition_on_pending(model, X_pending), X))
    return out


def believed_pending(
    problem: ParetoProblem, X_pending: torch.Tensor | None
) -> torch.Tensor | None:
    """The pending points' outcomes believed at their posterior means (signed metrics)."""
    if X_pending is None or len(X_pending) == 0:
        return None
    assert problem.known_pending is not None
    out = problem.known_pending.clone()
    for j, (model, to_metric) in enumerate(zip(problem.models, problem.to_metric)):
        if model is not None:
            with torch.no_grad():
                out[:, j] = to_metric(model.posterior(X_pending).mean.reshape(-1))
    return out


@dataclass(frozen=True)
class EHVI(ParetoRule):
    r"""Expected hypervolume improvement over the pool, picks one by one.

    :math:`\mathrm{EHVI}(x) = \mathbb E[\mathrm{HVI}(y(x))]` under the independent GP
    posteriors of the modelled objectives, mapped to the metrics' own scale; known costs
    enter exactly. With one modelled objective the expectation is a deterministic
    quadrature on ``samples`` normal quantiles; with several, scrambled-Sobol draws.
    Pending points and earlier picks of the batch are believed at their posterior
    means: they join the front, and the GPs condition on them (variance shrinks near
    them), so a batch spreads along the front.

    Every ``ends``-th pick (counted over the campaign) instead extends the front at one
    of its ends, the objectives in turn. The gain beyond the front's best value
    :math:`b_j` of objective :math:`j`, for a candidate that also clears the reference
    point in the others, is in expectation

    .. math::

        g_j(x) = \mathbb E\big[(y_j - b_j)_+\big] \prod_{k \ne j} P(y_k > r_k)

    (on the GP's scale for a modelled objective, exact for a known one). At a known
    cost's end the turn takes the largest :math:`g_j` (the saving is exact); at a
    modelled objective's end, the largest gain under one joint posterior draw over the
    candidates of largest :math:`g_j` (Thompson sampling: the greedy choice sticks where
    the model is confidently wrong). The ends are thin slivers of hypervolume (the most
    accurate network; the cheapest one above the reference accuracy), so EHVI alone
    reaches them late, yet they are what a user asks the front for first. A turn with
    nothing to gain falls back to EHVI.

    Args:
        samples: Quadrature points (one modelled objective) or QMC draws (several).
        ends: Period of the turns at the front's ends; ``0`` never takes one. The
            default, 6, was chosen on costs of NAS-Bench-201's tables other than those
            its benchmark reports (FLOPs, Pixel-3 and Raspberry-Pi-4 latency, edge-GPU
            energy).
    """

    rule = "ehvi"
    preset = "gp-tw-ehvi"

    samples: int = 64
    ends: int = 6

    @classmethod
    def stored_defaults(cls, settings: dict[str, Any]) -> dict[str, Any]:
        # Stored before `ends` existed (every stored rule has `samples`): no turns.
        if "samples" in settings and "ends" not in settings:
            return {**settings, "ends": 0}
        return settings

    def __post_init__(self) -> None:
        check_int("samples", self.samples)
        if isinstance(self.ends, bool) or not isinstance(self.ends, int) or self.ends < 0:
            raise ValueError(f"ends: expected an integer >= 0, got {self.ends!r}")

    def select_pareto(
        self,
        problem: ParetoProblem,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        modelled = [j for j, m in enumerate(problem.models) if m is not None]
        dtype = X_pool.dtype
        if len(modelled) <= 1:
            z = _normal_grid(self.samples, dtype).unsqueeze(-1)  # S x 1
        else:
            engine = torch.quasirandom.SobolEngine(len(modelled), scramble=True,
                                                   seed=seed_from(generator))
            u = engine.draw(self.samples, dtype=dtype).clamp(1e-6, 1 - 1e-6)
            z = torch.special.ndtri(u)  # S x r
        picks: list[int] = []
        pending = X_pending
        front = problem.Y
        believed = believed_pending(problem, X_pending)
        if believed is not None:
            front = torch.cat([front, believed])
        for k in range(q):
            marg = _marginals(problem, X_pool, pending)
            values = self._end_turn(problem, marg, front, picks, X_pool, pending, generator,
                                    slot=problem.observed + k)  # observed counts pending
            if values is None:
                lower, upper = hypercells(front, problem.ref_point)
                values = torch.empty(len(X_pool), dtype=dtype)
                for i in range(0, len(X_pool), CHUNK // 8):
                    sl = slice(i, i + CHUNK // 8)
                    base = problem.known_pool[sl]  # b x m
                    y = base.unsqueeze(0).expand(z.shape[0], -1, -1).clone()  # S x b x m
                    for r, jj in enumerate(modelled):
                        mean, sd = marg[jj]  # type: ignore[misc]
                        f = mean[sl].unsqueeze(0) + sd[sl].unsqueeze(0) * z[:, r : r + 1]
                        y[..., jj] = problem.to_metric[jj](f)
                    values[sl] = hv_improvement(y, lower, upper).mean(dim=0)
            j = best_excluding(values, picks)
            picks.append(j)
            row = X_pool[j : j + 1]
            pending = row if pending is None else torch.cat([pending, row])
            # The pick joins the front at its believed outcome.
            front = torch.cat([front, _believed(problem, marg, j).unsqueeze(0)])
        return picks

    def _end_turn(
        self,
        problem: ParetoProblem,
        marg: list[tuple[torch.Tensor, torch.Tensor] | None],
        front: torch.Tensor,
        picks: list[int],
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        generator: torch.Generator,
        *,
        slot: int,
    ) -> torch.Tensor | None:
        """The values pick ``slot`` of the campaign ranks the pool by when it is a turn
        at an end with something to gain (`end_gain`, `_end_draw`); ``None`` otherwise."""
        if not self.ends or slot % self.ends != self.ends - 1:
            return None
        end = (slot // self.ends) % problem.m
        gain = end_gain(problem, marg, front, end)
        if not torch.isfinite(gain).any():
            return None
        values = _end_draw(problem, end, gain, front, picks, X_pool, X_pending, generator)
        return values if torch.isfinite(values).any() else None


def _believed(
    problem: ParetoProblem, marg: list[tuple[torch.Tensor, torch.Tensor] | None], j: int
) -> torch.Tensor:
    """Pool point ``j``'s outcome with each modelled objective at its posterior mean."""
    guess = problem.known_pool[j].clone()
    for k, mv in enumerate(marg):
        if mv is not None:
            guess[k] = problem.to_metric[k](mv[0][j : j + 1])[0]
    return guess


def _end_value(front: torch.Tensor, ref: torch.Tensor, end: int) -> torch.Tensor:
    """The front's best value of objective ``end`` among points above ``ref`` in every
    objective (``ref[end]`` when there are none)."""
    above = front[torch.isfinite(front).all(dim=-1)]
    above = above[(ref < above).all(dim=-1)]
    return above[:, end].max() if len(above) else ref[end]


def end_gain(
    problem: ParetoProblem,
    marg: list[tuple[torch.Tensor, torch.Tensor] | None],
    front: torch.Tensor,
    end: int,
) -> torch.Tensor:
    r"""Log of each pool point's expected gain beyond the front's end ``end``
    (`EHVI`'s ``ends``): :math:`\log \mathbb E[(y_j - b_j)_+] + \sum_{k \ne j} \log
    P(y_k > r_k)`, ``-inf`` where a known value rules the point out."""
    ref = problem.ref_point
    best = _end_value(front, ref, end)
    out = torch.zeros(len(problem.known_pool), dtype=torch.float64)
    for k in range(problem.m):
        bound = best if k == end else ref[k]
        mv = marg[k]
        if mv is None:
            v = problem.known_pool[:, k]
            if k == end:
                out = out + torch.log((v - bound).clamp_min(0.0))
            else:
                out = torch.where(v > bound, out, torch.full_like(out, -math.inf))
            continue
        mean, sd = mv
        sd = sd.clamp_min(1e-12)
        t, rising = _on_model_scale(problem.to_metric[k], float(bound), mean)
        u = (mean - t) / sd if rising else (t - mean) / sd
        if k == end:
            out = out + _log_ei_helper(u) + torch.log(sd)
        else:
            out = out + torch.special.log_ndtr(u)
    return out


#: A modelled end's turn draws jointly over this many candidates, those of largest
#: `end_gain`.
_END_DRAWS = 1000


def _end_draw(
    problem: ParetoProblem,
    end: int,
    gain: torch.Tensor,
    front: torch.Tensor,
    picks: list[int],
    X_pool: torch.Tensor,
    X_pending: torch.Tensor | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """The values an end's turn ranks the pool by. At a known objective's end (a cost)
    the expected gain itself, `end_gain`: the saving is exact, only clearing the
    reference is uncertain. At a modelled end, Thompson sampling: one joint draw of the
    modelled objectives over the candidates of largest expected gain, and each one's
    gain beyond the end under that draw (``-inf`` where it gains nothing, so a turn whose
    draw leaves the front as it is falls back to EHVI). The expected gain of a modelled
    objective is greedy, and sticks where the model is confidently wrong."""
    gain = gain.clone()
    if picks:
        gain[picks] = -math.inf
    if problem.models[end] is None:
        return gain
    finite = int(torch.isfinite(gain).sum())
    out = torch.full_like(gain, -math.inf)
    if finite == 0:
        return out
    cand = torch.topk(gain, min(_END_DRAWS, finite)).indices
    y = problem.known_pool[cand].clone()
    for k, model in enumerate(problem.models):
        if model is not None:
            draw = joint_draws(condition_on_pending(model, X_pending), X_pool[cand], 1,
                               generator)
            y[:, k] = problem.to_metric[k](draw[0])
    ref = problem.ref_point
    best = _end_value(front, ref, end)
    rest = [k for k in range(problem.m) if k != end]
    clear = (y[:, rest] > ref[rest]).all(dim=-1)
    extension = y[:, end] - best
    ok = clear & (extension > 0)
    out[cand[ok]] = extension[ok]
    return out


def _on_model_scale(
    to_metric: Callable[[torch.Tensor], torch.Tensor], bound: float, mean: torch.Tensor
) -> tuple[float, bool]:
    """The GP-scale value that ``to_metric`` (monotone) maps to ``bound``, by bisection,
    and whether the map rises; ``±inf`` when no value reaches ``bound``."""
    f = lambda z: float(to_metric(torch.tensor([z], dtype=torch.float64))[0])  # noqa: E731
    c = float(mean.mean()) if len(mean) else 0.0
    rising = f(c + 1.0) > f(c)
    below = (lambda z: f(z) < bound) if rising else (lambda z: f(z) > bound)
    lo, hi, step = c - 1.0, c + 1.0, 1.0
    for _ in range(60):
        if below(lo):
            break
        step *= 2
        lo = c - step
    else:
        return -math.inf, rising
    step = 1.0
    for _ in range(60):
        if not below(hi):
            break
        step *= 2
        hi = c + step
    else:
        return math.inf, rising
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if below(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi), rising


@dataclass(frozen=True)
class ParetoThompson(ParetoRule):
    r"""Thompson sampling on a random Chebyshev scalarisation, a fresh one per pick.

    Each pick draws the modelled objectives jointly over the pool (given the pending
    points, believed at their means) and weights :math:`\lambda` uniformly from the
    simplex, then takes the argmax of the augmented Chebyshev scalarisation of the
    normalised outcomes :math:`\bar y_k = (y_k - r_k) / (\max_i Y_{ik} - r_k)`:

    .. math::

        s_\lambda(y) = \min_k \lambda_k \bar y_k + \rho \sum_k \lambda_k \bar y_k .

    Cheap and diverse: a batch is ``q`` draws and ``q`` weights, no greedy loop.

    Args:
        max_candidates: Joint draws are over at most this many candidates, those with
            the largest hypervolume improvement at an optimistic outcome
            (:math:`\mu + 3\sigma` per modelled objective).
        rho: Weight :math:`\rho` of the linear term (ParEGO's 0.05).
    """

    rule = "pareto-ts"
    preset = "gp-tw-pareto-ts"

    max_candidates: int = 2000
    rho: float = 0.05

    def __post_init__(self) -> None:
        check_int("max_candidates", self.max_candidates)
        check_number("rho", self.rho)

    def select_pareto(
        self,
        problem: ParetoProblem,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        dtype = X_pool.dtype
        cand = torch.arange(len(X_pool))
        if len(X_pool) > self.max_candidates:
            marg = _marginals(problem, X_pool, X_pending)
            optimistic = problem.known_pool.clone()
            for j, mv in enumerate(marg):
                if mv is not None:
                    optimistic[:, j] = problem.to_metric[j](mv[0] + 3 * mv[1])
            lower, upper = hypercells(problem.Y, problem.ref_point)
            cand = torch.topk(hv_improvement(optimistic, lower, upper),
                              self.max_candidates).indices
        Xc = X_pool[cand]
        draws = problem.known_pool[cand].unsqueeze(0).repeat(q, 1, 1)  # q x M x m
        for j, model in enumerate(problem.models):
            if model is None:
                continue
            f = joint_draws(condition_on_pending(model, X_pending), Xc, q, generator)
            draws[..., j] = problem.to_metric[j](f)
        ref = problem.ref_point
        top = problem.Y.max(dim=0).values if len(problem.Y) else ref + 1.0
        scale = (top - ref).clamp_min(1e-9)
        picks: list[int] = []
        for k in range(q):
            w = -torch.log(torch.rand(problem.m, generator=generator, dtype=dtype))
            w = w / w.sum()  # uniform on the simplex
            ybar = (draws[k] - ref) / scale
            s = (w * ybar).min(dim=-1).values + self.rho * (w * ybar).sum(dim=-1)
            picks.append(best_excluding(s, picks))
        return [int(cand[i]) for i in picks]
